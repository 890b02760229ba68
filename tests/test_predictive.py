"""Posterior-predictive utilities; p(y | x) in log space at 1,000 clusters and 64 dimensions."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pytest
import torch

from pyroclust import predictive, zoo
from pyroclust.estimator import Clusterer
from pyroclust.infer.elbo import local_params

K, D_LATENT, D_DATA = 1000, 64, 8


def _extreme_mixture(model) -> None:
    """Components far from every code (squared distances in the thousands) but close to each
    other, and uneven weights: the posterior is spread over clusters, yet every density
    p(z | k) is far below the smallest float64."""
    g = torch.Generator().manual_seed(0)
    loc = 12.0 + 0.05 * torch.randn(K, D_LATENT, generator=g)
    var = (0.9 + 0.2 * torch.rand(K, D_LATENT, generator=g)) ** 2
    model.components.set_from_moments(loc, var)
    with torch.no_grad():
        model.weights.logits.copy_(torch.randn(K, generator=g))


def _reference_log_posterior(model, guide, x: torch.Tensor) -> torch.Tensor:
    """log pi_k + log N(mu(x); mu_k, s_k) normalised with logsumexp, in float64."""
    with local_params(), torch.no_grad():
        z = guide.encode(x)[0].double()  # the mean code
        log_pi = torch.log_softmax(model.weights.logits.double(), -1)
        mu, sd = model.components.loc.double(), model.components.scale.double()
    log_pz = (
        -0.5 * ((z[:, None, :] - mu) / sd) ** 2 - torch.log(sd) - 0.5 * math.log(2 * math.pi)
    ).sum(-1)
    joint = log_pi + log_pz
    return joint - joint.logsumexp(-1, keepdim=True), (z, mu, sd, log_pi)


def _naive_posterior(z, mu, sd, log_pi) -> torch.Tensor:
    """The textbook formula pi_k N(z; k) / sum_j pi_j N(z; j), with exp of a sum of squares."""
    dens = torch.exp(-0.5 * (((z[:, None, :] - mu) / sd) ** 2).sum(-1)) / (
        (2 * math.pi) ** (D_LATENT / 2) * sd.prod(-1)
    )
    num = log_pi.exp() * dens
    return num / num.sum(-1, keepdim=True)


def _check_against_reference(proba: np.ndarray, ref_log: torch.Tensor) -> None:
    ref = ref_log.exp().numpy()
    assert proba.shape == ref.shape == (len(ref), K)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(proba.argmax(1), ref.argmax(1))
    np.testing.assert_allclose(proba, ref, atol=2e-3)
    # the posterior really is spread (not one-hot), so closeness means something
    assert (ref.max(1) < 0.99).any()


@pytest.fixture
def wide_vade():
    model, guide = zoo.make(
        "vade", n_features=D_DATA, n_components=K, latent_dim=D_LATENT, hidden=(16,)
    )
    _extreme_mixture(model)
    x = torch.rand(40, D_DATA, generator=torch.Generator().manual_seed(1))
    return model, guide, x


def test_assignment_log_proba_in_log_space(wide_vade) -> None:
    model, guide, x = wide_vade
    ref_log, parts = _reference_log_posterior(model, guide, x)
    naive = _naive_posterior(*parts)
    # the naive float64 formula underflows to 0 / 0 for every row: the test is meaningful
    assert torch.isnan(naive).all()
    lp = predictive.assignment_log_proba(model, guide, x)
    _check_against_reference(lp.exp().double().numpy(), ref_log)


def test_predict_proba_in_log_space(wide_vade) -> None:
    """The same through the estimator. A fit at K = 1,000 needs 1,000 rows and a slow
    prediction over all of them, so the estimator is given the trained pair directly, as
    ``fit`` leaves it (``model_``, ``guide_``, ``n_features_in_``)."""
    model, guide, x = wide_vade
    est = Clusterer(model, guide, progress=False)
    est.model_, est.guide_, est.n_features_in_ = model, guide, D_DATA
    ref_log, _ = _reference_log_posterior(model, guide, x)
    proba = est.predict_proba(x)
    _check_against_reference(proba, ref_log)
    np.testing.assert_array_equal(est.predict(x), ref_log.argmax(1).numpy())
    np.testing.assert_allclose(est.predict_log_proba(x), np.log(proba), atol=1e-9)


# ---------------------------------------------------------------------- small utilities


@pytest.fixture
def small(tiny_vade, x_small):
    model, guide = tiny_vade()
    return model, guide, torch.as_tensor(x_small)


def test_latent_codes_are_the_encoder_means(small) -> None:
    model, guide, x = small
    codes = predictive.latent_codes(guide, x, batch_size=7)  # several batches
    with torch.no_grad():
        loc, _ = guide.encode(x)
    assert codes.shape == (len(x), 2)
    torch.testing.assert_close(codes, loc)


def test_reconstruct_decodes_the_mean_code(small) -> None:
    model, guide, x = small
    rec = predictive.reconstruct(model, guide, x, batch_size=10)
    with torch.no_grad():
        expected = torch.sigmoid(model.decoder(guide.encode(x)[0]))
    assert rec.shape == x.shape
    torch.testing.assert_close(rec, expected)


def test_assignment_log_proba_by_sampling(small) -> None:
    model, guide, x = small
    exact = predictive.assignment_log_proba(model, guide, x)
    sampled = predictive.assignment_log_proba(model, guide, x, num_samples=3)
    for lp in (exact, sampled):
        assert lp.shape == (len(x), 3)
        torch.testing.assert_close(lp.exp().sum(-1), torch.ones(len(x)))


def test_assignment_log_proba_unknown_site(small) -> None:
    model, guide, x = small
    with pytest.raises(ValueError, match="no enumerated site 'cluster'"):
        predictive.assignment_log_proba(model, guide, x, site="cluster")


def test_sample_shapes_and_component(small) -> None:
    model, _, _ = small
    draws = predictive.sample(model, 6)
    assert draws["assignment"].shape == (6,)
    assert draws["z"].shape == (6, 2)
    assert draws["x"].shape == (6, 12)
    assert ((draws["x"] > 0) & (draws["x"] < 1)).all()  # the Bernoulli mean
    binary = predictive.sample(model, 4, mean=False)["x"]
    assert ((binary == 0) | (binary == 1)).all()
    conditioned = predictive.sample(model, 5, component=2)
    assert (conditioned["assignment"] == 2).all()


@pytest.mark.parametrize("component", [-1, 3])
def test_sample_rejects_unknown_component(small, component: int) -> None:
    with pytest.raises(ValueError, match="component must be in"):
        predictive.sample(small[0], 2, component=component)


def test_sample_rejects_non_positive_n(small) -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        predictive.sample(small[0], 0)


def test_utilities_leave_the_users_param_store_alone(small) -> None:
    model, guide, x = small
    pyro.param("users_own", torch.tensor(3.0))
    predictive.assignment_log_proba(model, guide, x)
    predictive.sample(model, 2)
    assert set(pyro.get_param_store().keys()) == {"users_own"}
    assert float(pyro.param("users_own").detach()) == 3.0


def test_point_value_of_cluster_sites_is_the_mode_not_nan() -> None:
    """The guide's point summary of a categorical site is its mode (Categorical.mean is NaN):
    an index for Categorical, a one-hot vector for one-hot and relaxed one-hot sites."""
    import pyro.distributions as dist

    from pyroclust.predictive import point_value

    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    assert point_value(dist.Categorical(logits=logits)).tolist() == [1, 0]
    relaxed = dist.RelaxedOneHotCategorical(torch.tensor(0.5), logits=logits)
    assert point_value(relaxed).tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert point_value(dist.OneHotCategorical(logits=logits)).tolist() == [[0, 1, 0], [1, 0, 0]]
    normal = dist.Normal(torch.tensor([1.5]), 1.0).to_event(1)
    assert point_value(normal).tolist() == [1.5]


def test_prediction_runs_in_evaluation_mode(tiny_vade) -> None:
    """Dropout (and BatchNorm) are off while predicting, and each module's mode is restored."""
    from torch import nn

    from pyroclust.predictive import codes, reconstruct

    model, guide = tiny_vade()
    guide.encoder = nn.Sequential(nn.Dropout(0.5), guide.encoder)
    x = torch.rand(8, 12)
    model.train(), guide.train()
    first, second = codes(model, guide, x)["z"], codes(model, guide, x)["z"]
    assert torch.equal(first, second)
    assert torch.equal(reconstruct(model, guide, x), reconstruct(model, guide, x))
    assert guide.training and guide.encoder[0].training and model.training


def test_posterior_of_one_row_and_of_a_one_row_last_batch(small) -> None:
    """One row, or a last chunk of one row, gives the same posterior as the whole batch (Pyro's
    compute_marginals failed on a plate of size 1)."""
    model, guide, x = small
    whole = predictive.cluster_log_proba(model, guide, x)
    one = predictive.cluster_log_proba(model, guide, x[:1])
    torch.testing.assert_close(one, whole[:1])
    chunked = predictive.cluster_log_proba(model, guide, x, batch_size=len(x) - 1)
    torch.testing.assert_close(chunked, whole)
