"""One SVI trainer for every model of the zoo, and for every training stage of a fit.

Pretraining, pseudo-label alignment and free SVI all run through :class:`SVITrainer`: one
place for devices, mini-batches, progress bars, non-finite checks, checkpoints and resuming.
The objective is a Pyro ELBO or any loss callable ``(model, guide, *batch, data_size=n)``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyro
import torch
from pyro.infer import ELBO
from torch import nn

from pyroclust.exceptions import CheckpointError, NonFiniteLossError
from pyroclust.infer import distributed
from pyroclust.infer.batching import InMemory, Streamed
from pyroclust.infer.buffers import kept_buffers
from pyroclust.infer.checkpoint import load_checkpoint, save_checkpoint
from pyroclust.infer.elbo import local_params, make_elbo, rng_devices, seed_everything
from pyroclust.infer.progress import progress_bar
from pyroclust.infer.schedules import Constant

TRAINER_KIND = "svi-trainer"
DEFAULT_STAGE = "svi"

#: A loss callable: ``loss(model, guide, *batch, data_size=n) -> scalar tensor``, the loss of
#: the whole data set estimated from the batch (as Pyro scales a subsampled plate), so that
#: ``loss / n`` is the mean loss per data point.
LossFn = Callable[..., torch.Tensor]


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


def default_optimizer(params: Iterable[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """Adam with torch's fused kernel: the same update as the per-parameter loop, in one
    kernel over all parameters (paper networks on one CPU thread, batch 256: a 126 ms step
    becomes 111 ms against plain PyTorch's 105; the stacked parameters of k-DVAE's 50
    networks take 33 ms per update instead of 197 with the multi-tensor ``foreach`` kernels;
    ``benchmarks/speed.py``, ``benchmarks/kdvae.py``). Parameters on a device or of a dtype
    without the fused kernel get the ``foreach`` kernels instead."""
    params = list(params)
    if all(_has_fused_adam(p) for p in params):
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=True)


#: Devices with torch's fused Adam kernel (for real floating-point parameters).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def _has_fused_adam(param: torch.Tensor) -> bool:
    return param.is_floating_point() and param.device.type in FUSED_ADAM_DEVICES


def _is_jit(elbo: Any) -> bool:
    """Whether ``elbo`` is one of Pyro's JIT-compiled ELBOs (``JitTraceEnum_ELBO``...)."""
    return type(elbo).__name__.startswith("Jit")


def auto_elbo(
    model: Callable[..., Any],
    guide: Callable[..., Any],
    *args: Any,
    jit: bool | str = False,
    num_particles: int = 1,
    **kwargs: Any,
) -> ELBO:
    """The objective :func:`~pyroclust.infer.elbo.make_elbo` chooses for this model and
    guide, traced at the example call ``args``/``kwargs`` (it leaves the random stream as
    tracing the model alone does, so seeded fits keep their results)."""
    return make_elbo(model, *args, guide=guide, jit=jit, num_particles=num_particles, **kwargs)


