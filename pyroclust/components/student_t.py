"""Heavy-tailed Student-t components."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyroclust.components.base import ComponentFamily


class StudentT(ComponentFamily):
    r"""p(z | y = k) = prod_d StudentT(z_d; nu, mu_kd, sigma_kd), robust to outlying codes.

    The degrees of freedom ``df`` are shared and fixed (or learned with ``learn_df=True``).
    Densities are evaluated in log space, as for :class:`DiagonalGaussian`.
    """

    def __init__(
        self,
        n_components: int,
        latent_dim: int,
        *,
        df: float = 3.0,
        learn_df: bool = False,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__(n_components, latent_dim)
        if df <= 0:
            raise ValueError(f"df must be positive, got {df}")
        self.loc = PyroParam(torch.randn(self.n_components, self.latent_dim) * init_scale)
        self.scale = PyroParam(
            torch.ones(self.n_components, self.latent_dim), constraint=constraints.positive
        )
        if learn_df:
            self.df = PyroParam(torch.tensor(float(df)), constraint=constraints.positive)
        else:
            self.register_buffer("df", torch.tensor(float(df)))

    def forward(self, assignment: torch.Tensor) -> dist.Distribution:  # noqa: D102
        return dist.StudentT(self.df, self.loc[assignment], self.scale[assignment]).to_event(1)

    def set_from_moments(self, loc: torch.Tensor, var: torch.Tensor) -> None:  # noqa: D102
        self.loc = loc.detach().to(self.loc).clone()
        # match the variance: Var = scale^2 * df / (df - 2) for df > 2
        df = float(self.df)
        factor = (df - 2.0) / df if df > 2 else 1.0
        self.scale = (var.detach().to(self.loc).clamp_min(1e-8) * factor).sqrt()
