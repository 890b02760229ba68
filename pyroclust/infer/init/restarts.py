"""Warm-up restarts chosen without labels: short warm-ups from fresh random initialisations,
the one whose warm-up objective ends lowest kept.

Where an unsupervised warm-up puts a factor of the data depends on its random start. On
coloured MNIST (70,000 rows, no view, VLAC K = [1, 4, 10, 1], a ``FreeBits(2)`` warm-up of 6
epochs) the lowest code held the digit at 0.77, 0.36, 0.50, 0.64 and 0.77 purity (UMAP + GMM,
K = 50) on seeds 0-4, the variation Locatello et al. (ICML 2019) found across disentangling
models. The same warm-ups' negative ELBOs per row, 569.9 to 600.6, ranked the three best codes
first and the two worst last, so the lowest objective is a label-free choice among them
(``benchmarks/RESULTS.md``, "What the no-view VLAE warm-up leaves in the lowest code").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pyroclust.datasets.streaming import sample_rows
from pyroclust.infer.elbo import make_elbo

#: Rows on which each restart's objective is estimated (a seeded choice of them).
SCORE_ROWS = 10_000

#: Draws of the guide per row in that estimate.
SCORE_DRAWS = 2

State = list[dict[str, torch.Tensor]]


def snapshot(modules: Sequence[nn.Module]) -> State:
    """A copy of each module's state (on the CPU): what :func:`restore` puts back."""
    return [{k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for m in modules]


def restore(modules: Sequence[nn.Module], states: State) -> None:
    """Load each module's state from :func:`snapshot`'s ``states``, in the same order."""
    if len(states) != len(modules):
        raise ValueError(f"{len(states)} saved states for {len(modules)} modules")
    for module, state in zip(modules, states, strict=True):
        module.load_state_dict(state)


def reinitialise(modules: Sequence[nn.Module], states: State, seed: int | None) -> None:
    """Put ``states`` back, then draw fresh values, seeded by ``seed`` (None: fresh
    randomness), for every submodule that has ``reset_parameters()`` (linear and
    convolutional layers); a parameter no such submodule owns (a mixture's component table)
    keeps its value in ``states``. The global random state is left as it was."""
    restore(modules, states)
    devices = sorted({p.device.index or 0 for m in modules for p in m.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(int(seed))
        for module in modules:
            for sub in module.modules():
                reset = getattr(sub, "reset_parameters", None)
                if callable(reset):
                    reset()


def objective_per_row(
    model: Any,
    guide: Any,
    x: torch.Tensor,
    loss: Callable[..., torch.Tensor] | None = None,
    *,
    seed: int = 0,
    rows: int = SCORE_ROWS,
    draws: int = SCORE_DRAWS,
    batch_size: int = 1024,
) -> float:
    """The warm-up objective per row, estimated on up to ``rows`` rows of ``x`` (a choice
    seeded by ``seed``) with ``draws`` draws of the guide each, the random stream seeded by
    ``seed`` so that two calls on two pairs compare like with like. ``loss`` is
    ``loss(model, guide, xb, *, data_size)`` (e.g. :class:`~pyroclust.infer.FreeBits`);
    None: the model's ELBO (:func:`~pyroclust.infer.elbo.make_elbo`). Evaluation mode, no
    gradients; the global random state is left as it was."""
    from pyroclust.predictive import evaluating

    subset = sample_rows(len(x), int(rows), seed)
    data = x if subset is None else x[torch.as_tensor(subset, device=x.device)]
    devices = [x.device] if x.device.type == "cuda" else []
    total = 0.0
    with torch.random.fork_rng(devices=devices), torch.no_grad(), evaluating(model, guide):
        torch.manual_seed(int(seed))
        elbo = None if loss is not None else make_elbo(model, data[:2], guide=guide)
        for xb in torch.split(data, int(batch_size)):
            for _ in range(int(draws)):
                if loss is not None:
                    value = loss(model, guide, xb, data_size=len(xb))
                else:
                    value = elbo.differentiable_loss(model, guide, xb, data_size=len(xb))
                total += float(value) / int(draws)
    return total / len(data)


def best_restart(scores: Sequence[float]) -> int:
    """The position of the lowest finite score; ``ValueError`` when none is finite."""
    values = np.asarray([float(s) for s in scores], dtype=np.float64)
    if not np.isfinite(values).any():
        raise ValueError(f"no warm-up restart ended with a finite objective: {values.tolist()}")
    return int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))


__all__ = [
    "SCORE_DRAWS",
    "SCORE_ROWS",
    "best_restart",
    "objective_per_row",
    "reinitialise",
    "restore",
    "snapshot",
]
