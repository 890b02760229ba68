"""Diagonal Gaussian likelihood for real-valued data."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyroclust.likelihoods.base import Likelihood


class Gaussian(Likelihood):
    r"""Independent Gaussian features with mean from the decoder.

    .. math:: x_d \mid h \sim \mathcal N(h_d, \sigma_d^2)

    Parameters
    ----------
    n_features : int, optional
        Needed only when ``learn_scale`` is true: one learned scale per feature.
    scale : float
        The fixed (or initial) observation noise standard deviation.
    learn_scale : bool
        Learn one positive scale per feature as a point estimate.
    """

    support = "real"

    def __init__(
        self, scale: float = 1.0, *, learn_scale: bool = False, n_features: int | None = None
    ) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.learn_scale = bool(learn_scale)
        if learn_scale:
            if n_features is None:
                raise ValueError("learn_scale=True needs n_features")
            self.scale = PyroParam(
                torch.full((int(n_features),), float(scale)), constraint=constraints.positive
            )
        else:
            self.register_buffer("scale", torch.tensor(float(scale)))

    def distribution(self, params: torch.Tensor) -> dist.Distribution:  # noqa: D102
        return dist.Normal(params, self.scale).to_event(1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return params
