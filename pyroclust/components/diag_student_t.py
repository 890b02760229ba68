r"""A multivariate Student-t with a diagonal scale, whose log-density against many components is
a pair of matrix products.

.. math:: \log t_\nu(z; \mu, \operatorname{diag}\sigma^2) = \log\Gamma\big(\tfrac{\nu + d}{2}\big)
          - \log\Gamma\big(\tfrac{\nu}{2}\big) - \tfrac d2 \log(\nu\pi) - \sum_d \log\sigma_d
          - \tfrac{\nu + d}{2} \log\Big(1 + \frac{1}{\nu}\sum_d
            \frac{(z_d - \mu_d)^2}{\sigma_d^2}\Big)

It is a Gaussian scale mixture: z = mu + sigma * eps / sqrt(u), eps ~ N(0, I) and
u ~ Gamma(nu / 2, nu / 2) shared by all d dimensions, so a code far from the mean in one
dimension is far in all (unlike :class:`~pyroclust.components.StudentT`, a product of d
univariate t's). The density depends on z only through the quadratic form, which against K
components expands into matrix products as :class:`~pyroclust.components.DiagNormal`'s does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import _standard_normal

from pyroclust.components.diag_normal import DiagLocScale


class DiagStudentT(DiagLocScale):
    r"""Multivariate t_df(loc, diag(scale^2)) over the last dimension, with a shared scalar df.

    Equal to ``pyro.distributions.MultivariateStudentT(df, loc, torch.diag_embed(scale))``
    (``tests/components/test_diag_student_t.py`` checks it in float64), with a fast path for
    components against codes: when each batch dimension is of size 1 either in the parameters
    as given or in the value (K components against B codes, as enumeration produces) and the
    tensors are large, the quadratic form is two matrix products in float64, not a
    (K, B, d) tensor. ``rsample`` is reparameterised in loc and scale (the chi-square draw is
    not differentiated in df).
    """

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }

    def __init__(
        self,
        df: torch.Tensor | float,
        loc: torch.Tensor,
        scale: torch.Tensor,
        validate_args: bool | None = None,
    ) -> None:
        df = torch.as_tensor(df, dtype=loc.dtype, device=loc.device)
        if df.dim() != 0:
            raise ValueError(f"df must be a scalar, got shape {tuple(df.shape)}")
        self.df = df
        super().__init__(loc, scale, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> DiagStudentT:  # noqa: D102
        new = self._get_checked_instance(DiagStudentT, _instance)
        new.df = self.df
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self) -> torch.Tensor:  # noqa: D102
        return self.loc.masked_fill(self.df <= 1, math.nan)

    @property
    def variance(self) -> torch.Tensor:  # noqa: D102
        factor = torch.where(self.df > 2, self.df / (self.df - 2), torch.inf)
        return self.scale.pow(2) * factor

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:  # noqa: D102
        shape = self._extended_shape(torch.Size(sample_shape))
        eps = _standard_normal(shape, dtype=self.loc.dtype, device=self.loc.device)
        chi2 = torch.distributions.Chi2(self.df.detach()).sample(shape[:-1]).unsqueeze(-1)
        return self.loc + self.scale * eps * torch.rsqrt(chi2 / self.df)

    def _density(self, quad: torch.Tensor, log_sigma: torch.Tensor, d: int) -> torch.Tensor:
        nu = self.df.to(quad.dtype)
        log_norm = torch.lgamma(0.5 * (nu + d)) - torch.lgamma(0.5 * nu)
        log_norm = log_norm - 0.5 * d * torch.log(nu * math.pi)
        return log_norm - log_sigma - 0.5 * (nu + d) * torch.log1p(quad / nu)
