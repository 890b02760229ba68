"""Heavy-tailed multivariate Student-t components with a diagonal scale."""

from __future__ import annotations

import pyro.distributions as dist
import torch

from pyroclust.components.base import LocScaleDfFamily
from pyroclust.components.diag_student_t import DiagStudentT


class MultivariateStudentT(LocScaleDfFamily):
    r"""p(z | y = k) = t_nu(z; mu_k, diag(sigma_k^2)), the multivariate Student-t.

    The t-mixture of Peel & McLachlan (2000), "Robust mixture modelling using the t
    distribution" (Statistics and Computing 10: 339-348): each component is a Gaussian whose
    precision is scaled by a per-code weight u ~ Gamma(nu / 2, nu / 2),

    .. math:: z \mid y = k, u \sim N(\mu_k, \operatorname{diag}(\sigma_k^2) / u),

    so codes far from every mean (the rows of clusters too small to have a component of
    their own, outliers) are absorbed by the tails of the nearest component instead of
    pulling its mean and variance or claiming a component of their own. As nu grows it
    becomes :class:`DiagonalGaussian`. Unlike :class:`StudentT` (a product of univariate t's
    per dimension), the tail weight is shared by the dimensions, the density depends on z
    only through the Mahalanobis distance, and against enumerated k it is two matrix
    products (:class:`~pyroclust.components.diag_student_t.DiagStudentT`), as fast as the
    Gaussian's. Densities are evaluated in log space.

    Parameters
    ----------
    n_components, latent_dim : int
    df : float
        Degrees of freedom nu, shared by the components; 4 by default, the robust choice of
        Lange, Little & Taylor (1989, JASA 84: 881-896). Fixed unless ``learn_df``.
    learn_df : bool
        Learn nu as a point estimate (it then tends to grow where the codes are Gaussian).
    init_scale : float
        Spread of the random initial means; the initial scales are 1.

    :meth:`set_from_moments` matches the variance, scale^2 nu / (nu - 2) = var.
    """

    def __init__(
        self,
        n_components: int,
        latent_dim: int,
        *,
        df: float = 4.0,
        learn_df: bool = False,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__(n_components, latent_dim, df=df, learn_df=learn_df, init_scale=init_scale)

    def forward(self, assignment: torch.Tensor) -> dist.Distribution:  # noqa: D102
        return DiagStudentT(self.df, self.loc[assignment], self.scale[assignment])
