"""Three small models of the shapes VaDE does not have, written only against the contract.

Each is a model/guide pair of a few lines that declares its structure
(:mod:`pyroclust.structure`) and nothing else; the shared checks, the estimator, the objective
and the posterior utilities must work on them unchanged:

- :class:`GuideEnumerated`: y enumerated in the *guide*, q(y | x) q(z | x, y), one decoder per
  cluster (the k-DVAE shape);
- :class:`Relaxed`: a relaxed (Gumbel-Softmax) y in the guide and the model under the same
  name, decoding from (z, y) (the GMVAE shape);
- :class:`TwoLayers`: two cluster sites at two latent layers, each with its own weight prior,
  both enumerated in the guide, with q(y2 | x, y1) depending on y1 (the VLAC shape).

Every network is a single linear map so that the tests can recompute each ELBO in plain
float64 torch from the modules' weights.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from pyroclust import likelihoods, priors
from pyroclust.models.base import LatentVariableModel, data_plate
from pyroclust.sites import ASSIGNMENT, LATENT
from pyroclust.structure import ENUMERATE_GUIDE, RELAXED_GUIDE, ClusterSite

MIN_SCALE = 1e-3


def pick(table: torch.Tensor, y: torch.Tensor, batch_shape: torch.Size) -> torch.Tensor:
    """``table[..., y, :]``: the row of cluster ``y`` of a per-cluster table of shape
    (*batch, K, F), for labels ``y`` broadcastable to ``batch_shape`` (enumerated labels
    carry extra leading dimensions)."""
    shape = torch.broadcast_shapes(y.shape, batch_shape, table.shape[:-2])
    k, width = table.shape[-2:]
    idx = y.expand(shape)[..., None, None].expand(*shape, 1, width)
    return table.expand(*shape, k, width).gather(-2, idx).squeeze(-2)


def _scale(raw: torch.Tensor) -> torch.Tensor:
    return F.softplus(raw) + MIN_SCALE


# --------------------------------------------------------------------------- 1. k-DVAE shape
class GuideEnumerated(LatentVariableModel):
    r"""y ~ Cat(pi); z ~ N(0, I); x ~ Bernoulli(decoder_y(z)), one linear decoder per cluster."""

    def __init__(
        self, n_features: int, n_components: int = 3, latent_dim: int = 2, *, weights=None
    ):
        super().__init__()
        self.n_components, self.latent_dim = n_components, latent_dim
        self.likelihood = likelihoods.Bernoulli()
        self.cluster_sites = (ClusterSite(ASSIGNMENT, n_components, ENUMERATE_GUIDE),)
        self.weights = (weights or priors.Learned()).build(n_components, ASSIGNMENT)
        self.dec_w = nn.Parameter(0.5 * torch.randn(n_components, latent_dim, n_features))
        self.dec_b = nn.Parameter(0.1 * torch.randn(n_components, n_features))

    def decoder_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Every decoder's output: (*batch, K, n_features) for z of shape (*batch, d)."""
        return torch.einsum("...d,kdf->...kf", z, self.dec_w) + self.dec_b

    def forward(self, x=None, *, data_size=None):  # noqa: D102
        batch = x.shape[0] if x is not None else data_size
        pi = self.weights()
        with data_plate(batch, data_size, pi.device):
            y = pyro.sample(ASSIGNMENT, dist.Categorical(logits=pi.log()))
            z = pyro.sample(
                LATENT, dist.Normal(pi.new_zeros(batch, self.latent_dim), 1.0).to_event(1)
            )
            logits = pick(self.decoder_logits(z), y, z.shape[:-1])
            return self.likelihood(logits, obs=x)


