"""The VAE model/guide pair: the beta-ELBO against plain-torch float64 computations."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyroclust import guides, likelihoods, models, zoo
from pyroclust.estimator import Clusterer
from pyroclust.infer.elbo import check_guide_covers_model, local_params, make_elbo
from pyroclust.models.vae import check_kl_weights
from pyroclust.nn import MLP
from pyroclust.posthoc import PostHocClustering
from pyroclust.sites import LATENT
from pyroclust.testing import ModelGuideChecks

N_FEATURES, LATENT_DIM = 6, 2


def make_pair(beta: float) -> tuple[models.VAE, guides.VAEGuide]:
    torch.manual_seed(0)
    decoder = MLP([LATENT_DIM, 5, N_FEATURES])
    encoder = MLP([N_FEATURES, 5], output_activation=torch.nn.ReLU)
    model = models.VAE(LATENT_DIM, decoder, likelihoods.Bernoulli(), beta=beta).double()
    guide = guides.VAEGuide(encoder, LATENT_DIM, beta=beta).double()
    return model, guide


def data(n: int = 4) -> torch.Tensor:
    return torch.rand(n, N_FEATURES, generator=torch.Generator().manual_seed(1)).double()


def log_normal(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log N(z; loc, diag scale^2), summed over the last dimension (plain torch)."""
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def reference_loss(model, guide, x, z, beta: float, data_size: int) -> torch.Tensor:
    """-[log p(x|z) + beta (log p(z) - log q(z|x))], summed over rows, scaled to data_size."""
    h = model.decoder(z)
    loglik = (x * F.logsigmoid(h) + (1 - x) * F.logsigmoid(-h)).sum(-1)
    loc, scale = guide.encode(x)
    log_prior = log_normal(z, torch.zeros_like(z), torch.ones_like(z))
    log_q = log_normal(z, loc, scale)
    per_row = loglik + beta * (log_prior - log_q)
    return -(data_size / len(x)) * per_row.sum()


def loss_and_code(model, guide, x, data_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Trace_ELBO's loss and the code z it drew (the guide runs first, from the same seed)."""
    pyro.set_rng_seed(3)
    loss = Trace_ELBO().differentiable_loss(model, guide, x, data_size=data_size)
    pyro.set_rng_seed(3)
    z = poutine.trace(guide).get_trace(x, data_size=data_size).nodes[LATENT]["value"]
    return loss, z


@pytest.mark.parametrize("data_size", [4, 40])
def test_beta_zero_removes_the_kl_term_exactly(data_size):
    model, guide = make_pair(beta=0.0)
    x = data()
    with local_params():
        loss, z = loss_and_code(model, guide, x, data_size)
    h = model.decoder(z)
    nll = -(x * F.logsigmoid(h) + (1 - x) * F.logsigmoid(-h)).sum() * data_size / len(x)
    torch.testing.assert_close(loss, nll, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("beta", [1.0, 0.25, 3.0])
def test_beta_elbo_matches_plain_torch(beta):
    model, guide = make_pair(beta=beta)
    x = data()
    with local_params():
        loss, z = loss_and_code(model, guide, x, data_size=10)
    expected = reference_loss(model, guide, x, z, beta, data_size=10)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-10)


def test_the_automatic_elbo_is_trace_elbo_and_the_guide_covers_the_model():
    model, guide = make_pair(beta=1.0)
    x = data()
    with local_params():
        assert type(make_elbo(model, x)) is Trace_ELBO
        check_guide_covers_model(model, guide, x, data_size=len(x))


def test_generates_data_of_the_right_shape():
    model, _ = make_pair(beta=1.0)
    assert model(data_size=3).shape == (3, N_FEATURES)
    with pytest.raises(ValueError, match="data_size"):
        model()


@pytest.mark.parametrize("beta", [-1.0, float("nan"), float("inf")])
def test_invalid_beta_is_rejected(beta):
    with pytest.raises(ValueError, match="beta"):
        models.VAE(2, MLP([2, 3]), likelihoods.Bernoulli(), beta=beta)


def test_mismatched_kl_weights_are_reported():
    model, _ = make_pair(beta=0.0)
    _, guide = make_pair(beta=1.0)
    with pytest.raises(ValueError, match="same KL weight"):
        check_kl_weights(model, guide)
    check_kl_weights(*make_pair(beta=0.5))


def test_zoo_builds_a_matching_pair():
    model, guide = zoo.make("vae", n_features=12, latent_dim=3, beta=0.0, hidden=[8])
    assert model.beta == guide.beta == 0.0
    assert model.zoo_spec["architecture"] == "vae"


def test_clusterer_fits_a_vae_and_codes_cluster_post_hoc():
    rng = np.random.default_rng(0)
    X = rng.random((40, 12))
    model, guide = zoo.make("vae", n_features=12, latent_dim=3, hidden=[8])
    est = Clusterer(model, guide, epochs=2, batch_size=16, progress=False, random_state=0)
    est.fit(X)
    codes = est.transform(X)
    assert codes.shape == (40, 3) and np.isfinite(codes).all()
    assert est.reconstruct(X).shape == (40, 12)
    assert np.isfinite(est.elbo_)
    assert not hasattr(est, "labels_")  # no cluster site: clusters come post hoc
    post = PostHocClustering("kmeans", representation=est, n_clusters=3, random_state=0).fit(X)
    assert post.predict(X[:5]).shape == (5,)


class TestVAEWithoutKL(ModelGuideChecks):
    """The zoo's shared checks for the beta = 0 variant (beta = 1 is run by tests/test_zoo.py)."""

    def make(self):
        model, guide = zoo.make("vae", n_features=12, latent_dim=2, beta=0.0, hidden=(8,))
        return model, guide, torch.rand(10, 12, generator=torch.Generator().manual_seed(0))
