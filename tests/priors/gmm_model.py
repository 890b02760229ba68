"""A plain Gaussian mixture (no networks) with a pluggable weight prior, for the prior tests.

Generative story: pi ~ prior, y_n ~ Categorical(pi), x_n ~ N(mu_y, diag sigma_y^2), with
the component parameters point-estimated; the guide is only the prior's q(pi).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO
from pyro.nn import PyroModule
from scipy import stats
from scipy.special import logsumexp

from pyroclust.components import DiagonalGaussian
from pyroclust.models.base import data_plate
from pyroclust.priors import WeightPrior
from pyroclust.sites import ASSIGNMENT, OBS


class PlainGMM(PyroModule):
    """pi ~ prior; y ~ Cat(pi) (enumerated); x ~ N(mu_y, sigma_y^2) (site "obs")."""

    def __init__(self, weights: WeightPrior, n_components: int, dim: int) -> None:
        super().__init__()
        self.n_components = n_components
        self.weights = weights.build(n_components)
        self.components = DiagonalGaussian(n_components, dim)

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> None:  # noqa: D102
        pi = self.weights()
        with data_plate(len(x), data_size, x.device):
            y = pyro.sample(ASSIGNMENT, dist.Categorical(pi), infer={"enumerate": "parallel"})
            pyro.sample(OBS, self.components(y), obs=x)


class WeightsGuide(PyroModule):
    """The guide of :class:`PlainGMM`: q over the prior's latent sites only."""

    def __init__(self, weights) -> None:
        super().__init__()
        self.weights = weights

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> None:  # noqa: D102
        if self.weights is not None:
            self.weights()


def three_blobs(
    n: int = 400, weights=(0.6, 0.3, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """2-D data from three well separated unit Gaussians with the given weights."""
    rng = np.random.default_rng(seed)
    means = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    labels = rng.choice(3, size=n, p=np.asarray(weights))
    x = means[labels] + rng.normal(size=(n, 2))
    return x.astype(np.float32), labels


def mixture_loglik64(x: np.ndarray, log_pi: np.ndarray, loc: np.ndarray, scale: np.ndarray):
    """sum_n logsumexp_k(log pi_k + log N(x_n; loc_k, scale_k)), float64, with scipy."""
    x, loc, scale = (np.asarray(a, dtype=np.float64) for a in (x, loc, scale))
    comp = stats.norm.logpdf(x[:, None, :], loc[None], scale[None]).sum(-1)
    return float(logsumexp(np.asarray(log_pi, dtype=np.float64)[None] + comp, axis=1).sum())


@contextmanager
def single_thread() -> Iterator[None]:
    """Run tiny tensor code on one thread (much faster on a shared machine), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def elbo_and_guide_trace(
    model: PlainGMM, guide: WeightsGuide, xb: torch.Tensor, data_size: int, seed: int
) -> tuple[torch.Tensor, poutine.Trace]:
    """The mini-batch ``TraceEnum_ELBO`` loss of ``xb`` and the guide's trace drawn under the
    same seed, so a float64 formula can be evaluated at the loss's own draws (call it inside
    ``local_params()``)."""
    pyro.set_rng_seed(seed)
    loss = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(
        model, guide, xb, data_size=data_size
    )
    pyro.set_rng_seed(seed)
    return loss, poutine.trace(guide).get_trace(xb, data_size=data_size)
