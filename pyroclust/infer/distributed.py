"""Data-parallel SVI on ``torch.distributed``: one process per device, gradients all-reduced.

Launch a script or the command line with ``torchrun`` (``torchrun --nproc-per-node 2 -m
pyroclust fit ...``): :func:`init_from_env` joins the process group torchrun describes
(gloo on CPU, nccl on GPU), and every :class:`~pyroclust.infer.SVITrainer` that runs while the
group holds more than one process trains data-parallel, with no other change to user code:

- every rank draws the same permutation of the rows each epoch and takes its strided share
  of each global batch of ``world_size * batch_size`` rows (``DistributedSampler``'s split:
  rank ``r`` takes rows ``r, r + W, r + 2W...``), so a step sees the same rows as a
  one-process step with ``batch_size * world_size``;
- the trained parameters are wrapped in ``DistributedDataParallel``, which averages the
  gradients over the ranks during the backward pass. Each rank's loss is the ELBO of the
  whole data set estimated from its shard (local sites scaled by ``data_size / shard``,
  global sites such as the mixture weights and their prior counted once), so the average is
  the one-process estimate from the global batch: the global sites count once per step, not
  once per rank. A smaller last shard is weighted by its share of the global batch;
- each rank draws its own Monte-Carlo noise (the seed ``random_state`` spread per rank);
- rank 0 writes checkpoints, holding every rank's random state so that a resumed run on
  the same number of processes continues exactly; progress bars come from rank 0.

Pyro's parameters live in the modules (``PyroModule``'s parameters are the tensors the
trainer optimises; the trainer's private param store points at the same tensors), and the
trainer runs the loss once before wrapping, so the parameters a guide creates lazily exist
when ``DistributedDataParallel`` registers them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import distributed as dist
from torch import nn

__all__ = [
    "DataParallel",
    "backend_for",
    "barrier",
    "context",
    "init_from_env",
    "is_main_process",
    "launch_rank",
    "launch_world_size",
    "launched_by_torchrun",
    "world_size",
]


def launch_world_size() -> int:
    """The processes of this launch as torchrun (or another launcher) sets ``WORLD_SIZE``;
    1 when launched alone. Readable before any process group exists."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launch_rank() -> int:
    """This process's rank in the launch (``RANK``), 0 when launched alone: before the process
    group exists, whether this is the process that checks, writes and prints."""
    return int(os.environ.get("RANK", "0"))


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher setting ``WORLD_SIZE``) started this process as
    one of several."""
    return launch_world_size() > 1


def backend_for(device: torch.device) -> str:
    """``"nccl"`` for CUDA devices, ``"gloo"`` otherwise."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: str | torch.device = "cpu") -> bool:
    """Join the process group that torchrun's environment describes, once; returns whether
    this process is one of several (False without a launcher, which leaves things alone).

    On CUDA each process takes the GPU of its ``LOCAL_RANK``.
    """
    if not launched_by_torchrun() or not dist.is_available():
        return False
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend_for(device))
    return dist.get_world_size() > 1


def world_size() -> int:
    """Processes in the current group (1 when none is initialised)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 and whenever no process group is initialised: the process that writes
    files and prints."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every process of the group; nothing to wait for without one (or alone in it).
    After rank 0 writes a file, the others call it too, so that none reads it before it is
    complete."""
    if world_size() > 1:
        dist.barrier()


def context(enabled: bool | None = None) -> DataParallel | None:
    """The data-parallel context of a training run: None to train alone.

    ``enabled=None`` follows the process group (data-parallel when one of more than one
    process is initialised); ``True`` requires one; ``False`` trains alone.
    """
    if enabled is False:
        return None
    if world_size() > 1:
        return DataParallel(dist.get_rank(), dist.get_world_size())
    if enabled:
        raise RuntimeError(
            "distributed=True needs a torch.distributed process group of more than one "
            "process: launch with torchrun --nproc-per-node N (see pyroclust.infer.distributed)"
        )
    return None


class _Trained(nn.Module):
    """The trained parameters as one module, for ``DistributedDataParallel`` to synchronise;
    its forward runs a loss closure (over the model and guide that hold those parameters)."""

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        super().__init__()
        for i, p in enumerate(params):
            if not isinstance(p, nn.Parameter):
                raise TypeError(
                    "distributed training synchronises nn.Parameter objects; a plain tensor "
                    f"of shape {tuple(p.shape)} was given as a trained parameter"
                )
            self.register_parameter(f"p{i}", p)

    def forward(self, loss: Callable[[], torch.Tensor]) -> torch.Tensor:  # noqa: D102
        return loss()


