"""Diagonal Gaussian components, the VaDE choice."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyroclust.components.base import ComponentFamily
from pyroclust.components.diag_normal import DiagNormal


class DiagonalGaussian(ComponentFamily):
    r"""p(z | y = k) = N(z; mu_k, diag(sigma_k^2)), the VaDE prior over z (Jiang et al., 2017).

    All densities are evaluated in log space,

    .. math:: \log p(z \mid k) = -\tfrac12 \sum_d \Big[\frac{(z_d - \mu_{kd})^2}{\sigma_{kd}^2}
              + \log 2\pi\sigma_{kd}^2\Big],

    so nothing underflows at hundreds of components and tens of dimensions; the mixture is
    formed by ``logsumexp`` over k (done by Pyro's enumeration). Against enumerated k, from
    65,536 (k, row, dimension) triples on, the density is two matrix products
    (:class:`~pyroclust.components.diag_normal.DiagNormal`), not a (K, batch, d) tensor: at
    K = 1,024 an SVI step is then tens of times faster.

    Parameters
    ----------
    n_components, latent_dim : int
    init_scale : float
        Spread of the random initial means; the initial scales are 1.
    """

    def __init__(self, n_components: int, latent_dim: int, *, init_scale: float = 1.0) -> None:
        super().__init__(n_components, latent_dim)
        self.loc = PyroParam(torch.randn(self.n_components, self.latent_dim) * init_scale)
        self.scale = PyroParam(
            torch.ones(self.n_components, self.latent_dim), constraint=constraints.positive
        )

    def forward(self, assignment: torch.Tensor) -> dist.Distribution:  # noqa: D102
        return DiagNormal(self.loc[assignment], self.scale[assignment])

    def set_from_moments(self, loc: torch.Tensor, var: torch.Tensor) -> None:  # noqa: D102
        self.loc = loc.detach().to(self.loc).clone()
        self.scale = var.detach().to(self.loc).clamp_min(1e-8).sqrt()
