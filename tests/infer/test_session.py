"""Fit sessions: every stage of a fit in one checkpoint, resumed whole and bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyroclust.estimator import Clusterer
from pyroclust.exceptions import CheckpointError
from pyroclust.infer import FitSession, load_checkpoint
from pyroclust.infer import session as session_module
from pyroclust.infer.init import KMeansInit, RandomInit
from pyroclust.infer.session import SESSION_KIND, _decode, _encode


class Interrupted(KeyboardInterrupt):
    """Stands for a Ctrl-C in the middle of a stage."""


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _rows(est: Clusterer) -> list[tuple[str, int, float]]:
    return [(r["stage"], r["epoch"], r["elbo"]) for r in est.stage_history_]


def _est(model, guide, path, init=None) -> Clusterer:
    init = init or KMeansInit(pretrain_epochs=3, align_epochs=3, batch_size=16, n_init=2)
    return Clusterer(
        model,
        guide,
        epochs=3,
        batch_size=16,
        lr=5e-3,
        init=init,
        random_state=0,
        progress=False,
        checkpoint=path,
    )


@pytest.fixture
def proto(tiny_vade):
    """One prototype pair for every fit of a test (each fit trains deep copies)."""
    return tiny_vade()


@pytest.fixture
def full(proto, x_small, tmp_path) -> Clusterer:
    """The uninterrupted fit: 3 pretraining, 3 alignment and 3 SVI epochs."""
    return _est(*proto, tmp_path / "full.pt").fit(x_small)


def _crash_in(monkeypatch, stage: str, epoch: int) -> None:
    """Make the session's trainers raise a KeyboardInterrupt after ``epoch`` of ``stage``
    (before that epoch is checkpointed)."""

    class Crashing(session_module.SVITrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.stage == stage:

                def crash(trainer, done):
                    if done == epoch:
                        raise Interrupted

                self.callbacks.append(crash)

    monkeypatch.setattr(session_module, "SVITrainer", Crashing)


def _record_epochs(monkeypatch) -> list[tuple[str, int]]:
    """The (stage, epoch) of every epoch the session's trainers train from now on."""
    trained: list[tuple[str, int]] = []

    class Recording(session_module.SVITrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.callbacks.append(lambda trainer, done: trained.append((trainer.stage, done)))

    monkeypatch.setattr(session_module, "SVITrainer", Recording)
    return trained


@pytest.mark.parametrize("stage, epoch", [("pretrain", 2), ("align", 1), ("align", 3), ("svi", 2)])
def test_interrupted_fit_resumes_bit_identical(
    full, proto, x_small, tmp_path, monkeypatch, stage, epoch
) -> None:
    path = tmp_path / "run.pt"
    model, guide = proto
    with monkeypatch.context() as patch:
        _crash_in(patch, stage, epoch)
        with pytest.raises(Interrupted):
            _est(model, guide, path).fit(x_small)
    records = load_checkpoint(path, SESSION_KIND)["records"]
    if epoch > 1:  # epochs before the interrupted one are checkpointed
        assert records[-1]["name"] == stage and records[-1]["epoch"] == epoch - 1
    trained = _record_epochs(monkeypatch)
    resumed = _est(model, guide, path).fit(x_small, resume=True)
    _assert_same_state(resumed.model_, full.model_)
    _assert_same_state(resumed.guide_, full.guide_)
    np.testing.assert_array_equal(resumed.labels_, full.labels_)
    assert _rows(resumed) == _rows(full)
    order = ["pretrain"] * 3 + ["align"] * 3 + ["svi"] * 3
    assert [s for s, *_ in _rows(full)] == order
    # only what the checkpoint did not hold was trained again
    done = order.index(stage) + epoch - 1
    expected = [(s, e) for s, e, _ in _rows(full)][done:]
    assert trained == expected


def test_interrupted_start_step_resumes_bit_identical(full, proto, x_small, tmp_path) -> None:
    """A Ctrl-C while the start mixture is computed (after pretraining): the resumed fit
    skips pretraining and computes the start from the pretrained parameters."""

    class Interrupting(KMeansInit):
        def start_mixture(self, *args, **kwargs):
            raise Interrupted

    path = tmp_path / "run.pt"
    model, guide = proto
    crashing = Interrupting(pretrain_epochs=3, align_epochs=3, batch_size=16, n_init=2)
    with pytest.raises(Interrupted):
        _est(model, guide, path, init=crashing).fit(x_small)
    assert [r["name"] for r in load_checkpoint(path, SESSION_KIND)["records"]] == ["pretrain"]
    resumed = _est(model, guide, path).fit(x_small, resume=True)
    _assert_same_state(resumed.model_, full.model_)
    _assert_same_state(resumed.guide_, full.guide_)
    assert _rows(resumed) == _rows(full)


def test_resuming_a_finished_fit_changes_nothing(full, proto, x_small, tmp_path) -> None:
    again = _est(*proto, tmp_path / "full.pt").fit(x_small, resume=True)
    _assert_same_state(again.model_, full.model_)
    assert _rows(again) == _rows(full)


def test_resume_with_another_recipe_is_refused(full, tiny_vade, x_small, tmp_path) -> None:
    path = tmp_path / "full.pt"
    with pytest.raises(CheckpointError, match="another recipe"):
        _est(*tiny_vade(), path, init=RandomInit()).fit(x_small, resume=True)
    longer = KMeansInit(pretrain_epochs=5, align_epochs=3, batch_size=16, n_init=2)
    with pytest.raises(CheckpointError, match="'pretrain' stage ran 3 epochs, this fit asks for 5"):
        _est(*tiny_vade(), path, init=longer).fit(x_small, resume=True)


def test_a_user_strategy_runs_once_as_one_step(tiny_vade, x_small, tmp_path) -> None:
    calls = []

    def my_init(model, guide, x, *, random_state=None, progress=False):
        calls.append(len(x))

    path = tmp_path / "run.pt"
    _est(*tiny_vade(), path, init=my_init).fit(x_small)
    assert calls == [48]
    records = load_checkpoint(path, SESSION_KIND)["records"]
    assert [(r["name"], r["kind"]) for r in records] == [
        ("init", "step"),
        ("start-labels", "step"),
        ("svi", "train"),
    ]
    _est(*tiny_vade(), path, init=my_init).fit(x_small, resume=True)
    assert calls == [48]  # done: not run again


def test_step_results_come_back_as_they_were(tiny_vade, tmp_path) -> None:
    model, guide = tiny_vade()
    value = {
        "labels": np.array([2, 0, 1], dtype=np.int32),
        "pair": (1, 2.5),
        "codes": torch.arange(4.0),
        "names": ["a", None, True],
    }
    back = _decode(_encode(value))
    assert back["labels"].dtype == np.int32 and back["labels"].tolist() == [2, 0, 1]
    assert back["pair"] == (1, 2.5) and back["names"] == ["a", None, True]
    assert torch.equal(back["codes"], value["codes"])
    with pytest.raises(TypeError, match="a step's result must be"):
        _encode(object())

    path = tmp_path / "steps.pt"
    session = FitSession(model, guide, checkpoint=path, device="cpu")
    assert session.step("first", lambda: value)["pair"] == (1, 2.5)
    with pytest.raises(ValueError, match="already ran"):
        session.step("first", lambda: None)
    resumed = FitSession(model, guide, checkpoint=path, resume=True, device="cpu")
    again = resumed.step("first", lambda: pytest.fail("a done step runs again"))
    assert again["labels"].tolist() == [2, 0, 1] and again["pair"] == (1, 2.5)
    resumed.finish()


def test_finish_refuses_stages_left_out(tiny_vade, x_small, tmp_path) -> None:
    model, guide = tiny_vade()
    path = tmp_path / "s.pt"
    session = FitSession(model, guide, checkpoint=path, device="cpu")
    session.step("a", lambda: 1)
    session.step("b", lambda: 2)
    resumed = FitSession(model, guide, checkpoint=path, resume=True, device="cpu")
    assert resumed.step("a", lambda: 0) == 1
    with pytest.raises(CheckpointError, match=r"the stages \['b'\]"):
        resumed.finish()


def test_session_checkpoint_of_another_model_is_refused(tiny_vade, tmp_path) -> None:
    model, guide = tiny_vade()
    path = tmp_path / "s.pt"
    FitSession(model, guide, checkpoint=path, device="cpu").step("a", lambda: 1)
    with pytest.raises(CheckpointError, match="written for 'VaDE'"):
        FitSession(torch.nn.Linear(2, 2), guide, checkpoint=path, resume=True)