def as_batches(data: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """``data`` as a tuple of row-aligned tensors (one tensor is a tuple of one).

    Raises ``ValueError`` when the tensors do not have the same number of rows.
    """
    if isinstance(data, torch.Tensor):
        return (data,)
    if not isinstance(data, Sequence) or isinstance(data, str) or len(data) == 0:
        raise TypeError(
            f"data must be a tensor or a tuple of row-aligned tensors, got {type(data).__name__}"
        )
    parts = tuple(torch.as_tensor(t) for t in data)
    lengths = {len(t) for t in parts}
    if len(lengths) != 1:
        shapes = ", ".join(str(tuple(t.shape)) for t in parts)
        raise ValueError(f"the tensors of data must have the same number of rows, got {shapes}")
    return parts


def _source(data: Any, device: torch.device, chunk_size: int) -> InMemory | Streamed:
    """Where the batches come from: tensors in memory, or rows on disk (a stream or a memory
    map, alone or first in a tuple whose other tensors are held in memory)."""
    from pyroclust.datasets import streaming

    if streaming.is_streamed(data):
        return Streamed(streaming.as_stream(data), device, chunk_size)
    if streaming.is_streamed(data[0]):
        extras = as_batches(data[1:]) if len(data) > 1 else ()
        return Streamed(streaming.as_stream(data[0]), device, chunk_size, extras)
    return InMemory(data, device)


_INVALID = re.compile(r"Expected (?:parameter|value argument) (\w+)?.*?of distribution (\w+)")


def _non_finite_value_error(
    err: ValueError, params: Sequence[torch.Tensor], *, stepped: bool = False
) -> str | None:
    """What went non-finite, when ``err`` (raised while computing the loss) comes from it:
    the parameters hold NaN or infinity, or Pyro's distribution validation found NaN or
    infinite values; None for any other ``ValueError`` (a bug, bad data). After an
    optimiser step (``stepped``), any value Pyro's validation finds outside its support (a
    scale driven to exactly 0 by a huge step) is the fit diverging too."""
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        return "parameters"
    text = str(err)
    if "found invalid values" not in text:
        return None
    if not stepped and not re.search(r"\b(nan|inf)\b", text.split("found invalid values", 1)[1]):
        return None
    match = _INVALID.search(text)
    if match is None:
        return "values in the loss"
    name = match.group(1) or "value"
    return f"{name} of a {match.group(2)} distribution in the loss"


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
    """Stochastic optimisation over mini-batches, for any model/guide pair and any loss.

    The data stay on the device (or stream from disk, see ``chunk_size``); each epoch visits
    every row once in a random order. Each step minimises the loss of one batch with a torch
    optimiser:

    - a ``pyro.infer.ELBO`` (``loss=TraceEnum_ELBO(...)``) is used through its
      ``differentiable_loss(model, guide, *batch, data_size=n)``;
    - any callable ``loss(model, guide, *batch, data_size=n) -> scalar tensor`` works too
      (autoencoder pretraining, an ELBO with the cluster site observed, a regularised
      objective). It returns the loss of the whole data set estimated from the batch, as
      Pyro's ELBOs do under a subsampled plate, so ``loss / n`` is the mean per data point;
    - by default the ELBO follows from the model (:func:`~pyroclust.infer.elbo.make_elbo`:
      ``TraceEnum_ELBO`` when a site is enumerated).

    The data are one tensor of shape (n_samples, ...) or a tuple of row-aligned tensors
    (e.g. ``(x, labels)``), batched together.

    Parameters
    ----------
    model, guide : nn.Module
        A Pyro model and guide; their parameters are trained (or only ``params``).
    epochs : int
        Number of passes over the data.
    batch_size : int
        Rows per step; a last batch of a single row joins the one before it (BatchNorm cannot
        train on one row).
    lr : float
        Base learning rate of Adam (or of ``optimizer``).
    lr_schedule : callable ``epoch -> multiplier``, optional
        See :mod:`pyroclust.infer.schedules`.
    optimizer : callable ``(params, lr) -> torch.optim.Optimizer``, optional
        :func:`default_optimizer` (``torch.optim.Adam(fused=True)``) by default.
    clip_norm : float, optional
        Clip the gradient norm.
    loss : pyro.infer.ELBO or callable, optional
        The objective (see above); the automatic ELBO when None.
    elbo : pyro.infer.ELBO, optional
        The older name of ``loss`` for an ELBO.
    num_particles : int
        Particles of the automatic ELBO.
    jit : bool or str
        A fast path for the automatic ELBO, removing most of Pyro's per-step Python overhead
        (VaDE with one hidden layer of 64 units on one CPU thread, batch 256: about 2x the
        plain-PyTorch step without one; ``benchmarks/speed.py`` for today's figures):

        - ``"fx"``: the objective traced once per batch shape into a graph and replayed
          (:class:`~pyroclust.infer.graph.GraphELBO`);
        - ``"inductor"``: that graph compiled by ``torch.compile`` (about a minute to
          compile on a CPU, then close to hand-written PyTorch);
        - ``True`` or ``"torchscript"``: Pyro's ``JitTraceEnum_ELBO`` (``torch.jit.trace``,
          deprecated by torch).

        Each batch size is traced once, on a fork of the random stream, so the fit draws the
        noise of the eager one and a resumed run continues exactly. A model that branches on
        tensor values (k-DVAE) cannot be traced: ``ValueError``.
    validate : bool
        Run Pyro's value checks (distribution arguments and samples, NaN/inf warnings at
        every site) in every step. Off by default: they cost host-side checks and backward
        hooks every step (about 5 % of a step of VaDE with one hidden layer of 64 units,
        ``benchmarks/RESULTS.md``), and the trainer checks each step's loss and gradient
        itself; a step that goes non-finite is re-run with them on to name what went wrong
        (a scale of 0, a NaN parameter), and the first batch (the probe) runs under Pyro's
        own setting, so bad arguments show at once. True: every step under Pyro's setting
        (``pyro.enable_validation``), for debugging a model.
    params : iterable of tensors or modules, optional
        Train only these (e.g. encoder and decoder in pretraining); all of model and guide
        when None.
    stage : str
        The name of this training stage (``"pretrain"``, ``"align"``, ``"svi"``), shown in
        the progress bar, in errors and stored in checkpoints.
    early_stopping : EarlyStopping, optional
    device : "auto", "cpu", "cuda" or torch.device
    random_state : int, optional
        Seeds Pyro's sampling and the shuffling, so a run is repeatable on CPU.
    progress : bool
        Show a progress bar with the running mean loss per data point of the epoch.
    checkpoint : path or callable ``(trainer) -> None``, optional
        Write a checkpoint there every ``checkpoint_every`` epochs, at the end, and when a
        non-finite loss stops the run; :meth:`fit` with ``resume=True`` continues the same
        run from it. A callable writes it itself (a :class:`~pyroclust.infer.FitSession`
        keeps every stage of a fit in one file this way); its ``path`` attribute, if any, is
        named in messages.
    callbacks : sequence of callables ``(trainer, epoch) -> None``
        Called after every epoch (e.g. temperature annealing), on every process.
    distributed : bool, optional
        Data-parallel training over the processes of a ``torch.distributed`` group (launched
        by ``torchrun``; see :mod:`pyroclust.infer.distributed`). None (the default) trains
        data-parallel whenever a group of more than one process is initialised; False never;
        True requires one. ``batch_size`` is then the rows of each process: a step sees
        ``world_size * batch_size`` rows, with gradients averaged over the processes, and
        equals a one-process step over those rows. Rank 0 writes the checkpoints and shows
        the progress bar.
    chunk_size : int, optional
        Rows read from disk at a time when :meth:`fit` is given an
        :class:`~pyroclust.datasets.streaming.ArrayStream` or a memory-mapped array (65,536
        by default): each epoch then visits the chunks in a random order, and the rows of
        each in a random order. With one chunk (``chunk_size`` at least the rows) the run
        equals the in-memory one.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``elbo`` (minus the mean loss per data point: the ELBO
        per data point for an ELBO), ``lr``, ``seconds``.
    epoch, step : int
        Epochs and optimiser steps completed.
    world_size, rank : int
        Processes of the last fit and this one's rank (1 and 0 when training alone).
    stopped_early : bool

    Raises
    ------
    NonFiniteLossError
        From :meth:`fit`, when the loss or the gradient is not finite, or when Pyro's
        validation finds NaN inside the loss (diverging parameters): the last good
        parameters are put back (and checkpointed) first.
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
        loss: ELBO | LossFn | None = None,
        elbo: ELBO | None = None,
        num_particles: int = 1,
        jit: bool | str = False,
        validate: bool = False,
        params: Iterable[torch.Tensor | nn.Module] | None = None,
        stage: str = DEFAULT_STAGE,
        early_stopping: EarlyStopping | None = None,
        device: str | torch.device = "auto",
        random_state: int | None = None,
        progress: bool = True,
        checkpoint: str | os.PathLike | Callable[[SVITrainer], None] | None = None,
        checkpoint_every: int = 1,
        callbacks: Sequence[Callable[[SVITrainer, int], None]] = (),
        distributed: bool | None = None,
        chunk_size: int | None = None,
    ) -> None:
        if int(epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if int(num_particles) < 1:
            raise ValueError(f"num_particles must be >= 1, got {num_particles}")
        if loss is not None and elbo is not None:
            raise ValueError("pass the objective as loss= or as elbo=, not both")
        loss = elbo if loss is None else loss
        if loss is not None and not isinstance(loss, ELBO) and not callable(loss):
            raise TypeError(
                "loss must be a pyro.infer.ELBO or a callable (model, guide, *batch, "
                f"data_size=n) -> tensor, got {type(loss).__name__}"
            )
        self.model = model
        self.guide = guide
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.lr_schedule = lr_schedule or Constant()
        self.optimizer_factory = optimizer or default_optimizer
        self.clip_norm = clip_norm
        self.loss = loss
        self.elbo: ELBO | None = loss if isinstance(loss, ELBO) else None
        self.num_particles = int(num_particles)
        self.jit = jit
        self.validate = bool(validate)
        self.params = None if params is None else list(params)
        self.stage = str(stage)
        self.early_stopping = early_stopping
        self.device = resolve_device(device)
        self.random_state = random_state
        self.progress = progress
        self.checkpoint = checkpoint
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.callbacks = list(callbacks)
        self.distributed = distributed
        if chunk_size is None:
            from pyroclust.datasets import streaming

            chunk_size = streaming.DEFAULT_CHUNK_SIZE
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = int(chunk_size)
        self.world_size = 1
        self.rank = 0
        self._parallel: distributed.DataParallel | None = None
        self._synced: list[nn.Parameter] | None = None
        self._rank_rng: list[torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []
        self.epoch = 0
        self.step = 0
        self.stopped_early = False
        self._optim: torch.optim.Optimizer | None = None
        self._sched: torch.optim.lr_scheduler.LambdaLR | None = None
        self._shuffle = torch.Generator()
        self._best: tuple[float, dict[str, Any]] | None = None
        self._bad_epochs = 0
        self._elbos: dict[int, Any] = {}
        self._compiled: set[int] = set()

    # ------------------------------------------------------------------ state
    def parameters(self) -> list[nn.Parameter]:
        """The parameters trained: ``params`` when given, else those of model and guide
        (each once, only those that require gradients)."""
        seen: dict[int, torch.Tensor] = {}
        sources = [self.model, self.guide] if self.params is None else self.params
        for source in sources:
            tensors = source.parameters() if isinstance(source, nn.Module) else [source]
            for p in tensors:
                if p.requires_grad:
                    seen.setdefault(id(p), p)
        return list(seen.values())

    def _all_parameters(self) -> list[torch.Tensor]:
        seen: dict[int, torch.Tensor] = {}
        for module in (self.model, self.guide):
            for p in module.parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())

    @property
    def loss_fn(self) -> LossFn | None:
        """The loss callable, or None when the objective is an ELBO."""
        return None if self.loss is None or isinstance(self.loss, ELBO) else self.loss

    def _setup(self, source: InMemory | Streamed) -> None:
        self.model.to(self.device)
        self.guide.to(self.device)
        n = source.n
        probe = source.probe(self.batch_size)
        with kept_buffers(self.model, self.guide):  # probes, not training steps
            self._probe(probe, n)
        self._optim = self.optimizer_factory(self.parameters(), lr=self.lr)
        self._sched = torch.optim.lr_scheduler.LambdaLR(self._optim, self.lr_schedule)

    def _probe(self, probe: tuple[torch.Tensor, ...], n: int) -> None:
        """Choose the ELBO and create lazily built parameters by running on ``probe``."""
        if self.loss is None and self.elbo is None:
            self.elbo = auto_elbo(
                self.model,
                self.guide,
                *probe,
                data_size=n,
                jit=self.jit,
                num_particles=self.num_particles,
            )
        # A JIT-compiled ELBO is traced for one batch shape (Pyro keys its cache on the number
        # of arguments, not their shapes) and binds the param store it first ran in: each fit
        # compiles fresh copies of it, one per batch size (the last batch may be smaller).
        # run the loss once so lazily created parameters exist before the optimiser (not
        # needed when a loss callable comes with the parameters it trains)
        if self.loss_fn is None or self.params is None or self._parallel is not None:
            warm = self._batch_loss(probe, n)
            if self._parallel is not None:
                # the parameters the loss uses are those DistributedDataParallel synchronises
                params = self.parameters()
                grads = (
                    torch.autograd.grad(warm, params, allow_unused=True)
                    if warm.requires_grad
                    else [None] * len(params)
                )
                self._synced = [p for p, g in zip(params, grads) if g is not None]

    def _batch_loss(self, batch: tuple[torch.Tensor, ...], n: int) -> torch.Tensor:
        fn = self.loss_fn
        if fn is not None:
            return fn(self.model, self.guide, *batch, data_size=n)
        elbo = self._elbo_for(len(batch[0]))
        if not _is_jit(elbo):
            return elbo.differentiable_loss(self.model, self.guide, *batch, data_size=n)
        self._compile(batch, n)
        with warnings.catch_warnings():  # Pyro's JIT ELBOs compile with torch.jit.trace, which
            # torch >= 2.13 deprecates (a FutureWarning from 2.14): not the user's to act on
            warnings.filterwarnings("ignore", r"`torch\.jit\.trace` is deprecated")
            return elbo.differentiable_loss(self.model, self.guide, *batch, data_size=n)

    def _compile(self, batch: tuple[torch.Tensor, ...], n: int) -> None:
        """Compile the JIT ELBO for this batch size, once, on a forked random stream.

        Compiling runs the program a few times and draws random numbers; on a fork of the
        stream the run then draws what it would have drawn without JIT, and a resumed run
        (which compiles afresh) continues exactly. No-op without JIT or once compiled."""
        size = len(batch[0])
        elbo = self._elbo_for(size)
        if self.loss_fn is not None or not _is_jit(elbo) or size in self._compiled:
            return
        self._compiled.add(size)
        with (
            warnings.catch_warnings(),
            torch.random.fork_rng(devices=rng_devices()),
            kept_buffers(self.model, self.guide),
        ):
            warnings.filterwarnings("ignore", r"`torch\.jit\.trace` is deprecated")
            elbo.differentiable_loss(self.model, self.guide, *batch, data_size=n)

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
            "stage": self.stage,
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
            "optimizer": self._optim.state_dict(),
            "scheduler": {"last_epoch": self._sched.last_epoch},
            "epoch": self.epoch,
            "step": self.step,
            "stopped_early": self.stopped_early,
            "history": [dict(row) for row in self.history],
            "rng_torch": torch.get_rng_state(),
            "rng_shuffle": self._shuffle.get_state(),
            "world_size": self.world_size,
            "bad_epochs": self._bad_epochs,
            "best_elbo": None if self._best is None else self._best[0],
            "best_params": None if self._best is None else self._best[1],
        }
        if self._rank_rng is not None:
            state["rng_torch_ranks"] = list(self._rank_rng)
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
        self.stopped_early = bool(state.get("stopped_early", False))
        self.history = [dict(row) for row in state["history"]]
        torch.set_rng_state(state["rng_torch"])
        self._shuffle.set_state(state["rng_shuffle"])
        if self._parallel is not None:  # each rank's own stream, when as many ran
            self._parallel.restore_rng(state.get("rng_torch_ranks"))
        if "rng_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self._bad_epochs = int(state["bad_epochs"])
        if state["best_elbo"] is not None:
            best = state.get("best_params")
            # checkpoints without best_params (older ones) fall back to the current parameters
            self._best = (float(state["best_elbo"]), best if best else self._params_copy())

    def save(self, path: str | os.PathLike | None = None) -> None:
        """Write a checkpoint of the run (to ``path`` or the ``checkpoint`` path given)."""
        if path is None and isinstance(self.checkpoint, str | os.PathLike):
            path = self.checkpoint
        if path is None:
            raise ValueError("no checkpoint path given")
        save_checkpoint(
            path,
            TRAINER_KIND,
            {
                "model_class": type(self.model).__qualname__,
                "guide_class": type(self.guide).__qualname__,
                "stage": self.stage,
                "state": self.state_dict(),
            },
        )

    def _write_checkpoint(self) -> None:
        if self.checkpoint is None:
            return
        parallel = self._parallel
        if parallel is not None:
            # every rank's random state goes into rank 0's file (a collective: all ranks)
            self._rank_rng = parallel.gather_rng()
        if parallel is None or parallel.is_main:  # only rank 0 writes
            if isinstance(self.checkpoint, str | os.PathLike):
                self.save()
            else:
                self.checkpoint(self)
        if parallel is not None:
            parallel.barrier()  # the file is complete before any rank goes on

    def _params_copy(self) -> dict[str, Any]:
        return {
            "model": copy.deepcopy(self.model.state_dict()),
            "guide": copy.deepcopy(self.guide.state_dict()),
        }

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: torch.Tensor | Sequence[torch.Tensor],
        *,
        resume: bool = False,
        state: dict[str, Any] | None = None,
    ) -> SVITrainer:
        """Train on ``data`` (a tensor of shape (n_samples, n_features), a tuple of
        row-aligned tensors, or rows on disk: an
        :class:`~pyroclust.datasets.streaming.ArrayStream` or a memory-mapped array, read
        ``chunk_size`` rows at a time and never whole, alone or first in a tuple whose other
        tensors, held in memory, are row-aligned with it); returns self.

        With ``resume=True`` and an existing ``checkpoint`` file, the run continues from it
        (parameters, optimiser, schedule, random state and history), so an interrupted fit
        ends where the uninterrupted one would have. ``state`` (what :meth:`state_dict`
        returned) continues from a state held elsewhere. Runs in a private Pyro param store
        (:func:`~pyroclust.infer.elbo.local_params`).
        """
        from pyroclust.datasets import streaming

        with local_params():
            if streaming.is_streamed(data) or (
                isinstance(data, tuple | list) and data and streaming.is_streamed(data[0])
            ):
                return self._fit(data, resume=resume, state=state)
            return self._fit(as_batches(data), resume=resume, state=state)

    def _load_resume_file(self) -> dict[str, Any]:
        payload = load_checkpoint(self.checkpoint, TRAINER_KIND)
        for key, obj in (("model_class", self.model), ("guide_class", self.guide)):
            if payload.get(key) != type(obj).__qualname__:
                raise CheckpointError(
                    f"the checkpoint was written for {payload.get(key)!r}, "
                    f"not {type(obj).__qualname__!r}"
                )
        stage = payload.get("stage", DEFAULT_STAGE)
        if stage != self.stage:
            raise CheckpointError(
                f"the checkpoint holds the {stage!r} stage, not {self.stage!r}; resume the "
                "same stage or start afresh"
            )
        return payload["state"]

    def _fit(self, data: Any, *, resume: bool, state: dict[str, Any] | None) -> SVITrainer:
        source = _source(data, self.device, self.chunk_size)
        n = source.n
        if n == 0:
            raise ValueError("cannot train on empty data")
        self._elbos = {}  # compiled ELBOs are bound to one fit's param store
        self._compiled: set[int] = set()
        self._parallel = parallel = distributed.context(self.distributed)
        self.world_size, self.rank = (
            (1, 0) if parallel is None else (parallel.world_size, parallel.rank)
        )
        if self._optim is None:
            seed_everything(self.random_state)
            if self.random_state is not None:
                self._shuffle.manual_seed(int(self.random_state))
            else:
                self._shuffle.seed()
            if parallel is not None:
                parallel.seed(self.random_state, self._shuffle)
            try:
                self._setup(source)
            except ValueError as err:
                what = _non_finite_value_error(err, self._all_parameters())
                if what is None:
                    raise
                error = NonFiniteLossError(
                    f"{self.stage} stage: non-finite {what} before the first step, at the "
                    "starting parameters; check the data (their scale) and the model.",
                    epoch=self.epoch + 1,
                    step=self.step,
                )
                error.stage = self.stage
                raise error from err
        path_checkpoint = isinstance(self.checkpoint, str | os.PathLike)
        if state is None and resume and path_checkpoint and os.path.exists(self.checkpoint):
            state = self._load_resume_file()
        if state is not None:
            self.load_state_dict(state)
        try:
            if parallel is not None:
                if self._synced is None:
                    raise RuntimeError(
                        "this trainer first trained alone: continue it alone "
                        "(distributed=False), or start a fresh trainer in the process group"
                    )
                parallel.wrap(self._synced, self.device)
            return self._train(source)
        finally:
            if parallel is not None:
                parallel.unwrap()

    def _steps_per_epoch(self, n: int) -> int:
        if self._parallel is not None:
            return self._parallel.steps_per_epoch(n, self.batch_size)
        steps = math.ceil(n / self.batch_size)
        if steps > 1 and n % self.batch_size == 1:
            # a last batch of one row would break BatchNorm in training mode (and gives a
            # one-row gradient): it joins the batch before it
            steps -= 1
        return steps

    def _step_loss(self, idx: torch.Tensor, data: tuple[torch.Tensor, ...], n: int) -> torch.Tensor:
        """The loss of the batch ``idx`` (this process's share of it when data-parallel,
        weighted so that the processes' mean is the global batch's estimate)."""
        parallel = self._parallel
        if parallel is None:
            return self._batch_loss(tuple(t[idx] for t in data), n)
        mine, weight = parallel.shard(idx)
        batch = tuple(t[mine] for t in data)
        self._compile(batch, n)  # outside DistributedDataParallel's forward
        loss = parallel.loss(lambda: self._batch_loss(batch, n))
        return loss if weight == 1.0 else loss * weight

    def _train(self, source: InMemory | Streamed) -> SVITrainer:
        parallel = self._parallel
        n = source.n
        size = self.batch_size * self.world_size  # rows of one step, over all processes
        steps_per_epoch = source.steps(self._steps_per_epoch)
        params = self.parameters()
        snapshot = _ParamSnapshot(params)
        label = "loss" if self.loss_fn is not None else "elbo"
        sign = 1.0 if self.loss_fn is not None else -1.0
        bar = progress_bar(
            total=self.epochs * steps_per_epoch,
            initial=min(self.epoch, self.epochs) * steps_per_epoch,
            disable=not self.progress or self.rank != 0,
            desc=f"{type(self.model).__name__} {self.stage}",
            unit="step",
        )
        clip = bool(self.clip_norm)
        max_norm = float(self.clip_norm) if clip else math.inf
        try:
            while self.epoch < self.epochs and not self.stopped_early:
                t0 = time.perf_counter()
                total = 0.0
                seen = 0
                batches = source.epoch(self._shuffle, size, self._steps_per_epoch)
                for i, (idx, data) in enumerate(batches):
                    self._optim.zero_grad(set_to_none=True)
                    try:
                        with self._value_checks():
                            loss = self._step_loss(idx, data, n)
                            loss.backward()
                    except ValueError as err:
                        what = _non_finite_value_error(
                            err, self._all_parameters(), stepped=self.step > 0
                        )
                        if what is None:
                            raise
                        self._stop(snapshot, f"non-finite {what}", i, steps_per_epoch, err)
                    if clip:
                        norm = nn.utils.clip_grad_norm_(params, max_norm)
                    else:  # only the norm, for the finiteness check: no pass scaling by 1
                        norm = nn.utils.get_total_norm(
                            [p.grad for p in params if p.grad is not None]
                        )
                    pair = torch.stack([loss.detach().reshape(()), norm.to(loss.device)])
                    if parallel is not None:  # the global batch's loss; the norm is global
                        pair = parallel.average(pair)
                    loss_value, norm_value = pair.tolist()
                    if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                        bad = (
                            f"loss ({loss_value})"
                            if not math.isfinite(loss_value)
                            else f"gradient ({norm_value})"
                        )
                        found, cause = self._diagnose(idx, data, n)
                        self._stop(
                            snapshot, f"non-finite {found or bad}", i, steps_per_epoch, cause
                        )
                    snapshot.save()
                    self._optim.step()
                    self.step += 1
                    total += loss_value * len(idx) / n
                    seen += len(idx)
                    bar.update(1)
                    bar.set_postfix(
                        epoch=self.epoch + 1, **{label: f"{sign * total / seen:.4g}"}, refresh=False
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
                    self.epoch % self.checkpoint_every == 0
                    or self.epoch == self.epochs
                    or self.stopped_early
                ):
                    self._write_checkpoint()
        finally:
            bar.close()
        es = self.early_stopping
        if self.stopped_early and es is not None and es.restore_best and self._best is not None:
            self.model.load_state_dict(self._best[1]["model"])
            self.guide.load_state_dict(self._best[1]["guide"])
        return self

    @contextlib.contextmanager
    def _value_checks(self) -> Iterator[None]:
        """Pyro's value checks for one step: as Pyro has them with ``validate``; else off,
        and the ELBOs' NaN warnings silenced (the step's loss is checked right after)."""
        if self.validate:
            yield
            return
        with warnings.catch_warnings(), pyro.validation_enabled(False):
            warnings.filterwarnings("ignore", "Encountered NaN", UserWarning)
            yield

    def _diagnose(
        self, idx: torch.Tensor, data: tuple[torch.Tensor, ...], n: int
    ) -> tuple[str | None, ValueError | None]:
        """What went non-finite in the step on ``idx``, and Pyro's error saying so, found by
        running its loss again with Pyro's value checks on (None, None when they were on
        already, or find nothing). Runs on this process's rows alone (no collective), on a
        fork of the random stream and with BatchNorm's statistics kept; its graph is dropped
        unused."""
        if self.validate:
            return None, None
        parallel = self._parallel
        rows = idx if parallel is None else parallel.shard(idx)[0]
        batch = tuple(t[rows] for t in data)
        try:
            with (
                warnings.catch_warnings(),  # Pyro's NaN warnings: the error says it
                pyro.validation_enabled(True),
                torch.random.fork_rng(devices=rng_devices()),
                kept_buffers(self.model, self.guide),
            ):
                warnings.simplefilter("ignore")
                self._batch_loss(batch, n)
        except ValueError as err:
            what = _non_finite_value_error(err, self._all_parameters(), stepped=self.step > 0)
            return what, err if what is not None else None
        return None, None

    def _stop(
        self,
        snapshot: _ParamSnapshot,
        what: str,
        i: int,
        steps_per_epoch: int,
        cause: BaseException | None = None,
    ) -> None:
        """Put back the last good parameters, checkpoint them, raise NonFiniteLossError."""
        snapshot.restore()
        assert self._optim is not None
        self._optim.zero_grad(set_to_none=True)
        moments = [
            v
            for s in self._optim.state.values()
            for v in s.values()
            if torch.is_tensor(v) and v.is_floating_point()
        ]
        # one check per tensor: the moments live on the parameters' device, Adam's step
        # counts on the CPU (or the device, fused), so they cannot be stacked together
        if not all(bool(torch.isfinite(v).all()) for v in moments):
            self._optim.state.clear()  # the optimiser's moments went non-finite too: reset them
        saved = ""
        if self.checkpoint is not None:
            self._write_checkpoint()
            path = (
                self.checkpoint
                if isinstance(self.checkpoint, str | os.PathLike)
                else getattr(self.checkpoint, "path", None)
            )
            saved = " and saved" + ("" if path is None else f" to {os.fspath(path)}")
        err = NonFiniteLossError(
            f"{self.stage} stage: {what} at epoch {self.epoch + 1}, step {i + 1} of "
            f"{steps_per_epoch} (global step {self.step + 1}); the last good parameters were "
            f"kept{saved}. Try a lower lr, clip_norm, or check the data.",
            epoch=self.epoch + 1,
            step=self.step + 1,
        )
        err.stage = self.stage
        raise err from cause

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
