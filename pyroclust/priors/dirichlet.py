"""A Dirichlet prior over the mixture weights, with a variational Dirichlet posterior."""

from __future__ import annotations

from typing import Any

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyroclust.priors.base import WeightGuide, WeightPrior, bayesian_start_mixture
from pyroclust.sites import WEIGHTS

CONCENTRATION = "concentration"
"""Site of the concentration alpha (a constant, recorded for inspection)."""


def _as_concentration(value: float | torch.Tensor | list[float], name: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.ndim > 1 or t.numel() == 0 or not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"{name} must be a positive scalar or a positive vector, got {value!r}")
    return t


class Dirichlet(WeightPrior):
    r"""pi ~ Dirichlet(alpha): a Bayesian prior over the mixture weights (site ``"weights"``).

    Generative story (the rest of the model is unchanged):

    .. math:: \pi \sim \mathrm{Dir}(\alpha_1, \dots, \alpha_K), \qquad
              y_n \mid \pi \sim \mathrm{Categorical}(\pi).

    ``alpha < 1`` favours sparse weights (few clusters in use), ``alpha = 1`` is uniform on the
    simplex, ``alpha > 1`` pulls towards equal weights, which counters the "trivial
    parametrisation" where one cluster takes every point (Jiang et al., 2017 learn pi as a
    point estimate; the Dirichlet alternative is discussed in the nightingale report,
    "Extending a Variational Autoencoder with a Gaussian Mixture model to cluster
    Nightingale's songs").

    The variational posterior (:meth:`make_guide`) is :math:`q(\pi) = \mathrm{Dir}(\beta)` with
    a learned positive vector :math:`\beta`; it is the exact family of the conjugate posterior
    :math:`\mathrm{Dir}(\alpha + n)` given cluster counts :math:`n`. The ``"weights"`` site is
    global (outside the ``"data"`` plate), so with mini-batches its KL term enters the ELBO
    once per step while the local terms are scaled by ``data_size / batch_size``: each step
    is an unbiased estimate of the full-data ELBO.

    Parameters
    ----------
    alpha : float or sequence of float
        Concentration: a scalar (symmetric prior) or a vector of length n_components.

    Examples
    --------
    >>> prior = Dirichlet(0.5).build(4)
    >>> prior().shape
    torch.Size([4])
    >>> float(prior.mean().sum())
    1.0
    """

    def __init__(self, alpha: float | torch.Tensor | list[float] = 1.0) -> None:
        super().__init__()
        self._alpha = _as_concentration(alpha, "alpha")
        if self._alpha.ndim == 1:
            self.build(len(self._alpha))

    def setup(self) -> None:  # noqa: D102
        alpha = self._alpha.expand(self.n_components) if self._alpha.ndim == 0 else self._alpha
        self.register_buffer("alpha", alpha.clone())

    def forward(self) -> torch.Tensor:  # noqa: D102
        self._check_built()
        # the fixed hyper-parameter, recorded so that posterior summaries show it
        pyro.deterministic(self.site(CONCENTRATION), self.alpha, event_dim=1)
        return pyro.sample(self.site(WEIGHTS), dist.Dirichlet(self.alpha))

    def make_guide(self) -> DirichletGuide:
        """q(pi) = Dir(beta) with a learned positive beta, started at the prior."""
        self._check_built()
        return self._named(DirichletGuide(self.alpha))

    def mean(self) -> torch.Tensor:
        """The prior mean alpha / sum(alpha)."""
        self._check_built()
        return (self.alpha / self.alpha.sum()).detach()

    def start_mixture(
        self,
        n_components: int,
        *,
        covariance_type: str = "full",
        n_init: int = 5,
        random_state: int | None = None,
    ) -> Any:
        """A variational Bayesian Gaussian mixture with this symmetric Dirichlet prior
        (:func:`~pyroclust.priors.base.bayesian_start_mixture`), which leaves the
        components the data do not need empty; a concentration that differs between
        components has no such form there, and gets the fixed-K mixture of the base class."""
        self._check_built()
        alpha = self.alpha
        if not bool((alpha == alpha[0]).all()):
            return super().start_mixture(
                n_components,
                covariance_type=covariance_type,
                n_init=n_init,
                random_state=random_state,
            )
        return bayesian_start_mixture(
            n_components,
            "dirichlet_distribution",
            float(alpha[0]),
            covariance_type=covariance_type,
            n_init=n_init,
            random_state=random_state,
        )


class DirichletGuide(WeightGuide):
    r"""q(pi) = Dir(beta), beta > 0 learned (site ``"weights"``).

    Parameters
    ----------
    alpha : tensor of shape (n_components,)
        The prior's concentration: the starting value of beta, and the base of
        :meth:`set_weights`.
    """

    def __init__(self, alpha: torch.Tensor) -> None:
        super().__init__()
        alpha = torch.as_tensor(alpha, dtype=torch.float32)
        self.register_buffer("alpha", alpha.detach().clone())
        self.concentration = PyroParam(alpha.detach().clone(), constraint=constraints.positive)

    def forward(self) -> torch.Tensor:  # noqa: D102
        return pyro.sample(self.site(WEIGHTS), dist.Dirichlet(self.concentration))

    def set_weights(self, pi: torch.Tensor, n_samples: int | None = None) -> None:
        """Centre q at ``pi`` as the conjugate posterior would: beta = alpha + pi * n.

        ``n_samples`` (the number of data points behind ``pi``) defaults to n_components,
        a weak start.
        """
        n = float(n_samples) if n_samples is not None else float(len(self.alpha))
        pi = pi.detach().to(self.alpha)
        self.concentration = (self.alpha + pi / pi.sum() * n).clamp_min(1e-3)

    def mean(self) -> torch.Tensor:
        """The posterior mean beta / sum(beta)."""
        beta = self.concentration
        return (beta / beta.sum()).detach()
