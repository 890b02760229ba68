"""One SVI trainer for every model of the zoo."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pyro.infer import ELBO
from torch import nn
from tqdm.auto import tqdm

from pyroclust.exceptions import CheckpointError, NonFiniteLossError
from pyroclust.infer.checkpoint import load_checkpoint, save_checkpoint
from pyroclust.infer.elbo import local_params, make_elbo, seed_everything
from pyroclust.infer.schedules import Constant

TRAINER_KIND = "svi-trainer"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else is passed to torch."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available here")
    return device


@dataclass
class EarlyStopping:
    """Stop when the epoch ELBO has not improved by ``min_delta`` (per data point) for
    ``patience`` epochs; with ``restore_best`` the best parameters are put back."""

    patience: int = 10
    min_delta: float = 1e-3
    restore_best: bool = True


def _is_jit(elbo: Any) -> bool:
    """Whether ``elbo`` is one of Pyro's JIT-compiled ELBOs (``JitTraceEnum_ELBO``...)."""
    return type(elbo).__name__.startswith("Jit")


class _ParamSnapshot:
    """A copy of parameters kept in preallocated buffers (one fused copy per save)."""

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        self.params = list(params)
        self.buffers = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def save(self) -> None:
        torch._foreach_copy_(self.buffers, [p.detach() for p in self.params])

    @torch.no_grad()
    def restore(self) -> None:
        torch._foreach_copy_([p.data for p in self.params], self.buffers)


