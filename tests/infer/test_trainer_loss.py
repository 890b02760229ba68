"""The trainer with any loss: callables, tuple data, parameter subsets, stages, and the
non-finite safety net for errors Pyro's validation raises inside the loss."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from pyro.infer import TraceEnum_ELBO
from torch import nn

from pyroclust import zoo
from pyroclust.exceptions import NonFiniteLossError
from pyroclust.infer import SVITrainer, load_checkpoint
from pyroclust.infer.elbo import local_params
from pyroclust.infer.trainer import TRAINER_KIND, as_batches


def _pair(seed: int = 0):
    pyro.set_rng_seed(seed)
    return zoo.make("vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,))


@pytest.fixture
def x(x_small) -> torch.Tensor:
    return torch.as_tensor(x_small)


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _regression_loss(model, guide, xb, yb, *, data_size):
    """Squared error of a linear model, a mean over the batch scaled to the data set."""
    return ((model(xb).squeeze(-1) - yb) ** 2).mean() * data_size


def test_loss_callable_on_tuple_data_fits_least_squares() -> None:
    torch.manual_seed(0)
    xs = torch.randn(64, 3)
    ys = xs @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model, guide = nn.Linear(3, 1), nn.Linear(1, 1)
    guide_before = {k: v.clone() for k, v in guide.state_dict().items()}
    trainer = SVITrainer(
        model,
        guide,
        loss=_regression_loss,
        params=[model],
        epochs=150,
        batch_size=16,
        lr=0.05,
        random_state=0,
        progress=False,
        stage="regression",
    )
    trainer.fit((xs, ys))
    # rows stay aligned across the shuffle: the exact relation is recovered
    torch.testing.assert_close(
        model.weight.detach(), torch.tensor([[1.0, -2.0, 0.5]]), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(model.bias.detach(), torch.tensor([0.3]), atol=1e-3, rtol=0)
    assert -trainer.history[-1]["elbo"] < 1e-5  # minus the mean loss per row
    # only params= are trained
    for key, value in guide.state_dict().items():
        assert torch.equal(value, guide_before[key])
    assert trainer.parameters() == [model.weight, model.bias]


def test_loss_callable_sees_each_batch_once_per_epoch(x) -> None:
    seen: list[torch.Tensor] = []
    index = torch.arange(len(x))

    def loss(model, guide, xb, ib, *, data_size):
        assert data_size == len(x)
        assert torch.equal(xb, x[ib])  # the tensors of a tuple are batched together
        seen.append(ib.clone())
        loc, _ = guide.encode(xb)
        return -model.likelihood.log_prob(model.decoder(loc), xb).mean() * data_size

    model, guide = _pair()
    trainer = SVITrainer(
        model, guide, loss=loss, epochs=2, batch_size=20, random_state=0, progress=False
    )
    trainer.fit((x, index))
    probe, batches = seen[0], seen[1:]  # the first call only creates lazy parameters
    assert len(probe) == 20 and len(batches) == 6
    for epoch in (batches[:3], batches[3:]):
        assert sorted(torch.cat(epoch).tolist()) == list(range(len(x)))


def test_an_elbo_as_loss_is_used_through_differentiable_loss(x) -> None:
    calls = []

    class Counting(TraceEnum_ELBO):
        def differentiable_loss(self, model, guide, *args, **kwargs):
            calls.append(kwargs["data_size"])
            return super().differentiable_loss(model, guide, *args, **kwargs)

    elbo = Counting(max_plate_nesting=1)
    trainer = SVITrainer(*_pair(), loss=elbo, epochs=2, batch_size=16, progress=False)
    trainer.fit(x)
    assert trainer.elbo is elbo and trainer.loss_fn is None
    assert calls == [len(x)] * (1 + 2 * 3)  # the probe, then three steps an epoch
    assert all(math.isfinite(r["elbo"]) for r in trainer.history)


def test_num_particles_reaches_the_automatic_elbo(x) -> None:
    trainer = SVITrainer(*_pair(), epochs=1, num_particles=3, progress=False)
    trainer.fit(x)
    assert trainer.elbo.num_particles == 3


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"loss": TraceEnum_ELBO(), "elbo": TraceEnum_ELBO()}, ValueError, "not both"),
        ({"loss": "elbo"}, TypeError, "loss must be"),
        ({"num_particles": 0}, ValueError, "num_particles"),
    ],
)
def test_rejects_bad_objectives(kwargs, error, message: str) -> None:
    with pytest.raises(error, match=message):
        SVITrainer(*_pair(), **kwargs)


def test_tuple_data_must_be_row_aligned(x) -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        as_batches((x, torch.zeros(len(x) - 1)))
    with pytest.raises(TypeError, match="tuple of row-aligned tensors"):
        as_batches(())


def test_stage_in_progress_bar_and_checkpoint(tmp_path, capfd, x) -> None:
    path = tmp_path / "stage.pt"
    trainer = SVITrainer(
        *_pair(), epochs=1, batch_size=16, stage="align", checkpoint=path, progress=True
    )
    trainer.fit(x)
    _, err = capfd.readouterr()
    assert "VaDE align" in err
    payload = load_checkpoint(path, TRAINER_KIND)
    assert payload["stage"] == payload["state"]["stage"] == "align"
    other = SVITrainer(*_pair(), epochs=2, batch_size=16, checkpoint=path, progress=False)
    with pytest.raises(Exception, match="holds the 'align' stage, not 'svi'"):
        other.fit(x, resume=True)


def test_progress_bar_shows_the_running_mean_per_row(capfd, x) -> None:
    """The bar's value at the end of an epoch is the epoch's mean loss per row (not a sum
    that climbs within the epoch)."""
    import re

    from pyroclust.infer.init import reconstruction_loss

    model, guide = _pair()
    trainer = SVITrainer(
        model,
        guide,
        loss=reconstruction_loss(),
        params=[*guide.parameters(), *model.decoder.parameters()],
        epochs=1,
        batch_size=16,
        stage="pretrain",
        progress=True,
    )
    trainer.fit(x)
    _, err = capfd.readouterr()
    shown = [float(v) for v in re.findall(r"loss=([-0-9.e+]+)", err)]
    assert shown and shown[-1] == pytest.approx(-trainer.history[-1]["elbo"], rel=1e-3)
    assert 0 < shown[-1] < 20  # a per-row binary cross-entropy of 12 features, not a sum


@pytest.mark.filterwarnings("ignore:Encountered NaN:UserWarning")
def test_non_finite_message_names_the_stage(x) -> None:
    def poison(trainer: SVITrainer, epoch: int) -> None:
        with torch.no_grad():
            trainer.model.decoder[0].weight.fill_(math.nan)

    trainer = SVITrainer(
        *_pair(), epochs=3, batch_size=16, stage="pretrain", callbacks=[poison], progress=False
    )
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(x)
    message = str(info.value)
    assert message.startswith("pretrain stage: non-finite")
    assert "at epoch 2, step 1 of 3 (global step 4)" in message and "\n" not in message
    assert info.value.stage == "pretrain"


def test_a_huge_learning_rate_stops_cleanly_and_checkpoints(tmp_path, x) -> None:
    """Pyro's validation raises ValueError inside the loss once the parameters diverge; the
    trainer turns it into NonFiniteLossError, with the last good parameters kept and saved."""
    path = tmp_path / "run.pt"
    model, guide = _pair()
    trainer = SVITrainer(
        model, guide, epochs=5, batch_size=16, lr=1e6, checkpoint=path, progress=False
    )
    with pytest.raises(
        NonFiniteLossError, match=r"svi stage: non-finite .* at epoch 1, step 2"
    ) as info:
        trainer.fit(x)
    assert isinstance(info.value.__cause__, ValueError)
    assert f"saved to {path}" in str(info.value)
    assert all(torch.isfinite(p).all() for p in trainer.parameters())
    state = load_checkpoint(path, TRAINER_KIND)["state"]
    for key, value in model.state_dict().items():
        assert torch.equal(state["model"][key], value), key
    # the losses at the kept parameters are finite
    with local_params():
        assert torch.isfinite(trainer._batch_loss((x[:16],), len(x)))


def test_other_value_errors_are_not_taken_for_divergence(x) -> None:
    def broken(model, guide, xb, *, data_size):
        raise ValueError("a bug in the loss")

    trainer = SVITrainer(*_pair(), loss=broken, epochs=1, progress=False)
    with pytest.raises(ValueError, match="a bug in the loss") as info:
        trainer.fit(x)
    assert not isinstance(info.value, NonFiniteLossError)


def test_stopped_early_travels_in_the_state(x) -> None:
    from pyroclust.infer import EarlyStopping

    trainer = SVITrainer(
        *_pair(),
        epochs=10,
        batch_size=16,
        early_stopping=EarlyStopping(patience=1, min_delta=1e9),
        progress=False,
    )
    trainer.fit(x)
    assert trainer.stopped_early and trainer.state_dict()["stopped_early"] is True
    again = SVITrainer(
        *_pair(),
        epochs=10,
        batch_size=16,
        early_stopping=EarlyStopping(patience=1, min_delta=1e9),
        progress=False,
    )
    again.fit(x, state=trainer.state_dict())
    assert again.stopped_early and again.epoch == trainer.epoch == 2


def test_a_loss_that_is_non_finite_from_the_start_names_it(x) -> None:
    """A ValueError from Pyro's validation in the very first evaluation (before any step)
    is a NonFiniteLossError too, with nothing to restore."""
    model, guide = _pair()
    with torch.no_grad():
        guide.loc_head.bias.fill_(math.nan)
    trainer = SVITrainer(model, guide, epochs=1, progress=False)
    with pytest.raises(
        NonFiniteLossError, match=r"^svi stage: non-finite .* before the first step"
    ):
        trainer.fit(x)


def test_a_one_row_last_batch_joins_the_one_before() -> None:
    """n = 2 * batch + 1: two steps per epoch (8 and 9 rows), every row seen once, so a model
    with BatchNorm trains (a one-row batch fails in training mode)."""
    from torch import nn as tnn

    from pyroclust.infer import SVITrainer

    seen: list[int] = []

    def loss(model, guide, xb, data_size):
        seen.append(len(xb))
        return model(xb).pow(2).mean() * data_size

    model = tnn.Sequential(tnn.Linear(3, 4), tnn.BatchNorm1d(4))
    x = torch.randn(17, 3)
    SVITrainer(model, tnn.Module(), loss=loss, epochs=2, batch_size=8, progress=False).fit(x)
    assert seen[-4:] == [8, 9, 8, 9]


@pytest.mark.parametrize("validate", [False, True])
def test_pyros_value_checks_run_in_steps_only_when_asked(x, validate: bool) -> None:
    """Steps run without Pyro's value checks unless ``validate``; the probe (first batch)
    keeps Pyro's own setting, and the global setting is left as it was."""
    seen: list[bool] = []
    elbo = TraceEnum_ELBO(max_plate_nesting=1)

    def loss(model, guide, *batch, data_size):
        seen.append(pyro.infer.util.is_validation_enabled())
        return elbo.differentiable_loss(model, guide, *batch, data_size=data_size)

    before = pyro.infer.util.is_validation_enabled()
    SVITrainer(*_pair(), loss=loss, epochs=1, batch_size=16, progress=False, validate=validate).fit(
        x
    )
    assert pyro.infer.util.is_validation_enabled() == before
    assert seen[0] == before  # the probe
    assert seen[1:] and all(flag == (validate and before) for flag in seen[1:])


def test_a_non_finite_step_is_named_by_a_checked_rerun(x) -> None:
    """With the checks off in steps, a NaN parameter makes the loss NaN; the trainer runs the
    step again with them on and names the culprit, with Pyro's error as the cause."""
    model, guide = _pair()
    calls = {"n": 0}
    elbo = TraceEnum_ELBO(max_plate_nesting=1)

    def loss(model_, guide_, *batch, data_size):
        calls["n"] += 1
        if calls["n"] == 3:  # after the probe and one good step: a parameter goes NaN
            with torch.no_grad():
                next(iter(guide_.parameters())).fill_(float("nan"))
        return elbo.differentiable_loss(model_, guide_, *batch, data_size=data_size)

    trainer = SVITrainer(model, guide, loss=loss, epochs=1, batch_size=16, progress=False)
    with pytest.raises(NonFiniteLossError, match=r"svi stage: non-finite parameters at epoch 1"):
        trainer.fit(x)
    assert all(torch.isfinite(p).all() for p in trainer.parameters())
