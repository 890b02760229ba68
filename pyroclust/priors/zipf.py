"""Zipf-law mixture weights: pi_k proportional to k^-s, with s fixed, learned or inferred."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyroclust.priors.base import WeightGuide, WeightPrior, distribution_on
from pyroclust.sites import WEIGHTS

#: Name of the exponent site.
EXPONENT = "zipf_exponent"


def zipf_log_weights(exponent: torch.Tensor, n_components: int) -> torch.Tensor:
    r"""log pi_k = -s log k - log sum_j j^-s for ranks k = 1..K, in log space.

    Parameters
    ----------
    exponent : tensor of shape (...,)
        The exponent s (any batch shape).
    n_components : int

    Returns
    -------
    tensor of shape (..., n_components)
    """
    exponent = torch.as_tensor(exponent)
    log_k = torch.arange(1, n_components + 1, dtype=exponent.dtype, device=exponent.device).log()
    logits = -exponent.unsqueeze(-1) * log_k
    return logits - logits.logsumexp(-1, keepdim=True)


class Zipf(WeightPrior):
    r"""Zipf-law weights, pi_k ∝ k^-s: "knowledge injection" of a long-tailed size law.

    From the nightingale VaDE report ("Extending a Variational Autoencoder with a Gaussian
    Mixture model to cluster Nightingale's songs"): song-type frequencies follow a Zipf law,
    so the mixture weights are tied to it instead of being learned freely, which both
    prevents the collapse onto one cluster and keeps rare clusters alive. For ranks
    :math:`k = 1, \dots, K`:

    .. math:: \log \pi_k = -s \log k - \log \textstyle\sum_{j=1}^K j^{-s}

    (computed with ``logsumexp``); :math:`s = 0` gives equal weights. Three modes:

    - ``Zipf(s)``: s fixed;
    - ``Zipf(s, learn_exponent=True)``: s a positive point estimate (a ``PyroParam``, maximum
      likelihood), started at ``s``;
    - ``Zipf(s, prior=dist.Gamma(2.0, 2.0))``: s a latent site ``"zipf_exponent"`` with that
      prior (any positive distribution: Gamma, LogNormal...) and a variational
      :math:`q(s) = \mathrm{LogNormal}(m, \sigma)` from :meth:`make_guide`, started at
      :math:`m = \log s`.

    pi is emitted as a deterministic ``"weights"`` site and s as ``"zipf_exponent"``
    (deterministic in the first two modes). Component k is rank k + 1, so the order matters:
    ``ordered = True`` makes the initialisation strategies sort their initial clusters by
    decreasing size (the largest becomes rank 1); :meth:`set_weights` is a no-op, since the
    weights follow from s.

    Parameters
    ----------
    exponent : float
        The exponent s >= 0 (its starting value when learned or inferred; > 0 then).
    learn_exponent : bool
        Learn s as a point estimate.
    prior : Distribution, optional
        A prior over s (scalar, positive support); makes s latent.

    Examples
    --------
    >>> prior = Zipf(1.0).build(3)
    >>> prior().tolist()  # doctest: +ELLIPSIS
    [0.545..., 0.272..., 0.181...]
    """

    ordered = True

    def __init__(
        self,
        exponent: float = 1.1,
        learn_exponent: bool = False,
        prior: dist.Distribution | None = None,
    ) -> None:
        super().__init__()
        exponent = float(exponent)
        if not math.isfinite(exponent) or exponent < 0:
            raise ValueError(f"exponent must be a finite number >= 0, got {exponent}")
        if (learn_exponent or prior is not None) and exponent <= 0:
            raise ValueError("a learned or inferred exponent must start at a positive value")
        if learn_exponent and prior is not None:
            raise ValueError(
                "give either learn_exponent=True (point estimate) or a prior, not both"
            )
        if prior is not None and prior.event_shape != torch.Size():
            raise ValueError("the prior over the exponent must be over a scalar")
        self.initial_exponent = exponent
        self.learn_exponent = bool(learn_exponent)
        self.prior = prior
        if learn_exponent:
            self.exponent = PyroParam(torch.tensor(exponent), constraint=constraints.positive)
        else:
            self.register_buffer("exponent", torch.tensor(exponent))

    def forward(self) -> torch.Tensor:  # noqa: D102
        k = self._check_built()
        if self.prior is not None:
            s = pyro.sample(self.site(EXPONENT), distribution_on(self.prior, self.exponent))
        else:
            s = pyro.deterministic(self.site(EXPONENT), self.exponent)
        return pyro.deterministic(self.site(WEIGHTS), zipf_log_weights(s, k).exp(), event_dim=1)

    def make_guide(self) -> ZipfExponentGuide | None:
        """q(s) = LogNormal when s has a prior; None otherwise (no latent site)."""
        k = self._check_built()
        if self.prior is None:
            return None
        return self._named(ZipfExponentGuide(k, self.initial_exponent))

    def mean(self) -> torch.Tensor:
        """pi at the current s; with a prior over s, E[pi] under the prior (Monte Carlo,
        4096 draws from a fixed seed)."""
        k = self._check_built()
        if self.prior is None:
            return zipf_log_weights(self.exponent.detach(), k).exp()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            s = self.prior.sample((4096,)).to(self.exponent)
        return zipf_log_weights(s, k).exp().mean(0)


class ZipfExponentGuide(WeightGuide):
    r"""q(s) = LogNormal(m, sigma) over the Zipf exponent (site ``"zipf_exponent"``).

    Parameters
    ----------
    n_components : int
    exponent : float
        Starting value: m = log(exponent), sigma = 0.1.
    """

    def __init__(self, n_components: int, exponent: float) -> None:
        super().__init__()
        self.n_components = int(n_components)
        self.loc = PyroParam(torch.tensor(math.log(exponent)))
        self.scale = PyroParam(torch.tensor(0.1), constraint=constraints.positive)

    def forward(self) -> torch.Tensor:  # noqa: D102
        return pyro.sample(self.site(EXPONENT), dist.LogNormal(self.loc, self.scale))

    def mean(self) -> torch.Tensor:
        r"""Posterior mean :math:`E_q[\pi]`, by 32-point Gauss-Hermite quadrature over log s."""
        nodes, w = np.polynomial.hermite.hermgauss(32)
        loc, scale = self.loc.detach(), self.scale.detach()
        s = torch.exp(loc + math.sqrt(2.0) * scale * torch.as_tensor(nodes).to(loc))
        weights = torch.as_tensor(w / math.sqrt(math.pi)).to(loc)
        return (weights.unsqueeze(-1) * zipf_log_weights(s, self.n_components).exp()).sum(0)
