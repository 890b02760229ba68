"""A truncated stick-breaking (Dirichlet-process) prior over the mixture weights."""

from __future__ import annotations

import math
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyroclust.priors.base import WeightGuide, WeightPrior, bayesian_start_mixture, distribution_on
from pyroclust.sites import WEIGHTS

#: Name of the stick-proportion site v_1 .. v_{K-1}.
STICKS = "sticks"
CONCENTRATION = "concentration"
"""Site of the concentration alpha: deterministic (recorded for inspection) when alpha is
fixed or learned as a point estimate, a latent site when it has a prior."""


def stick_breaking_log_weights(sticks: torch.Tensor) -> torch.Tensor:
    r"""log pi from stick proportions, in log space.

    .. math:: \log\pi_k = \log v_k + \sum_{j<k}\log(1 - v_j) \;(k < K), \qquad
              \log\pi_K = \sum_{j<K}\log(1 - v_j).

    Parameters
    ----------
    sticks : tensor of shape (..., K - 1), values in (0, 1)

    Returns
    -------
    tensor of shape (..., K): log weights; exp of it sums to 1.
    """
    tiny = torch.finfo(sticks.dtype).tiny
    log_v = sticks.clamp_min(tiny).log()
    log_rest = torch.log1p(-sticks.clamp_max(1.0 - torch.finfo(sticks.dtype).eps))
    left = torch.cumsum(log_rest, -1)  # log of what is left after stick k
    before = torch.cat([torch.zeros_like(left[..., :1]), left], -1)  # left before stick k
    own = torch.cat([log_v, torch.zeros_like(log_v[..., :1])], -1)
    return own + before


def weights_to_sticks(pi: torch.Tensor) -> torch.Tensor:
    """Inverse of the stick-breaking map: v_k = pi_k / (1 - sum_{j<k} pi_j), shape (..., K-1)."""
    pi = pi / pi.sum(-1, keepdim=True)
    left = (1.0 - torch.cumsum(pi, -1) + pi)[..., :-1]  # mass left before stick k
    return (pi[..., :-1] / left.clamp_min(1e-12)).clamp(1e-6, 1.0 - 1e-6)


