"""Runs of a model that must not move its buffers (BatchNorm's running statistics)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def kept_buffers(*modules: torch.nn.Module) -> Iterator[None]:
    """Restore every buffer of ``modules`` to its value on entry, on exit.

    The trainer runs model and guide on a probe batch before training (to choose the ELBO,
    to create lazily built parameters, to compile a fast path); in training mode each such
    run would move BatchNorm's running statistics by one momentum step towards a batch the
    fit never trains on. Inside this context they do not: a fit of zero epochs leaves the
    modules as they were.

    Examples
    --------
    >>> bn = torch.nn.BatchNorm1d(2)
    >>> with kept_buffers(bn):
    ...     _ = bn(torch.randn(8, 2) + 5)
    >>> bn.running_mean
    tensor([0., 0.])
    """
    seen: dict[int, torch.Tensor] = {}
    for module in modules:
        for buffer in module.buffers():
            seen.setdefault(id(buffer), buffer)
    saved = [(b, b.detach().clone()) for b in seen.values()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
