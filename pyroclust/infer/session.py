"""A fit as a sequence of named stages, checkpointed in one file and resumable as a whole.

A fit is more than its SVI run: autoencoder pretraining, computing a start mixture, an
alignment stage with pseudo-labels, then free SVI. :class:`FitSession` runs each of them by
name and writes one checkpoint after every epoch of a training stage and after every other
step, so an interruption at any point (a crash, Ctrl-C) loses at most one epoch:

- ``session.train(name, data, loss=..., epochs=...)`` runs a training stage through
  :class:`~pyroclust.infer.SVITrainer` and returns the trainer;
- ``session.step(name, fn)`` runs ``fn()``, a step that changes the parameters (fitting a
  mixture to the codes and starting the model from it), and keeps its small result (the
  pseudo-labels) in the checkpoint.

On resume, the stages already done are skipped (a step returns its stored result, a training
stage a trainer holding its history), the latest parameters and random states are loaded
once, and the stage in progress continues from its trainer state, so the resumed fit ends
bit-identical to an uninterrupted one on CPU.

Initialisation strategies (:mod:`pyroclust.infer.init`) take an optional ``session``; the
estimator passes its own, so ``Clusterer(checkpoint=...).fit(X, resume=True)`` resumes
initialisation included.

Under ``torchrun`` (a ``torch.distributed`` process group of several processes, see
:mod:`pyroclust.infer.distributed`) every process runs the same stages, and only rank 0
writes the checkpoint: after a step it holds every rank's random states (gathered, a
collective), and the processes wait for the write to finish (a barrier) before going on, so
that a file on disk is always one every rank can resume from. On resume every process reads
the file and takes back its own random states (rank 0's when the file was written by
another number of processes).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pyroclust.exceptions import CheckpointError
from pyroclust.infer import distributed
from pyroclust.infer.checkpoint import load_checkpoint, save_checkpoint
from pyroclust.infer.trainer import SVITrainer, resolve_device

SESSION_KIND = "fit-session"


# ------------------------------------------------------------------ checkpoint-safe values
def _encode(value: Any) -> Any:
    """``value`` in the types ``torch.load(weights_only=True)`` reads back."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"a step result array must be numeric, got dtype {value.dtype}")
        array = torch.from_numpy(np.ascontiguousarray(value))
        return {"__ndarray__": array, "dtype": value.dtype.str}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a step result dict must have string keys")
        if "__ndarray__" in value or "__tuple__" in value:
            raise TypeError("a step result dict may not use the keys __ndarray__, __tuple__")
        return {k: _encode(v) for k, v in value.items()}
    raise TypeError(
        "a step's result must be None, a number, a string, a tensor, a NumPy array, or a "
        f"list, tuple or dict of those; got {type(value).__name__}"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return value["__ndarray__"].numpy().astype(np.dtype(value["dtype"]), copy=True)
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        return {k: _decode(v) for k, v in value.items()}
    return value


def rng_state() -> dict[str, Any]:
    """The global random states (torch, CUDA, NumPy, Python) as checkpoint-safe values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the global state Pyro seeds)
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": int(version), "internal": list(internal), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    npy = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            npy["kind"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))


# ------------------------------------------------------------------ the session
class FitSession:
    """The named stages of one fit, checkpointed together and resumable as a whole.

    Parameters
    ----------
    model, guide : nn.Module
        The pair being fitted; every stage changes these in place.
    checkpoint : path, optional
        The one checkpoint file of the fit (None: nothing is written, stages just run).
    resume : bool
        Continue the fit the ``checkpoint`` file holds (when it exists): completed stages
        are skipped, the stage in progress continues. The stages must be asked for in the
        same order, with the same names, as when the checkpoint was written.
    random_state : int, optional
        Default seed of the training stages (each trainer seeds itself with it).
    progress : bool
        Default of the training stages' progress bars.
    device : "auto", "cpu", "cuda" or torch.device
        Where the training stages run.
    checkpoint_every : int
        Epochs between checkpoints within a training stage.

    Attributes
    ----------
    records : list of dict
        One record per stage run or skipped so far: ``name``, ``kind`` ("train" or
        "step"), and for training stages ``epochs`` (asked for), ``epoch``, ``step``,
        ``stopped_early`` and ``history``.
    trainers : dict of str to SVITrainer
        The trainer of each training stage (for a skipped one, a trainer holding its
        history, not fitted again).

    Examples
    --------
    >>> import torch
    >>> from pyroclust import zoo
    >>> model, guide = zoo.make("vade", n_features=8, n_components=2, hidden=(8,))
    >>> session = FitSession(model, guide, random_state=0, device="cpu")
    >>> x = torch.rand(20, 8)
    >>> trainer = session.train("svi", x, epochs=1, batch_size=10)
    >>> session.step("count", lambda: len(x))
    20
    >>> [r["name"] for r in session.records]
    ['svi', 'count']
    """

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        *,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = False,
        random_state: int | None = None,
        progress: bool = False,
        device: str | torch.device = "auto",
        checkpoint_every: int = 1,
    ) -> None:
        self.model = model
        self.guide = guide
        self.checkpoint = checkpoint
        self.random_state = random_state
        self.progress = progress
        self.device = resolve_device(device)
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.records: list[dict[str, Any]] = []
        self.trainers: dict[str, SVITrainer] = {}
        self._saved: dict[str, Any] | None = None
        self._position = 0
        self._restored = True
        if resume and checkpoint is not None and os.path.exists(checkpoint):
            self._saved = self._load(checkpoint)
            self._restored = False

    # ------------------------------------------------------------------ public
    @property
    def resuming(self) -> bool:
        """Whether stages of a checkpoint are still to be replayed."""
        return self._saved is not None and self._position < len(self._saved["records"])

    def train(
        self,
        name: str,
        data: torch.Tensor | Sequence[torch.Tensor],
        **options: Any,
    ) -> SVITrainer:
        """Run the training stage ``name`` on ``data`` through an :class:`SVITrainer`.

        ``options`` are the trainer's (``loss``, ``epochs``, ``batch_size``, ``lr``,
        ``params``, ``callbacks``...); ``device``, ``random_state``, ``progress`` and the
        checkpoint default to the session's. Returns the trainer (its ``history``).

        Raises :class:`~pyroclust.exceptions.CheckpointError` when resuming a checkpoint
        whose stage at this position has another name, or a completed stage that ran with
        another number of epochs.
        """
        self._new_name(name)
        record, last = self._replay(name, "train")
        options.setdefault("device", self.device)
        options.setdefault("random_state", self.random_state)
        options.setdefault("progress", self.progress)
        options.setdefault("checkpoint_every", self.checkpoint_every)
        if self.checkpoint is not None:
            options["checkpoint"] = _StageWriter(self)
        trainer = SVITrainer(self.model, self.guide, stage=name, **options)
        self.trainers[name] = trainer
        if record is not None and not last:  # done before a later stage ran: skip it
            if int(record["epochs"]) != trainer.epochs:
                raise CheckpointError(
                    f"the checkpoint's {name!r} stage ran {record['epochs']} epochs, this fit "
                    f"asks for {trainer.epochs}; start afresh (resume=False) or keep the "
                    "settings of the interrupted fit"
                )
            trainer.history = [dict(row) for row in record["history"]]
            trainer.epoch, trainer.step = int(record["epoch"]), int(record["step"])
            trainer.stopped_early = bool(record["stopped_early"])
            self.records.append(record)
            return trainer
        state = None
        if record is not None:  # the checkpoint's last stage: continue it from its state
            state = self._saved["current"]
            self._restored = True
        else:
            self._restore_once()
        for done in self.trainers.values():  # earlier stages are over: free their optimisers
            if done is not trainer:
                done._optim = done._sched = done._best = None
        record = {"name": name, "kind": "train", "epochs": trainer.epochs}
        self._summarise(record, trainer)
        self.records.append(record)
        trainer.fit(data, state=state)
        self._summarise(record, trainer)
        if self.checkpoint is not None:
            self._write_training(trainer)
            _barrier()  # every process waits for rank 0's file
        return trainer

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn()``, a step with side effects on the parameters, once per fit.

        Its result (None, numbers, strings, tensors, NumPy arrays, and lists, tuples or dicts
        of them) is kept in the checkpoint; on resume a completed step is not run again and
        its stored result is returned (tensors on the CPU).
        """
        self._new_name(name)
        record, _ = self._replay(name, "step")
        if record is not None:
            self.records.append(record)
            return _decode(record["result"])
        self._restore_once()
        result = fn()
        record = {"name": name, "kind": "step", "result": _encode(result)}
        self.records.append(record)
        if self.checkpoint is not None:
            self._write(current=None)
            _barrier()  # every process waits for rank 0's file
        return result

    def finish(self) -> None:
        """End the fit: load the checkpoint's parameters if every stage was skipped, and
        check that no stage of the checkpoint was left out."""
        if self.resuming:
            left = [r["name"] for r in self._saved["records"][self._position :]]
            raise CheckpointError(
                f"the checkpoint holds the stages {left} that this fit did not run; it was "
                "written by another recipe: start afresh (resume=False)"
            )
        self._restore_once()

    # ------------------------------------------------------------------ internals
    def _new_name(self, name: str) -> None:
        if any(r["name"] == name for r in self.records):
            raise ValueError(f"a stage named {name!r} already ran in this fit")

    def _replay(self, name: str, kind: str) -> tuple[dict[str, Any] | None, bool]:
        """The checkpoint's record for this call (and whether it is its last), if any."""
        if not self.resuming:
            return None, False
        saved = self._saved["records"]
        record = saved[self._position]
        if record["name"] != name or record["kind"] != kind:
            done = [r["name"] for r in saved]
            raise CheckpointError(
                f"the checkpoint's stages are {done}; this fit runs {kind} {name!r} at "
                f"position {self._position + 1}: it was written by another recipe. Start "
                "afresh (resume=False)"
            )
        self._position += 1
        return record, self._position == len(saved)

    def _restore_once(self) -> None:
        """Load the checkpoint's parameters and random states before the first stage that
        runs (the stage in progress loads its own)."""
        if self._restored:
            return
        self._restored = True
        saved = self._saved
        if saved is None or saved.get("params") is None:
            return
        try:
            self.model.load_state_dict(saved["params"]["model"])
            self.guide.load_state_dict(saved["params"]["guide"])
        except (KeyError, RuntimeError) as err:
            raise CheckpointError(
                "the checkpoint does not match this model and guide (another architecture or "
                f"other sizes): {str(err).splitlines()[0][:300]}"
            ) from err
        ranks = saved.get("rng_ranks")
        mine = ranks is not None and len(ranks) == distributed.world_size()
        set_rng_state(ranks[_rank()] if mine else saved["rng"])

    @staticmethod
    def _summarise(record: dict[str, Any], trainer: SVITrainer) -> None:
        record.update(
            epoch=trainer.epoch,
            step=trainer.step,
            stopped_early=trainer.stopped_early,
            history=[dict(row) for row in trainer.history],
        )

    def _write_training(self, trainer: SVITrainer) -> None:
        """The trainer's checkpoint callable: the records and the stage's full state."""
        self._summarise(self.records[-1], trainer)
        self._write(current=trainer)

    def _write(self, current: SVITrainer | None) -> None:
        """Write the checkpoint: on rank 0 only under a process group. After a step
        (``current`` None) every rank's random states are gathered first, a collective that
        every process reaches; during a training stage the trainer gathers its own."""
        ranks = None
        if current is None and distributed.world_size() > 1:
            ranks = [None] * distributed.world_size()
            torch.distributed.all_gather_object(ranks, rng_state())
        if not distributed.is_main_process():
            return
        payload = {
            "model_class": type(self.model).__qualname__,
            "guide_class": type(self.guide).__qualname__,
            "records": [dict(r) for r in self.records],
            "current": None if current is None else current.state_dict(),
            # after a step, the parameters it left and the random states; during a training
            # stage they are in its state
            "params": None
            if current is not None
            else {"model": self.model.state_dict(), "guide": self.guide.state_dict()},
            "rng": None if current is not None else rng_state(),
        }
        if ranks is not None:
            payload["rng_ranks"] = ranks
        save_checkpoint(self.checkpoint, SESSION_KIND, payload)

    def _load(self, path: str | os.PathLike) -> dict[str, Any]:
        payload = load_checkpoint(path, SESSION_KIND)
        for key, obj in (("model_class", self.model), ("guide_class", self.guide)):
            if payload.get(key) != type(obj).__qualname__:
                raise CheckpointError(
                    f"the checkpoint was written for {payload.get(key)!r}, "
                    f"not {type(obj).__qualname__!r}"
                )
        records = payload.get("records")
        if not isinstance(records, list) or not all(
            isinstance(r, dict) and "name" in r and "kind" in r for r in records
        ):
            raise CheckpointError(f"{str(path)!r} holds no readable list of fit stages")
        if records and records[-1]["kind"] == "train" and payload.get("current") is None:
            raise CheckpointError(f"{str(path)!r} lacks the state of its last training stage")
        return payload