class DataParallel:
    """This process's part in a data-parallel run: rank, world size, the split of each
    global batch, the gradient synchronisation and the collectives of the trainer.

    Parameters
    ----------
    rank, world_size : int
        Of the initialised default process group.
    """

    def __init__(self, rank: int, world_size: int) -> None:
        self.rank = int(rank)
        self.world_size = int(world_size)
        self._ddp: nn.Module | None = None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (writes checkpoints, shows progress)."""
        return self.rank == 0

    # ------------------------------------------------------------ random state
    def seed(self, random_state: int | None, shuffle: torch.Generator) -> None:
        """Give each rank its own Monte-Carlo stream (rank 0 keeps ``random_state``'s, so a
        one-process run is unchanged) and every rank the shuffling stream of rank 0."""
        if random_state is not None and self.rank > 0:
            seed = np.random.SeedSequence([int(random_state), self.rank]).generate_state(1)[0]
            torch.manual_seed(int(seed))
        state = [shuffle.get_state() if self.is_main else None]
        dist.broadcast_object_list(state, src=0)
        shuffle.set_state(state[0])

    def gather_rng(self) -> list[torch.Tensor]:
        """Every rank's torch random state, in rank order (a collective)."""
        states: list[Any] = [None] * self.world_size
        dist.all_gather_object(states, torch.get_rng_state())
        return states

    def restore_rng(self, states: Sequence[torch.Tensor] | None) -> None:
        """Put back this rank's random state from :meth:`gather_rng`'s list when it was
        written by as many processes. Otherwise (another number of processes) rank 0 keeps
        the checkpoint's stream, already restored, and every other rank derives its own
        stream from it and its rank, so that the ranks do not draw the same noise."""
        if states is not None and len(states) == self.world_size:
            torch.set_rng_state(states[self.rank])
        elif self.rank > 0:
            base = int(torch.randint(2**31 - 1, (1,)).item())
            torch.manual_seed(int(np.random.SeedSequence([base, self.rank]).generate_state(1)[0]))

    # ------------------------------------------------------------ batches
    def steps_per_epoch(self, n: int, batch_size: int) -> int:
        """Optimiser steps per epoch over ``n`` rows with ``batch_size`` rows per rank: a
        last global batch that cannot give each rank two rows joins the one before it."""
        if n < self.world_size:
            raise ValueError(
                f"cannot train {self.world_size} processes on {n} rows: each needs at least one"
            )
        size = batch_size * self.world_size
        steps = -(-n // size)
        if steps > 1 and n % size and n % size < 2 * self.world_size:
            steps -= 1
        return steps

    def shard(self, idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's rows of the global batch ``idx``, and the factor its loss is weighted
        by so that the ranks' average is the global batch's estimate: ``W * m_r / m``
        (1 when the shards are equal)."""
        mine = idx[self.rank :: self.world_size]
        m = len(idx)
        weight = 1.0 if m % self.world_size == 0 else self.world_size * len(mine) / m
        return mine, weight

    # ------------------------------------------------------------ gradients
    def wrap(self, params: Sequence[torch.Tensor], device: torch.device) -> None:
        """Synchronise the gradients of ``params`` (those the loss uses) from now on; rank 0's
        values are broadcast to every rank first."""
        from torch.nn.parallel import DistributedDataParallel

        module = _Trained(params)
        device_ids = None
        if device.type == "cuda":  # "cuda" alone is this process's current GPU
            device_ids = [torch.cuda.current_device() if device.index is None else device.index]
        # the module holds no buffers (BatchNorm statistics stay each process's own; rank
        # 0's are the ones checkpointed)
        self._ddp = DistributedDataParallel(module, device_ids=device_ids)

    def loss(self, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Run the loss closure ``fn`` through ``DistributedDataParallel`` (its backward pass
        then averages the gradients over the ranks)."""
        if self._ddp is None:
            raise RuntimeError("wrap the trained parameters before computing a loss")
        return self._ddp(fn)

    def unwrap(self) -> None:
        """Stop synchronising (the gradient hooks go with the wrapper)."""
        self._ddp = None

    def average(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over the ranks of ``values`` (a collective)."""
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size

    def barrier(self) -> None:
        """Wait for every rank."""
        dist.barrier()
