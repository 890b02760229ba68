"""Weights that are fixed or learned as a point estimate."""

from __future__ import annotations

import pyro
import torch
from torch import nn

from pyroclust.priors.base import WeightPrior
from pyroclust.sites import WEIGHTS


class Fixed(WeightPrior):
    """Fixed mixture weights pi (not learned), emitted as a deterministic ``"weights"`` site.

    Parameters
    ----------
    weights : sequence of float or tensor, optional
        The weights, normalised to sum to 1. When omitted, uniform.
    """

    def __init__(self, weights: torch.Tensor | list[float] | None = None) -> None:
        super().__init__()
        self._given = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if self._given is not None:
            if self._given.ndim != 1 or (self._given < 0).any() or self._given.sum() <= 0:
                raise ValueError("weights must be a non-negative vector with a positive sum")
            self.build(len(self._given))

    def setup(self) -> None:  # noqa: D102
        w = self._given if self._given is not None else torch.ones(self.n_components)
        self.register_buffer("pi", w / w.sum())

    def forward(self) -> torch.Tensor:  # noqa: D102
        self._check_built()
        return pyro.deterministic(self.site(WEIGHTS), self.pi, event_dim=1)

    def mean(self) -> torch.Tensor:  # noqa: D102
        return self.pi


class Uniform(Fixed):
    """Fixed uniform weights pi_k = 1 / K."""

    def __init__(self) -> None:
        super().__init__(None)


class Learned(WeightPrior):
    """Mixture weights learned as a point estimate, pi = softmax(logits) (as in VaDE).

    This is maximum likelihood for pi: nothing stops one component from growing until it takes
    every point (the "trivial parametrisation" of the nightingale report); the Dirichlet,
    stick-breaking and Zipf priors exist to prevent that.
    """

    def setup(self) -> None:  # noqa: D102
        self.logits = nn.Parameter(torch.zeros(self.n_components))

    def forward(self) -> torch.Tensor:  # noqa: D102
        self._check_built()
        return pyro.deterministic(self.site(WEIGHTS), torch.softmax(self.logits, -1), event_dim=1)

    def set_weights(self, pi: torch.Tensor) -> None:  # noqa: D102
        with torch.no_grad():
            self.logits.copy_(pi.to(self.logits).clamp_min(1e-8).log())

    def mean(self) -> torch.Tensor:  # noqa: D102
        return torch.softmax(self.logits, -1).detach()