class StickBreaking(WeightPrior):
    r"""Truncated stick-breaking prior (Dirichlet process, GEM(alpha)) over the weights.

    Generative story, truncated at K = n_components (Sethuraman, 1994; Blei & Jordan, 2006):

    .. math::
        v_k &\sim \mathrm{Beta}(1, \alpha), \quad k = 1, \dots, K - 1
            &\text{(site ``sticks``, event dim 1)}\\
        \pi_k &= v_k \prod_{j<k} (1 - v_j), \qquad \pi_K = \prod_{j<K} (1 - v_j)
            &\text{(deterministic site ``weights``)}

    so the weights sum to 1 exactly within the truncation. With a small concentration
    ``alpha`` the weights decay fast in k: components the data do not need get negligible
    weight and switch off, so K is an upper bound rather than the number of clusters. The
    component order matters (component 0 is the first stick), so ``ordered = True`` asks the
    initialisation strategies to give the largest initial cluster the first stick.

    The variational posterior (:meth:`make_guide`) is mean-field,
    :math:`q(v) = \prod_k \mathrm{Beta}(v_k; a_k, b_k)` with learned positive ``a``, ``b``
    (the family of the conjugate posterior).

    The concentration sets the mass the prior leaves for clusters beyond those in use, the
    Chinese restaurant's "new table" probability :math:`\alpha / (N + \alpha)`: with a fixed
    :math:`\alpha = 1` and 200,000 points, a component after all the clusters in use gets a
    weight of about :math:`\alpha / N = 5 \cdot 10^{-6}`. A larger alpha raises it, but in
    VaDE it did not open more clusters: on 1,000 Zipf-sized clusters (``benchmarks/scale.py``,
    K = 1,024) a learned alpha of 49 kept 345 clusters of 50 points or more, alpha = 1 kept
    355 (``benchmarks/RESULTS.md``); the clusters come from the start. Three ways to set it:

    - ``StickBreaking(alpha)``: fixed;
    - ``StickBreaking(alpha, learn_alpha=True)``: a positive point estimate (a ``PyroParam``,
      started at ``alpha``): SVI maximises the ELBO over it, the type-II maximum likelihood
      :math:`\hat\alpha = -(K - 1) / \sum_k E_q \log(1 - v_k)`, which grows with the
      number of clusters the data hold;
    - ``StickBreaking(alpha, prior=dist.Gamma(1.0, 1.0))``: alpha a latent site
      ``"concentration"`` with that prior (Escobar & West, 1995; Blei & Jordan, 2006, use a
      Gamma) and a variational :math:`q(\alpha) = \mathrm{LogNormal}(m, \sigma)` from
      :meth:`make_guide`, started at ``alpha``.

    Parameters
    ----------
    alpha : float
        Concentration of the process (> 0), or its starting value when learned or inferred;
        the prior expects about :math:`\alpha \log(1 + N/\alpha)` clusters for N points.
    learn_alpha : bool
        Learn alpha as a point estimate.
    prior : Distribution, optional
        A prior over alpha (positive support, scalar): alpha becomes a latent site.

    Examples
    --------
    >>> prior = StickBreaking(1.0).build(5)
    >>> round(float(prior().sum()), 5)
    1.0
    """

    ordered = True

    def __init__(
        self,
        alpha: float = 1.0,
        learn_alpha: bool = False,
        prior: dist.Distribution | None = None,
    ) -> None:
        super().__init__()
        alpha = float(alpha)
        if not alpha > 0 or alpha == float("inf"):
            raise ValueError(f"alpha must be positive and finite, got {alpha}")
        if learn_alpha and prior is not None:
            raise ValueError("give either learn_alpha=True (point estimate) or a prior, not both")
        if prior is not None and prior.event_shape != torch.Size():
            raise ValueError("the prior over the concentration alpha must be over a scalar")
        self.alpha = alpha
        self.learn_alpha = bool(learn_alpha)
        self.prior = prior
        if self.learn_alpha:
            self.learned_alpha = PyroParam(torch.tensor(alpha), constraint=constraints.positive)

    def setup(self) -> None:  # noqa: D102
        k = self.n_components - 1
        self.register_buffer("stick_a", torch.ones(k))
        self.register_buffer("stick_b", torch.full((k,), self.alpha))

    def concentration(self) -> torch.Tensor:
        """The concentration alpha now: the fixed value, or the point estimate; with a prior
        over alpha, the prior mean (the posterior is the guide's)."""
        if self.learn_alpha:
            return self.learned_alpha.detach()
        if self.prior is not None:
            mean = torch.as_tensor(self.prior.mean, dtype=self.stick_b.dtype)
            return mean.to(self.stick_b.device).detach()
        return self.stick_b.new_tensor(self.alpha)

    def forward(self) -> torch.Tensor:  # noqa: D102
        k = self._check_built()
        if self.prior is not None and k > 1:
            alpha = pyro.sample(self.site(CONCENTRATION), distribution_on(self.prior, self.stick_b))
        else:  # fixed or a point estimate, recorded so that posterior summaries show it
            value = self.learned_alpha if self.learn_alpha else self.stick_b.new_tensor(self.alpha)
            alpha = pyro.deterministic(self.site(CONCENTRATION), value)
        if k == 1:
            return pyro.deterministic(self.site(WEIGHTS), self.stick_b.new_ones(1), event_dim=1)
        b = alpha.unsqueeze(-1).expand(*alpha.shape, k - 1)
        v = pyro.sample(self.site(STICKS), dist.Beta(self.stick_a, b).to_event(1))
        return pyro.deterministic(
            self.site(WEIGHTS), stick_breaking_log_weights(v).exp(), event_dim=1
        )

    def make_guide(self) -> StickBreakingGuide | None:
        """Mean-field Beta posteriors over the sticks, and q(alpha) = LogNormal when alpha has
        a prior (None for a single component)."""
        self._check_built()
        if self.n_components == 1:
            return None
        return self._named(
            StickBreakingGuide(self.n_components, self.alpha, infer_alpha=self.prior is not None)
        )

    def mean(self) -> torch.Tensor:
        r"""Prior mean of pi: :math:`E\pi_k = E v_k \prod_{j<k} E(1 - v_j)` (independent sticks),
        at the current alpha; with a prior over alpha, averaged over it (Monte Carlo, 4096
        draws from a fixed seed)."""
        k = self._check_built()
        if k == 1:
            return self.stick_b.new_ones(1)
        if self.prior is None:
            return _mean_weights(self.stick_a, self.concentration().expand(k - 1))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            alpha = self.prior.sample((4096,)).to(self.stick_b)
        b = alpha.unsqueeze(-1).expand(4096, k - 1)
        return _mean_weights(self.stick_a.expand_as(b), b).mean(0)

    def start_mixture(
        self,
        n_components: int,
        *,
        covariance_type: str = "full",
        n_init: int = 5,
        random_state: int | None = None,
    ) -> Any:
        """A variational Dirichlet-process Gaussian mixture with this concentration
        (:func:`~pyroclust.priors.base.bayesian_start_mixture`): the start keeps the
        clusters the data show and leaves the other components empty."""
        return bayesian_start_mixture(
            n_components,
            "dirichlet_process",
            self.alpha,
            covariance_type=covariance_type,
            n_init=n_init,
            random_state=random_state,
        )


