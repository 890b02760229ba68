"""Warm-up restarts chosen by the warm-up objective (no label): the fresh initialisation, the
objective per row, the choice, and a start that runs them as resumable stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust.datasets.streaming import sample_rows
from pyroclust.guides import VLACGuide
from pyroclust.infer.freebits import FreeBits
from pyroclust.infer.init import layerwise as layerwise_module
from pyroclust.infer.init.layerwise import LayerwiseStart
from pyroclust.infer.init.restarts import (
    best_restart,
    objective_per_row,
    reinitialise,
    restore,
    snapshot,
)
from pyroclust.infer.session import FitSession
from pyroclust.models import VLAC
from tests.conftest import blobs

N_FEATURES = 12


def _pair(seed: int = 0) -> tuple[VLAC, VLACGuide]:
    torch.manual_seed(seed)
    model = VLAC(N_FEATURES, [3, 1, 2], latent_dim=2, hidden=8, cluster="relaxed")
    return model, VLACGuide.for_model(model)


def _x(n: int = 30) -> torch.Tensor:
    return torch.as_tensor(blobs(n, N_FEATURES))


def _same(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> bool:
    return all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
        for x, y in zip(a, b, strict=True)
    )


class _Labels:
    """A clusterer that gives every site fixed labels (the start is not under test)."""

    def cluster_labels(self, features, k, random_state=None):
        return np.arange(len(features)) % k


def test_a_reinitialisation_draws_new_layers_by_its_seed_and_keeps_the_rest() -> None:
    model, guide = _pair()
    modules = [model, guide]
    initial = snapshot(modules)
    before = torch.random.get_rng_state()
    reinitialise(modules, initial, 5)
    assert torch.equal(torch.random.get_rng_state(), before)  # the global stream is kept
    first = snapshot(modules)
    reinitialise(modules, initial, 5)
    assert _same(snapshot(modules), first)  # the same seed draws the same values
    reinitialise(modules, initial, 6)
    assert not _same(snapshot(modules), first)
    state = model.state_dict()
    for name, value in initial[0].items():
        if name.startswith(("loc", "raw_scale")):  # component tables: no reset_parameters()
            torch.testing.assert_close(state[name], value, rtol=0, atol=0)
    layers = [n for n in initial[1] if n.endswith("weight")]
    assert layers and all(not torch.equal(guide.state_dict()[n], initial[1][n]) for n in layers)
    restore(modules, initial)
    assert _same(snapshot(modules), initial)
    with pytest.raises(ValueError, match="2 saved states for 1 modules"):
        restore([model], initial)


def test_the_objective_per_row_is_the_mean_over_a_seeded_choice_of_rows() -> None:
    model, guide = _pair()
    x = _x(30)

    def row_sums(model_, guide_, xb, *, data_size):  # a loss scaled to data_size rows
        return xb.double().sum() * data_size / len(xb)

    whole = objective_per_row(model, guide, x, row_sums, batch_size=7)
    assert whole == pytest.approx(float(x.double().sum(1).mean()), rel=1e-12)
    rows = sample_rows(30, 10, 3)
    part = objective_per_row(model, guide, x, row_sums, seed=3, rows=10)
    assert part == pytest.approx(float(x[torch.as_tensor(rows)].double().sum(1).mean()))


@pytest.mark.parametrize("loss", [None, FreeBits(1.0)])
def test_the_objective_is_repeatable_in_evaluation_mode_and_leaves_the_stream(loss) -> None:
    model, guide = _pair()
    x = _x(30)
    guide.train()
    before = torch.random.get_rng_state()
    a = objective_per_row(model, guide, x, loss, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert guide.training  # its mode restored
    assert objective_per_row(model, guide, x, loss, seed=1) == a
    assert np.isfinite(a) and a > 0  # a negative ELBO of Bernoulli pixels
    assert objective_per_row(model, guide, x, loss, seed=2) != a  # other draws


def test_the_best_restart_is_the_lowest_finite_objective() -> None:
    assert best_restart([3.0, 1.0, 2.0]) == 1
    assert best_restart([float("nan"), 2.0, float("-inf"), 1.5]) == 3
    with pytest.raises(ValueError, match="no warm-up restart"):
        best_restart([float("nan"), float("inf")])


def _start(**kwargs) -> LayerwiseStart:
    options = dict(warmup_epochs=3, align_epochs=0, batch_size=10, clusterer=_Labels())
    options.update(kwargs)
    return LayerwiseStart(**options)


def test_restarts_keep_the_lowest_objective_and_warm_it_up_for_the_epochs_left() -> None:
    x = _x(30)
    model, guide = _pair()
    session = FitSession(model, guide, random_state=0, device="cpu")
    start = _start(warmup_restarts=3, restart_epochs=2, warmup_loss=FreeBits(1.0))
    start(model, guide, x, random_state=0, session=session)
    names = [r["name"] for r in session.records]
    assert names == [
        "warmup-initial",
        "warmup-restart-0",
        "warmup-score-0",
        "warmup-reset-1",
        "warmup-restart-1",
        "warmup-score-1",
        "warmup-reset-2",
        "warmup-restart-2",
        "warmup-score-2",
        "warmup-choice",
        "warmup",
        "start",
    ]
    epochs = {r["name"]: r["epochs"] for r in session.records if r["kind"] == "train"}
    assert epochs == {
        "warmup-restart-0": 2,
        "warmup-restart-1": 2,
        "warmup-restart-2": 2,
        "warmup": 1,
    }
    choice = session.records[names.index("warmup-choice")]["result"]
    assert choice["chosen"] == int(np.argmin(choice["objectives"]))
    assert len(set(choice["objectives"])) == 3  # three different initialisations

    # with the restarts alone as the warm-up, the pair kept is the chosen restart's
    model, guide = _pair()
    session = FitSession(model, guide, random_state=0, device="cpu")
    start = _start(warmup_restarts=3, restart_epochs=3, warmup_loss=FreeBits(1.0))
    start(model, guide, x, random_state=0, session=session)
    names = [r["name"] for r in session.records]
    assert "warmup" not in names
    choice = session.records[names.index("warmup-choice")]["result"]
    kept = objective_per_row(model, guide, x, FreeBits(1.0), seed=0)
    assert kept == pytest.approx(min(choice["objectives"]), rel=1e-9)


def test_restarts_without_a_seed_of_their_own_take_the_sessions() -> None:
    x = _x(30)
    model, guide = _pair()
    session = FitSession(model, guide, random_state=3, device="cpu")
    _start(warmup_restarts=2, restart_epochs=1)(model, guide, x, session=session)
    assert session.trainers["warmup-restart-0"].random_state == 3  # as "warmup" would
    assert session.trainers["warmup-restart-1"].random_state not in (None, 3)


def test_one_restart_is_the_plain_warm_up() -> None:
    x = _x(30)
    runs = []
    for restarts in (None, 1):
        model, guide = _pair()
        session = FitSession(model, guide, random_state=0, device="cpu")
        start = _start() if restarts is None else _start(warmup_restarts=restarts)
        start(model, guide, x, random_state=0, session=session)
        assert [r["name"] for r in session.records] == ["warmup", "start"]
        runs.append(snapshot([model, guide]))
    assert _same(*runs)


def test_a_start_stopped_among_its_restarts_resumes_to_the_same_pair(tmp_path, monkeypatch) -> None:
    x = _x(30)
    start = _start(warmup_restarts=3, restart_epochs=1, plain_warmup=True)
    model, guide = _pair()
    whole = FitSession(model, guide, random_state=0, device="cpu")
    start(model, guide, x, random_state=0, session=whole)
    expected = snapshot([model, guide])

    path = tmp_path / "run.pt"
    calls = []
    scoring = layerwise_module.objective_per_row

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return scoring(*args, **kwargs)

    model, guide = _pair()
    with monkeypatch.context() as patch:
        patch.setattr(layerwise_module, "objective_per_row", interrupted)
        with pytest.raises(KeyboardInterrupt):
            session = FitSession(model, guide, checkpoint=path, random_state=0, device="cpu")
            start(model, guide, x, random_state=0, session=session)
    model, guide = _pair(seed=1)  # other values: the checkpoint restores them
    resumed = FitSession(model, guide, checkpoint=path, resume=True, random_state=0, device="cpu")
    start(model, guide, x, random_state=0, session=resumed)
    assert _same(snapshot([model, guide]), expected)
    assert [r["name"] for r in resumed.records] == [r["name"] for r in whole.records]


def test_restart_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="warmup_restarts must be >= 1"):
        LayerwiseStart(warmup_restarts=0)
    with pytest.raises(ValueError, match="restart_epochs must be >= 1"):
        LayerwiseStart(restart_epochs=0)