class GuideEnumeratedGuide(PyroModule):
    """q(y | x) = Cat(softmax(A x + a)); q(z | x, y) = N(W_y x + b_y, diag s_y(x)^2)."""

    def __init__(self, n_features: int, n_components: int = 3, latent_dim: int = 2):
        super().__init__()
        self.weights = None  # filled by the estimator when the prior has latent sites
        self.qy = nn.Linear(n_features, n_components)
        self.loc_w = nn.Parameter(0.3 * torch.randn(n_components, n_features, latent_dim))
        self.loc_b = nn.Parameter(0.1 * torch.randn(n_components, latent_dim))
        self.scale_w = nn.Parameter(0.1 * torch.randn(n_components, n_features, latent_dim))
        self.scale_b = nn.Parameter(torch.zeros(n_components, latent_dim))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits of q(y|x) (B, K), every cluster's loc (B, K, d) and scale (B, K, d))."""
        loc = torch.einsum("bf,kfd->bkd", x, self.loc_w) + self.loc_b
        scale = _scale(torch.einsum("bf,kfd->bkd", x, self.scale_w) + self.scale_b)
        return self.qy(x), loc, scale

    def forward(self, x, *, data_size=None):  # noqa: D102
        if self.weights is not None:
            self.weights()
        logits, loc, scale = self.heads(x)
        with data_plate(x.shape[0], data_size, x.device):
            y = pyro.sample(
                ASSIGNMENT, dist.Categorical(logits=logits), infer={"enumerate": "parallel"}
            )
            batch = torch.Size([x.shape[0]])
            pyro.sample(LATENT, dist.Normal(pick(loc, y, batch), pick(scale, y, batch)).to_event(1))


# --------------------------------------------------------------------------- 2. GMVAE shape
class Relaxed(LatentVariableModel):
    r"""y ~ RelaxedOneHotCategorical(T, pi); z ~ N(0, I); x ~ Bernoulli(W z + V y + b)."""

    def __init__(
        self, n_features: int, n_components: int = 3, latent_dim: int = 2, *, weights=None
    ):
        super().__init__()
        self.n_components, self.latent_dim = n_components, latent_dim
        self.likelihood = likelihoods.Bernoulli()
        self.cluster_sites = (ClusterSite(ASSIGNMENT, n_components, RELAXED_GUIDE),)
        self.weights = (weights or priors.Uniform()).build(n_components, ASSIGNMENT)
        self.register_buffer("temperature", torch.tensor(1.0))
        self.from_z = nn.Linear(latent_dim, n_features)
        self.from_y = nn.Linear(n_components, n_features, bias=False)

    def forward(self, x=None, *, data_size=None):  # noqa: D102
        batch = x.shape[0] if x is not None else data_size
        pi = self.weights()
        with data_plate(batch, data_size, pi.device):
            y = pyro.sample(
                ASSIGNMENT,
                dist.RelaxedOneHotCategorical(self.temperature, logits=pi.log().expand(batch, -1)),
            )
            z = pyro.sample(
                LATENT, dist.Normal(pi.new_zeros(batch, self.latent_dim), 1.0).to_event(1)
            )
            return self.likelihood(self.from_z(z) + self.from_y(y), obs=x)


class RelaxedGuide(PyroModule):
    """q(y | x) = RelaxedOneHotCategorical(T, A x + a); q(z | x) = N(W x + b, s(x))."""

    def __init__(self, n_features: int, n_components: int = 3, latent_dim: int = 2):
        super().__init__()
        self.weights = None
        self.register_buffer("temperature", torch.tensor(1.0))
        self.qy = nn.Linear(n_features, n_components)
        self.loc = nn.Linear(n_features, latent_dim)
        self.scale = nn.Linear(n_features, latent_dim)

    def forward(self, x, *, data_size=None):  # noqa: D102
        if self.weights is not None:
            self.weights()
        with data_plate(x.shape[0], data_size, x.device):
            pyro.sample(
                ASSIGNMENT, dist.RelaxedOneHotCategorical(self.temperature, logits=self.qy(x))
            )
            pyro.sample(LATENT, dist.Normal(self.loc(x), _scale(self.scale(x))).to_event(1))