def _mean_weights(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ev = a / (a + b)
    rest = torch.cumprod(1.0 - ev, -1)
    before = torch.cat([torch.ones_like(rest[..., :1]), rest], -1)
    own = torch.cat([ev, torch.ones_like(ev[..., :1])], -1)
    return (own * before).detach()


class StickBreakingGuide(WeightGuide):
    r"""q(v) = prod_k Beta(v_k; a_k, b_k), a, b > 0 learned (site ``"sticks"``); with
    ``infer_alpha``, also :math:`q(\alpha) = \mathrm{LogNormal}(m, \sigma)` (site
    ``"concentration"``), independent of the sticks (mean field).

    Parameters
    ----------
    n_components : int
    alpha : float
        The prior's concentration (start of b, and base of :meth:`set_weights`); with
        ``infer_alpha``, also the start of q(alpha): m = log(alpha), sigma = 0.1.
    infer_alpha : bool
        Sample the concentration site too (the prior has a prior over alpha).
    """

    def __init__(self, n_components: int, alpha: float, infer_alpha: bool = False) -> None:
        super().__init__()
        k = int(n_components) - 1
        if k < 1:
            raise ValueError("a stick-breaking guide needs at least 2 components")
        self.n_components = int(n_components)
        self.alpha = float(alpha)
        self.a = PyroParam(torch.ones(k), constraint=constraints.positive)
        self.b = PyroParam(torch.full((k,), self.alpha), constraint=constraints.positive)
        self.infer_alpha = bool(infer_alpha)
        if self.infer_alpha:
            self.alpha_loc = PyroParam(torch.tensor(math.log(self.alpha)))
            self.alpha_scale = PyroParam(torch.tensor(0.1), constraint=constraints.positive)

    def forward(self) -> torch.Tensor:  # noqa: D102
        if self.infer_alpha:
            pyro.sample(self.site(CONCENTRATION), dist.LogNormal(self.alpha_loc, self.alpha_scale))
        return pyro.sample(self.site(STICKS), dist.Beta(self.a, self.b).to_event(1))

    def set_weights(self, pi: torch.Tensor, n_samples: int | None = None) -> None:
        r"""Centre q at ``pi`` as the conjugate posterior would, with counts
        :math:`n_k = \pi_k n`: :math:`a_k = 1 + n_k`, :math:`b_k = \alpha + \sum_{j>k} n_j`.

        ``n_samples`` (data points behind ``pi``) defaults to n_components, a weak start.
        """
        n = float(n_samples) if n_samples is not None else float(self.n_components)
        pi = pi.detach().to(self.a)
        counts = pi / pi.sum() * n
        after = counts.flip(-1).cumsum(-1).flip(-1)[1:]  # sum_{j>k} n_j for k < K
        self.a = (1.0 + counts[:-1]).clamp_min(1e-3)
        self.b = (self.alpha + after).clamp_min(1e-3)

    def mean(self) -> torch.Tensor:
        r"""Posterior mean of pi, exact under the mean-field q:
        :math:`E\pi_k = E v_k \prod_{j<k} E(1 - v_j)`."""
        return _mean_weights(self.a, self.b)