class SVITrainer:
    """Stochastic variational inference over mini-batches, for any model/guide pair.

    The data stay on the device; each epoch visits every row once in a random order. The loss
    is ``elbo.differentiable_loss(model, guide, batch, data_size=n)`` optimised with a torch
    optimiser, so any ``pyro.infer.ELBO`` works; by default the ELBO follows from the model
    (:func:`~pyroclust.infer.elbo.make_elbo`: ``TraceEnum_ELBO`` when a site is enumerated).

    Parameters
    ----------
    model, guide : callables
        A Pyro model and guide taking ``(x, data_size=...)``; their ``nn.Module`` parameters
        are trained.
    epochs : int
        Number of passes over the data.
    batch_size : int
    lr : float
        Base learning rate of Adam (or of ``optimizer``).
    lr_schedule : callable ``epoch -> multiplier``, optional
        See :mod:`pyroclust.infer.schedules`.
    optimizer : callable ``(params, lr) -> torch.optim.Optimizer``, optional
        ``torch.optim.Adam`` by default.
    clip_norm : float, optional
        Clip the gradient norm.
    elbo : pyro.infer.ELBO, optional
        Overrides the automatic choice.
    jit : bool
        Use the JIT-compiled ELBO (``JitTraceEnum_ELBO``) in the automatic choice: it removes
        Pyro's per-step tracing overhead (about 10 ms a step on CPU, see
        ``benchmarks/speed.py``). Each batch size compiles once. Compilation draws random
        numbers, so a resumed JIT run is not bit-identical to an uninterrupted one.
    early_stopping : EarlyStopping, optional
    device : "auto", "cpu", "cuda" or torch.device
    random_state : int, optional
        Seeds Pyro's sampling and the shuffling, so a run is repeatable on CPU.
    progress : bool
        Show a progress bar with the running ELBO.
    checkpoint : path, optional
        Write a checkpoint there every ``checkpoint_every`` epochs and at the end;
        :meth:`fit` with ``resume=True`` continues the same run from it.
    callbacks : sequence of callables ``(trainer, epoch) -> None``
        Called after every epoch (e.g. temperature annealing).

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``elbo`` (mean ELBO per data point), ``lr``, ``seconds``.
    epoch, step : int
        Epochs and optimiser steps completed.
    """

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        *,
        epochs: int = 100,
        batch_size: int = 256,
        lr: float = 1e-3,
        lr_schedule: Callable[[int], float] | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        clip_norm: float | None = None,
        elbo: ELBO | None = None,
        jit: bool = False,
        early_stopping: EarlyStopping | None = None,
        device: str | torch.device = "auto",
        random_state: int | None = None,
        progress: bool = True,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        callbacks: Sequence[Callable[[SVITrainer, int], None]] = (),
    ) -> None:
        if int(epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.model = model
        self.guide = guide
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.lr_schedule = lr_schedule or Constant()
        self.optimizer_factory = optimizer or torch.optim.Adam
        self.clip_norm = clip_norm
        self.elbo = elbo
        self.jit = jit
        self.early_stopping = early_stopping
        self.device = resolve_device(device)
        self.random_state = random_state
        self.progress = progress
        self.checkpoint = checkpoint
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.callbacks = list(callbacks)
        self.history: list[dict[str, float]] = []
        self.epoch = 0
        self.step = 0
        self.stopped_early = False
        self._optim: torch.optim.Optimizer | None = None
        self._sched: torch.optim.lr_scheduler.LambdaLR | None = None
        self._shuffle = torch.Generator()
        self._best: tuple[float, dict[str, Any]] | None = None
        self._bad_epochs = 0

    # ------------------------------------------------------------------ state
    def parameters(self) -> list[nn.Parameter]:
        """The trainable parameters of model and guide (each once)."""
        seen: dict[int, nn.Parameter] = {}
        for module in (self.model, self.guide):
            for p in module.parameters():
                if p.requires_grad:
                    seen.setdefault(id(p), p)
        return list(seen.values())

    def _setup(self, x: torch.Tensor) -> None:
        self.model.to(self.device)
        self.guide.to(self.device)
        probe = x[: min(len(x), self.batch_size)]
        if self.elbo is None:
            self.elbo = make_elbo(self.model, probe, data_size=len(x), jit=self.jit)
        # A JIT-compiled ELBO is traced for one batch shape (Pyro keys its cache on the number
        # of arguments, not their shapes) and binds the param store it first ran in: each fit
        # compiles fresh copies of it, one per batch size (the last batch may be smaller).
        # run model and guide once so lazily created parameters exist before the optimiser
        self._elbo_for(len(probe)).differentiable_loss(
            self.model, self.guide, probe, data_size=len(x)
        )
        self._optim = self.optimizer_factory(self.parameters(), lr=self.lr)
        self._sched = torch.optim.lr_scheduler.LambdaLR(self._optim, self.lr_schedule)

    def _elbo_for(self, batch_size: int) -> Any:
        """The ELBO for batches of this size: one compiled copy per size under JIT."""
        if not _is_jit(self.elbo):
            return self.elbo
        if batch_size not in self._elbos:
            fresh = copy.copy(self.elbo)
            vars(fresh).pop("_differentiable_loss", None)  # never share a compiled graph
            vars(fresh).pop("_loss_and_surrogate_loss", None)
            self._elbos[batch_size] = fresh
        return self._elbos[batch_size]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run: parameters, optimiser, RNG, history."""
        assert self._optim is not None and self._sched is not None
        state = {
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
            "optimizer": self._optim.state_dict(),
            "scheduler": {"last_epoch": self._sched.last_epoch},
            "epoch": self.epoch,
            "step": self.step,
            "history": [dict(row) for row in self.history],
            "rng_torch": torch.get_rng_state(),
            "rng_shuffle": self._shuffle.get_state(),
            "bad_epochs": self._bad_epochs,
            "best_elbo": None if self._best is None else self._best[0],
            "best_params": None if self._best is None else self._best[1],
        }
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (after :meth:`_setup`)."""
        assert self._optim is not None and self._sched is not None
        try:
            self.model.load_state_dict(state["model"])
            self.guide.load_state_dict(state["guide"])
            self._optim.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(
                "the checkpoint does not match this model and guide (another architecture or "
                f"other sizes): {str(err).splitlines()[0][:300]}"
            ) from err
        self._sched.last_epoch = int(state["scheduler"]["last_epoch"])
        for group, base_lr in zip(self._optim.param_groups, self._sched.base_lrs):
            group["lr"] = base_lr * self.lr_schedule(self._sched.last_epoch)
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.history = [dict(row) for row in state["history"]]
        torch.set_rng_state(state["rng_torch"])
        self._shuffle.set_state(state["rng_shuffle"])
        if "rng_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self._bad_epochs = int(state["bad_epochs"])
        if state["best_elbo"] is not None:
            best = state.get("best_params")
            # checkpoints without best_params (older ones) fall back to the current parameters
            self._best = (float(state["best_elbo"]), best if best else self._params_copy())

    def save(self, path: str | os.PathLike | None = None) -> None:
        """Write a checkpoint of the run (to ``path`` or the ``checkpoint`` given)."""
        path = path or self.checkpoint
        if path is None:
            raise ValueError("no checkpoint path given")
        save_checkpoint(
            path,
            TRAINER_KIND,
            {
                "model_class": type(self.model).__qualname__,
                "guide_class": type(self.guide).__qualname__,
                "state": self.state_dict(),
            },
        )

    def _params_copy(self) -> dict[str, Any]:
        return {
            "model": copy.deepcopy(self.model.state_dict()),
            "guide": copy.deepcopy(self.guide.state_dict()),
        }

    # ------------------------------------------------------------------ training
    def fit(self, x: torch.Tensor, *, resume: bool = False) -> SVITrainer:
        """Train on ``x`` of shape (n_samples, n_features); returns self.

        With ``resume=True`` and an existing ``checkpoint`` file, the run continues from it
        (parameters, optimiser, schedule, random state and history), so an interrupted fit
        ends where the uninterrupted one would have. Runs in a private Pyro param store
        (:func:`~pyroclust.infer.elbo.local_params`).
        """
        with local_params():
            return self._fit(x, resume=resume)

    def _fit(self, x: torch.Tensor, *, resume: bool) -> SVITrainer:
        x = x.to(self.device)
        n = len(x)
        if n == 0:
            raise ValueError("cannot train on empty data")
        self._elbos: dict[int, Any] = {}  # compiled ELBOs are bound to one fit's param store
        if self._optim is None:
            seed_everything(self.random_state)
            if self.random_state is not None:
                self._shuffle.manual_seed(int(self.random_state))
            else:
                self._shuffle.seed()
            self._setup(x)
        if resume and self.checkpoint is not None and os.path.exists(self.checkpoint):
            payload = load_checkpoint(self.checkpoint, TRAINER_KIND)
            for key, obj in (("model_class", self.model), ("guide_class", self.guide)):
                if payload.get(key) != type(obj).__qualname__:
                    raise CheckpointError(
                        f"the checkpoint was written for {payload.get(key)!r}, "
                        f"not {type(obj).__qualname__!r}"
                    )
            self.load_state_dict(payload["state"])

        steps_per_epoch = math.ceil(n / self.batch_size)
        params = self.parameters()
        snapshot = _ParamSnapshot(params)
        bar = tqdm(
            total=self.epochs * steps_per_epoch,
            initial=min(self.epoch, self.epochs) * steps_per_epoch,
            disable=not self.progress,
            desc=f"{type(self.model).__name__}",
            unit="step",
            dynamic_ncols=True,
        )
        max_norm = float(self.clip_norm) if self.clip_norm else math.inf
        try:
            while self.epoch < self.epochs and not self.stopped_early:
                t0 = time.perf_counter()
                order = torch.randperm(n, generator=self._shuffle).to(self.device)
                total = 0.0
                for i in range(steps_per_epoch):
                    idx = order[i * self.batch_size : (i + 1) * self.batch_size]
                    batch = x[idx]
                    elbo = self._elbo_for(len(idx))
                    loss = elbo.differentiable_loss(self.model, self.guide, batch, data_size=n)
                    self._optim.zero_grad(set_to_none=True)
                    loss.backward()
                    norm = nn.utils.clip_grad_norm_(params, max_norm)
                    loss_value, norm_value = torch.stack([loss.detach(), norm]).tolist()
                    if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                        snapshot.restore()
                        what = "loss" if not math.isfinite(loss_value) else "gradient"
                        raise NonFiniteLossError(
                            f"non-finite {what} ({loss_value if what == 'loss' else norm_value})"
                            f" at epoch {self.epoch + 1}, step {i + 1} of {steps_per_epoch} "
                            f"(global step {self.step + 1}); the last good parameters were "
                            "kept. Try a lower lr, clip_norm, or check the data.",
                            epoch=self.epoch + 1,
                            step=self.step + 1,
                        )
                    snapshot.save()
                    self._optim.step()
                    self.step += 1
                    total += loss_value * len(idx) / n
                    bar.update(1)
                    bar.set_postfix(
                        epoch=self.epoch + 1, elbo=f"{-loss_value / n:.4g}", refresh=False
                    )
                lr = self._optim.param_groups[0]["lr"]
                self._sched.step()
                self.epoch += 1
                elbo = -total / n
                self.history.append(
                    {
                        "epoch": self.epoch,
                        "elbo": elbo,
                        "lr": lr,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                self._early_stopping(elbo)
                for callback in self.callbacks:
                    callback(self, self.epoch)
                if self.checkpoint is not None and (
                    self.epoch % self.checkpoint_every == 0 or self.epoch == self.epochs
                ):
                    self.save()
        finally:
            bar.close()
        es = self.early_stopping
        if self.stopped_early and es is not None and es.restore_best and self._best is not None:
            self.model.load_state_dict(self._best[1]["model"])
            self.guide.load_state_dict(self._best[1]["guide"])
        return self

    def _early_stopping(self, elbo: float) -> None:
        es = self.early_stopping
        if es is None:
            return
        if self._best is None or elbo > self._best[0] + es.min_delta:
            self._best = (elbo, self._params_copy() if es.restore_best else {})
            self._bad_epochs = 0
        else:
            self._bad_epochs += 1
            if self._bad_epochs >= es.patience:
                self.stopped_early = True
