"""Where the trainer's mini-batches come from: tensors on the device, or rows streamed from
disk chunk by chunk (:class:`~pyroclust.datasets.streaming.ArrayStream`, or a memory-mapped
array as a :class:`~pyroclust.datasets.streaming.MappedArray`), with row-aligned tensors
held in memory beside them (the start's labels of each row, say).

Each source yields, for one epoch, ``(index, tensors)`` pairs: the rows ``index`` of the
row-aligned ``tensors`` form the next global batch (which a data-parallel run then splits
over its processes). How many batches a block of ``m`` rows makes is the trainer's rule
(``plan(m)``), so a last short batch is handled the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

#: ``plan(m)``: the number of batches a block of ``m`` rows is cut into.
Plan = Callable[[int], int]

Batches = Iterator[tuple[torch.Tensor, tuple[torch.Tensor, ...]]]


def _cut(order: torch.Tensor, tensors: tuple[torch.Tensor, ...], size: int, steps: int) -> Batches:
    """``steps`` batches of ``size`` rows of ``order`` (the last takes the rest)."""
    for i in range(steps):
        end = (i + 1) * size if i < steps - 1 else len(order)
        yield order[i * size : end], tensors


class InMemory:
    """Row-aligned tensors held on the device: each epoch visits every row once in a random
    order."""

    def __init__(self, tensors: tuple[torch.Tensor, ...], device: torch.device) -> None:
        self.tensors = tuple(t.to(device) for t in tensors)
        self.device = device
        self.n = len(self.tensors[0])

    def probe(self, rows: int) -> tuple[torch.Tensor, ...]:
        """The first ``rows`` rows (an example batch)."""
        return tuple(t[: min(self.n, rows)] for t in self.tensors)

    def steps(self, plan: Plan) -> int:
        """Batches of one epoch."""
        return plan(self.n)

    def epoch(self, shuffle: torch.Generator, size: int, plan: Plan) -> Batches:
        """The batches of one epoch, in an order drawn from ``shuffle``."""
        order = torch.randperm(self.n, generator=shuffle).to(self.device)
        return _cut(order, self.tensors, size, plan(self.n))


class Streamed:
    """Rows read from disk a chunk at a time: each epoch visits the chunks in a random order
    and the rows of each in a random order, so only one chunk is in memory (a shuffle
    within chunks, as data loaders over shards do; chunks of many rows mix well).

    With a single chunk (``chunk_size`` at least the number of rows) an epoch draws the
    same order as :class:`InMemory`, so a streamed run equals the in-memory one exactly.

    Parameters
    ----------
    stream : ArrayStream
    device : torch.device
    chunk_size : int
        Rows read at once; a multiple of the batch size keeps every batch full.
    extras : tuple of tensors
        Tensors held in memory with one row per row of ``stream`` (labels, weights), batched
        with its rows: a batch is ``(rows of stream, *rows of extras)``.
    """

    def __init__(
        self,
        stream: Any,
        device: torch.device,
        chunk_size: int,
        extras: tuple[torch.Tensor, ...] = (),
    ) -> None:
        self.stream = stream
        self.device = device
        self.spans = stream.spans(chunk_size)
        self.n = len(stream)
        self.offsets = stream.offsets
        for extra in extras:
            if len(extra) != self.n:
                raise ValueError(
                    f"the tensors of data must have the same number of rows, got {self.n} "
                    f"rows on disk and a tensor of shape {tuple(extra.shape)}"
                )
        self.extras = tuple(torch.as_tensor(t).to(device) for t in extras)

    def _rows(self, span: tuple[int, int, int]) -> tuple[torch.Tensor, ...]:
        shard, start, stop = span
        first = self.offsets[shard]
        rows = torch.from_numpy(self.stream.read(span)).to(self.device)
        return (rows, *(t[first + start : first + stop] for t in self.extras))

    def probe(self, rows: int) -> tuple[torch.Tensor, ...]:
        """The first ``rows`` rows (an example batch)."""
        import numpy as np

        m = min(rows, self.n)
        first = torch.from_numpy(self.stream.take(np.arange(m))).to(self.device)
        return (first, *(t[:m] for t in self.extras))

    def steps(self, plan: Plan) -> int:
        """Batches of one epoch: each chunk's, summed."""
        return sum(plan(stop - start) for _, start, stop in self.spans)

    def epoch(self, shuffle: torch.Generator, size: int, plan: Plan) -> Batches:
        """The batches of one epoch, chunk after chunk, in orders drawn from ``shuffle``."""
        for j in torch.randperm(len(self.spans), generator=shuffle).tolist():
            rows = self._rows(self.spans[j])
            m = len(rows[0])
            order = torch.randperm(m, generator=shuffle).to(self.device)
            yield from _cut(order, rows, size, plan(m))
