"""Heavy-tailed Student-t components, a product of univariate t's."""

from __future__ import annotations

import pyro.distributions as dist
import torch

from pyroclust.components.base import LocScaleDfFamily


class StudentT(LocScaleDfFamily):
    r"""p(z | y = k) = prod_d StudentT(z_d; nu, mu_kd, sigma_kd), robust to outlying codes.

    The degrees of freedom ``df`` are shared and fixed (or learned with ``learn_df=True``).
    Densities are evaluated in log space, as for :class:`DiagonalGaussian`. Each dimension
    has its own tail weight, so a code far off in one dimension is penalised in that one
    only; :class:`MultivariateStudentT` shares it across the dimensions.
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
        super().__init__(n_components, latent_dim, df=df, learn_df=learn_df, init_scale=init_scale)

    def forward(self, assignment: torch.Tensor) -> dist.Distribution:  # noqa: D102
        return dist.StudentT(self.df, self.loc[assignment], self.scale[assignment]).to_event(1)
