"""The SVI trainer: resuming, non-finite losses, early stopping, schedules, output, devices."""

from __future__ import annotations

import copy
import math

import pyro
import pytest
import torch

from pyroclust import zoo
from pyroclust.exceptions import NonFiniteLossError
from pyroclust.infer import EarlyStopping, SVITrainer, load_checkpoint, resolve_device, schedules
from pyroclust.infer.graph import verified_torch
from pyroclust.infer.trainer import TRAINER_KIND


def _pair(seed: int = 0):
    pyro.set_rng_seed(seed)  # seed before constructing: the networks' initial values
    return zoo.make("vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,))


def _trainer(model, guide, **kwargs) -> SVITrainer:
    options = {"epochs": 4, "batch_size": 16, "lr": 1e-2, "random_state": 0, "progress": False}
    options.update(kwargs)
    return SVITrainer(model, guide, **options)


@pytest.fixture
def x(x_small) -> torch.Tensor:
    return torch.as_tensor(x_small)  # 48 rows: three steps per epoch


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


class Interrupted(Exception):
    """Stands for a crash or a Ctrl-C in the middle of a run."""


def test_interrupted_fit_resumes_bit_identical(tmp_path, x) -> None:
    schedule = schedules.StepDecay(every=1, factor=0.7)
    model, guide = _pair()
    full = _trainer(model, guide, epochs=3, lr_schedule=schedule).fit(x)

    def crash(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 2:
            raise Interrupted

    ckpt = tmp_path / "run.pt"
    first = _trainer(*_pair(), epochs=3, lr_schedule=schedule, checkpoint=ckpt, callbacks=[crash])
    with pytest.raises(Interrupted):
        first.fit(x)
    assert load_checkpoint(ckpt, TRAINER_KIND)["state"]["epoch"] == 1  # epoch 2 never saved

    # a fresh process: other initial values, which the checkpoint replaces
    model2, guide2 = _pair(seed=123)
    resumed = _trainer(model2, guide2, epochs=3, lr_schedule=schedule, checkpoint=ckpt)
    resumed.fit(x, resume=True)
    assert resumed.epoch == full.epoch == 3 and resumed.step == full.step == 9
    _assert_same_state(model2, model)
    _assert_same_state(guide2, guide)
    assert [r["elbo"] for r in resumed.history] == [r["elbo"] for r in full.history]
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in full.history]


def test_resume_without_checkpoint_file_starts_afresh(tmp_path, x) -> None:
    model, guide = _pair()
    a = _trainer(model, guide, epochs=2).fit(x)
    model2, guide2 = _pair()
    b = _trainer(model2, guide2, epochs=2, checkpoint=tmp_path / "absent.pt").fit(x, resume=True)
    _assert_same_state(model, model2)
    assert a.history[-1]["elbo"] == b.history[-1]["elbo"]
    assert (tmp_path / "absent.pt").is_file()  # and it is written at the end


def test_continuing_a_finished_run_trains_more_epochs(x) -> None:
    model, guide = _pair()
    trainer = _trainer(model, guide, epochs=1).fit(x)
    trainer.epochs = 2
    trainer.fit(x)
    assert trainer.epoch == 2 and len(trainer.history) == 2


NAN_WARNING = "ignore:Encountered NaN:UserWarning"  # Pyro's validation notices it too


@pytest.mark.filterwarnings(NAN_WARNING)
def test_non_finite_loss_stops_and_keeps_last_good_parameters(x) -> None:
    seen: list[list[torch.Tensor]] = []

    class RecordingAdam(torch.optim.Adam):
        """Adam that remembers the parameters at which each (finite) step was taken."""

        def step(self, closure=None):
            seen.append([p.detach().clone() for g in self.param_groups for p in g["params"]])
            return super().step(closure)

    def poison(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 1:  # the loss becomes NaN at the first step of epoch 2
            with torch.no_grad():
                trainer.model.decoder[0].weight.fill_(math.nan)

    model, guide = _pair()
    trainer = _trainer(model, guide, optimizer=RecordingAdam, callbacks=[poison])
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 1 of 3 \(global step 4\)") as info:
        trainer.fit(x)
    assert (info.value.epoch, info.value.step) == (2, 4)
    assert "last good parameters were kept" in str(info.value)
    assert trainer.epoch == 1 and trainer.step == 3 and len(trainer.history) == 1
    params = [p for g in trainer._optim.param_groups for p in g["params"]]
    assert all(torch.isfinite(p).all() for p in params)
    # the parameters are those of the last step whose loss was finite
    assert len(seen) == 3
    for p, kept in zip(params, seen[-1]):
        assert torch.equal(p.detach(), kept)


@pytest.mark.filterwarnings(NAN_WARNING)
def test_non_finite_loss_through_the_estimator(x) -> None:
    from pyroclust.estimator import Clusterer
    from pyroclust.infer.init import RandomInit

    model, guide = _pair()
    with torch.no_grad():
        model.components.loc = torch.full((3, 2), math.inf)
    est = Clusterer(model, guide, epochs=1, init=RandomInit(), progress=False)
    with pytest.raises(NonFiniteLossError, match="non-finite"):
        est.fit(x)


def test_early_stopping_stops_and_restores_best(x) -> None:
    states: dict[int, dict[str, torch.Tensor]] = {}

    def record(trainer: SVITrainer, epoch: int) -> None:
        states[epoch] = copy.deepcopy(trainer.model.state_dict())

    # min_delta so large that no epoch after the first counts as an improvement
    stop = EarlyStopping(patience=2, min_delta=1e9)
    model, guide = _pair()
    trainer = _trainer(model, guide, epochs=10, early_stopping=stop, callbacks=[record]).fit(x)
    assert trainer.stopped_early and trainer.epoch == 3 and len(trainer.history) == 3
    for key, value in model.state_dict().items():
        assert torch.equal(value, states[1][key]), key
    assert not all(torch.equal(v, states[3][k]) for k, v in model.state_dict().items())

    keep_last = EarlyStopping(patience=2, min_delta=1e9, restore_best=False)
    model, guide = _pair()
    states.clear()
    _trainer(model, guide, epochs=10, early_stopping=keep_last, callbacks=[record]).fit(x)
    for key, value in model.state_dict().items():
        assert torch.equal(value, states[3][key]), key


def test_no_early_stop_while_improving(x) -> None:
    trainer = _trainer(*_pair(), epochs=3, early_stopping=EarlyStopping(patience=1, min_delta=-1e9))
    trainer.fit(x)
    assert not trainer.stopped_early and trainer.epoch == 3


def test_lr_schedule_is_applied(x) -> None:
    trainer = _trainer(*_pair(), epochs=3, lr=0.01, lr_schedule=schedules.StepDecay(1, 0.5))
    trainer.fit(x)
    assert [row["lr"] for row in trainer.history] == pytest.approx([0.01, 0.005, 0.0025])
    assert trainer._optim.param_groups[0]["lr"] == pytest.approx(0.00125)


def test_history_rows(x) -> None:
    trainer = _trainer(*_pair(), epochs=2).fit(x)
    assert [row["epoch"] for row in trainer.history] == [1, 2]
    for row in trainer.history:
        assert set(row) == {"epoch", "elbo", "lr", "seconds"}
        assert math.isfinite(row["elbo"]) and row["seconds"] >= 0


def test_progress_false_prints_nothing(capfd, x) -> None:
    _trainer(*_pair(), epochs=1, progress=False).fit(x)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    _trainer(*_pair(), epochs=1, progress=True).fit(x)
    out, err = capfd.readouterr()
    assert "VaDE" in out + err  # the bar is there when asked for


def test_device_resolution() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        _trainer(*_pair(), device="cuda")
    assert _trainer(*_pair()).device == torch.device("cpu")


@pytest.mark.parametrize(
    "kwargs, message",
    [({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"lr": 0.0}, "lr")],
)
def test_rejects_bad_settings(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _trainer(*_pair(), **kwargs)


def test_rejects_empty_data() -> None:
    with pytest.raises(ValueError, match="empty"):
        _trainer(*_pair()).fit(torch.zeros(0, 12))


def test_training_leaves_the_users_param_store_alone(x) -> None:
    pyro.param("users_own", torch.tensor(1.0))
    _trainer(*_pair(), epochs=1).fit(x)
    assert set(pyro.get_param_store().keys()) == {"users_own"}


def test_resumed_early_stopping_restores_the_true_best(tmp_path, x) -> None:
    """The best parameters travel in the checkpoint: a resumed run that stops early restores
    the same parameters as the uninterrupted one."""
    stop = EarlyStopping(patience=3, min_delta=1e9)  # best at epoch 1, stop after epoch 4
    model, guide = _pair()
    full = _trainer(model, guide, epochs=10, early_stopping=stop).fit(x)
    assert full.stopped_early and full.epoch == 4

    def crash(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 3:
            raise Interrupted

    ckpt = tmp_path / "run.pt"
    first = _trainer(*_pair(), epochs=10, early_stopping=stop, checkpoint=ckpt, callbacks=[crash])
    with pytest.raises(Interrupted):
        first.fit(x)
    model2, guide2 = _pair(seed=5)
    resumed = _trainer(model2, guide2, epochs=10, early_stopping=stop, checkpoint=ckpt)
    resumed.fit(x, resume=True)
    assert resumed.stopped_early and resumed.epoch == 4
    _assert_same_state(model2, model)
    _assert_same_state(guide2, guide)


def test_non_finite_gradient_stops(x) -> None:
    def poison_gradient(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 1:
            trainer.model.decoder[0].weight.register_hook(lambda g: g * math.nan)

    trainer = _trainer(*_pair(), callbacks=[poison_gradient])
    with pytest.raises(NonFiniteLossError, match=r"non-finite gradient \(nan\) at epoch 2"):
        trainer.fit(x)
    params = [p for g in trainer._optim.param_groups for p in g["params"]]
    assert all(torch.isfinite(p).all() for p in params)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:.*torch.jit.trace.* is deprecated:DeprecationWarning")
def test_jit_training_compiles_each_batch_size_and_matches_the_plain_elbo(x) -> None:
    from pyro.infer import JitTraceEnum_ELBO

    plain = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1)
    compared = []

    def compare(trainer: SVITrainer, epoch: int) -> None:
        # inside the fit (its param store): each compiled ELBO equals the plain one
        for size, elbo in trainer._elbos.items():
            batch = x[:size]
            pyro.set_rng_seed(1)
            compiled = elbo.differentiable_loss(trainer.model, trainer.guide, batch, data_size=48)
            pyro.set_rng_seed(1)
            reference = plain.differentiable_loss(trainer.model, trainer.guide, batch, data_size=48)
            torch.testing.assert_close(compiled, reference, rtol=1e-5, atol=1e-4)
            compared.append(size)

    model, guide = _pair()
    trainer = _trainer(model, guide, jit=True, batch_size=20, epochs=2, callbacks=[compare])
    trainer.fit(x)  # batches of 20, 20 and 8
    assert all(math.isfinite(row["elbo"]) for row in trainer.history)
    assert sorted(trainer._elbos) == [8, 20]
    assert all(isinstance(e, JitTraceEnum_ELBO) for e in trainer._elbos.values())
    assert sorted(compared) == [8, 8, 20, 20]
    trainer.epochs = 3  # continuing compiles afresh in the new fit's param store
    trainer.fit(x)
    assert len(trainer.history) == 3 and math.isfinite(trainer.history[-1]["elbo"])


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:.*torch.jit.trace.* is deprecated:DeprecationWarning")
def test_jit_elbo_gradients_equal_the_plain_elbo(x) -> None:
    # the fast path (jit=True) must give TraceEnum_ELBO's loss and gradients, same noise
    model, guide = _pair()
    trainer = _trainer(model, guide, jit=True, batch_size=16, epochs=1)
    grads = {}

    def compare(trainer: SVITrainer, epoch: int) -> None:
        params = trainer.parameters()
        for name, elbo in (
            ("jit", trainer._elbos[16]),
            ("plain", pyro.infer.TraceEnum_ELBO(max_plate_nesting=1)),
        ):
            pyro.set_rng_seed(3)
            loss = elbo.differentiable_loss(trainer.model, trainer.guide, x[:16], data_size=48)
            grads[name] = (loss.detach(), torch.autograd.grad(loss, params))

    trainer.callbacks.append(compare)
    trainer.fit(x)
    (jit_loss, jit_grads), (loss, reference) = grads["jit"], grads["plain"]
    torch.testing.assert_close(jit_loss, loss, rtol=1e-5, atol=1e-4)
    assert len(jit_grads) == len(reference) > 0
    for got, want in zip(jit_grads, reference):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_default_fused_adam_equals_the_per_parameter_loop(x) -> None:
    from pyroclust.infer.trainer import default_optimizer

    fused = _trainer(*_pair(), epochs=2).fit(x)
    loop = _trainer(*_pair(), epochs=2, optimizer=torch.optim.Adam).fit(x)
    assert fused.optimizer_factory is default_optimizer
    assert fused._optim.param_groups[0]["fused"] is True
    for a, b in ((fused.model, loop.model), (fused.guide, loop.guide)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_default_optimizer_falls_back_to_foreach_without_a_fused_kernel() -> None:
    from pyroclust.infer.trainer import default_optimizer

    for odd in (torch.zeros(3, device="meta"), torch.zeros(3, dtype=torch.complex64)):
        optim = default_optimizer([torch.nn.Parameter(torch.zeros(2)), odd], lr=1e-3)
        assert optim.param_groups[0]["foreach"] is True and not optim.param_groups[0]["fused"]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:.*torch.jit.trace.* is deprecated:DeprecationWarning")
def test_interrupted_jit_fit_resumes_bit_identical(tmp_path, x) -> None:
    # compiling draws random numbers on a forked stream: the resumed run, which compiles
    # afresh, draws what the uninterrupted one drew
    model, guide = _pair()
    full = _trainer(model, guide, epochs=3, jit=True, batch_size=20).fit(x)

    def crash(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 2:
            raise Interrupted

    ckpt = tmp_path / "run.pt"
    first = _trainer(*_pair(), epochs=3, jit=True, batch_size=20, checkpoint=ckpt)
    first.callbacks.append(crash)
    with pytest.raises(Interrupted):
        first.fit(x)
    model2, guide2 = _pair(seed=123)
    resumed = _trainer(model2, guide2, epochs=3, jit=True, batch_size=20, checkpoint=ckpt)
    resumed.fit(x, resume=True)
    _assert_same_state(model2, model)
    _assert_same_state(guide2, guide)
    assert [r["elbo"] for r in resumed.history] == [r["elbo"] for r in full.history]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:.*torch.jit.trace.* is deprecated:DeprecationWarning")
def test_jit_fit_draws_the_noise_of_the_plain_fit(x) -> None:
    # the same random numbers as without JIT: the two runs agree to float tolerance
    jitted = _trainer(*_pair(), epochs=2, jit=True).fit(x)
    plain = _trainer(*_pair(), epochs=2).fit(x)
    for a, b in zip(jitted.history, plain.history, strict=True):
        assert a["elbo"] == pytest.approx(b["elbo"], rel=1e-4)


@pytest.mark.parametrize(
    "jit",
    [
        False,
        pytest.param(
            "fx", marks=pytest.mark.skipif(not verified_torch(), reason="graph refused here")
        ),
    ],
)
def test_a_fit_of_zero_epochs_leaves_batchnorm_statistics_as_they_were(x, jit) -> None:
    # choosing the ELBO, creating lazy parameters and tracing run model and guide on a
    # probe batch in training mode: none of those runs may move the running statistics
    pyro.set_rng_seed(0)
    model, guide = zoo.make("gmvae", 12, n_components=3)
    before = {k: v.clone() for k, v in (*model.state_dict().items(), *guide.state_dict().items())}
    assert any("running_mean" in k for k in before)
    _trainer(model, guide, epochs=0, jit=jit).fit(x)
    after = {**model.state_dict(), **guide.state_dict()}
    for key, value in before.items():
        if "running" in key or "num_batches" in key:
            assert torch.equal(after[key], value), key
    # one epoch does move them
    _trainer(model, guide, epochs=1, jit=jit).fit(x)
    moved = {**model.state_dict(), **guide.state_dict()}
    assert any(not torch.equal(moved[k], v) for k, v in before.items() if "running_mean" in k)