# --------------------------------------------------------------------------- 3. VLAC shape
class TwoLayers(LatentVariableModel):
    r"""Two cluster sites at two latent layers, each with its own weight prior:

    y1 ~ Cat(pi1), z1 | y1 ~ N(m1[y1], I); y2 ~ Cat(pi2), z2 | y2 ~ N(m2[y2], I);
    x ~ Bernoulli(W1 z1 + W2 z2 + b).
    """

    def __init__(
        self,
        n_features: int,
        k1: int = 3,
        k2: int = 2,
        d1: int = 2,
        d2: int = 2,
        *,
        weights1=None,
        weights2=None,
    ):
        super().__init__()
        self.latent_dim = d1 + d2
        self.likelihood = likelihoods.Bernoulli()
        self.cluster_sites = (
            ClusterSite("y1", k1, ENUMERATE_GUIDE),
            ClusterSite("y2", k2, ENUMERATE_GUIDE),
        )
        self.latent_sites = ("z1", "z2")
        self.weights1 = (weights1 or priors.Dirichlet(2.0)).build(k1, "y1")
        self.weights2 = (weights2 or priors.Learned()).build(k2, "y2")
        self.m1 = nn.Parameter(torch.randn(k1, d1))
        self.m2 = nn.Parameter(torch.randn(k2, d2))
        self.w1 = nn.Linear(d1, n_features)
        self.w2 = nn.Linear(d2, n_features, bias=False)

    def forward(self, x=None, *, data_size=None):  # noqa: D102
        batch = x.shape[0] if x is not None else data_size
        pi1, pi2 = self.weights1(), self.weights2()
        with data_plate(batch, data_size, pi1.device):
            y1 = pyro.sample("y1", dist.Categorical(logits=pi1.log()))
            z1 = pyro.sample("z1", dist.Normal(self.m1[y1], 1.0).to_event(1))
            y2 = pyro.sample("y2", dist.Categorical(logits=pi2.log()))
            z2 = pyro.sample("z2", dist.Normal(self.m2[y2], 1.0).to_event(1))
            return self.likelihood(self.w1(z1) + self.w2(z2), obs=x)


class TwoLayersGuide(PyroModule):
    """q(y1 | x) q(z1 | x, y1) q(y2 | x, y1) q(z2 | x, y2), all linear in x."""

    def __init__(self, n_features: int, k1: int = 3, k2: int = 2, d1: int = 2, d2: int = 2):
        super().__init__()
        self.weight_guides = None  # filled by the estimator (the Dirichlet over pi1)
        self.qy1 = nn.Linear(n_features, k1)
        self.qy2 = nn.Linear(n_features, k2)
        self.y1_to_y2 = nn.Parameter(torch.randn(k1, k2))
        self.loc1 = nn.Linear(n_features, d1)
        self.emb1 = nn.Parameter(torch.randn(k1, d1))
        self.loc2 = nn.Linear(n_features, d2)
        self.emb2 = nn.Parameter(torch.randn(k2, d2))
        self.log_scale1 = nn.Parameter(torch.full((d1,), -0.5))
        self.log_scale2 = nn.Parameter(torch.full((d2,), -0.5))

    def forward(self, x, *, data_size=None):  # noqa: D102
        if self.weight_guides is not None:
            for family in self.weight_guides.values():
                family()
        with data_plate(x.shape[0], data_size, x.device):
            enum = {"enumerate": "parallel"}
            y1 = pyro.sample("y1", dist.Categorical(logits=self.qy1(x)), infer=enum)
            pyro.sample(
                "z1", dist.Normal(self.loc1(x) + self.emb1[y1], self.log_scale1.exp()).to_event(1)
            )
            logits2 = self.qy2(x) + self.y1_to_y2[y1]
            y2 = pyro.sample("y2", dist.Categorical(logits=logits2), infer=enum)
            pyro.sample(
                "z2", dist.Normal(self.loc2(x) + self.emb2[y2], self.log_scale2.exp()).to_event(1)
            )