def _rank() -> int:
    """This process's rank in the process group (0 without one)."""
    return torch.distributed.get_rank() if distributed.world_size() > 1 else 0


def _barrier() -> None:
    """Wait for every process of the group (nothing to wait for without one)."""
    if distributed.world_size() > 1:
        torch.distributed.barrier()


class _StageWriter:
    """The checkpoint callable a session gives its trainers (``path`` names the file)."""

    def __init__(self, session: FitSession) -> None:
        self.session = session
        self.path = session.checkpoint

    def __call__(self, trainer: SVITrainer) -> None:
        self.session._write_training(trainer)


def run_init(
    init: Callable[..., Any],
    model: nn.Module,
    guide: nn.Module,
    x: torch.Tensor,
    session: FitSession,
    *,
    random_state: int | None = None,
    progress: bool = False,
) -> None:
    """Run an initialisation strategy inside ``session``.

    Strategies that take ``session=`` (the built-in ones) checkpoint each of their stages;
    any other callable ``init(model, guide, x, random_state=..., progress=...)`` runs as one
    step named ``"init"``, skipped on resume once done.
    """
    if _takes_session(init):
        init(model, guide, x, random_state=random_state, progress=progress, session=session)
        return

    def plain() -> None:
        init(model, guide, x, random_state=random_state, progress=progress)

    session.step("init", plain)


def _takes_session(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "session" in params
