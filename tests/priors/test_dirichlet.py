"""The Dirichlet weight prior and its variational Dirichlet posterior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pyro import poutine
from scipy import stats
from scipy.optimize import linear_sum_assignment
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from pyroclust import priors, zoo
from pyroclust.infer import SVITrainer
from pyroclust.infer.elbo import local_params
from pyroclust.testing import ModelGuideChecks

from .gmm_model import (
    PlainGMM,
    WeightsGuide,
    elbo_and_guide_trace,
    mixture_loglik64,
    single_thread,
    three_blobs,
)


def test_samples_lie_on_the_simplex():
    prior = priors.Dirichlet(0.3).build(6)
    draws = torch.stack([prior() for _ in range(50)])
    assert draws.shape == (50, 6)
    assert (draws >= 0).all()
    torch.testing.assert_close(draws.sum(-1), torch.ones(50))


def test_log_prob_matches_scipy():
    alpha = [0.5, 1.0, 2.0, 3.5]
    prior = priors.Dirichlet(alpha)
    assert prior.n_components == 4  # a vector builds the prior
    tr = poutine.trace(prior).get_trace()
    pi = tr.nodes["weights"]["value"].double().numpy()
    expected = stats.dirichlet.logpdf(pi / pi.sum(), np.asarray(alpha, dtype=np.float64))
    assert float(tr.log_prob_sum().detach()) == pytest.approx(expected, rel=1e-4)


def test_guide_log_prob_matches_scipy_and_conjugate_centring():
    prior = priors.Dirichlet(2.0).build(3)
    guide = prior.make_guide()
    pi = torch.tensor([0.5, 0.3, 0.2])
    guide.set_weights(pi, n_samples=100)
    beta = np.array([52.0, 32.0, 22.0])  # alpha + pi * n
    np.testing.assert_allclose(guide.concentration.detach().numpy(), beta, rtol=1e-5)
    np.testing.assert_allclose(guide.mean().numpy(), beta / beta.sum(), rtol=1e-5)
    tr = poutine.trace(guide).get_trace()
    value = tr.nodes["weights"]["value"].detach().double().numpy()
    expected = stats.dirichlet.logpdf(value / value.sum(), beta)
    assert float(tr.log_prob_sum().detach()) == pytest.approx(expected, rel=1e-4)


def test_invalid_alpha_is_refused():
    for bad in (0.0, -1.0, [1.0, -2.0], float("nan"), [[1.0]]):
        with pytest.raises(ValueError, match="alpha"):
            priors.Dirichlet(bad)
    with pytest.raises(ValueError, match="reused"):
        priors.Dirichlet([1.0, 1.0]).build(3)


def test_mini_batch_elbo_matches_float64_formula():
    """-loss = log Dir(pi; alpha) - log Dir(pi; beta) + N/B sum_batch logsumexp_k(...)."""
    x, _ = three_blobs(60)
    n, b = len(x), 16
    model = PlainGMM(priors.Dirichlet(0.7), 3, 2)
    guide = WeightsGuide(model.weights.make_guide())
    guide.weights.set_weights(torch.tensor([0.5, 0.3, 0.2]), n_samples=30)
    xb = torch.as_tensor(x[:b])
    with local_params():
        loss, gtr = elbo_and_guide_trace(model, guide, xb, n, seed=3)
        pi = gtr.nodes["weights"]["value"]
        loc, scale = model.components.loc.detach(), model.components.scale.detach()
        beta = guide.weights.concentration.detach().double().numpy()
    pi64 = pi.detach().double().numpy()
    pi64 = pi64 / pi64.sum()
    expected = (
        stats.dirichlet.logpdf(pi64, np.full(3, 0.7))
        - stats.dirichlet.logpdf(pi64, beta)
        + n / b * mixture_loglik64(x[:b], np.log(pi64), loc.numpy(), scale.numpy())
    )
    assert -float(loss.detach()) == pytest.approx(expected, rel=1e-4)


def _fit_gmm(prior, x, k, *, epochs=100, seed=0):
    """Fit the plain GMM by SVI: components start at a GMM's, q(pi) at uniform weights backed
    by len(x) points (as the initialisation strategies start it), so SVI must move its mean."""
    model = PlainGMM(prior, k, 2)
    guide = WeightsGuide(model.weights.make_guide())
    guide.weights.set_weights(torch.full((k,), 1.0 / k), n_samples=len(x))
    gmm = GaussianMixture(k, covariance_type="diag", random_state=seed).fit(x)
    with local_params():
        model.components.set_from_moments(
            torch.as_tensor(gmm.means_, dtype=torch.float32),
            torch.as_tensor(gmm.covariances_, dtype=torch.float32),
        )
    with single_thread():
        SVITrainer(
            model,
            guide,
            epochs=epochs,
            batch_size=len(x),
            lr=0.05,
            device="cpu",
            random_state=seed,
            progress=False,
        ).fit(torch.as_tensor(x))
    return model, guide


def test_posterior_mean_recovers_known_weights_and_agrees_with_sklearn():
    truth = np.array([0.6, 0.3, 0.1])
    x, labels = three_blobs(400, truth)
    model, guide = _fit_gmm(priors.Dirichlet(1.0), x, 3)
    with local_params():
        post = guide.weights.mean().double().numpy()
        loc = model.components.loc.detach().double().numpy()
    # align the components with the true clusters through their means
    true_means = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    cost = ((loc[:, None] - true_means[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    ours = np.empty(3)
    ours[cols] = post[rows]
    empirical = np.bincount(labels, minlength=3) / len(labels)
    np.testing.assert_allclose(ours, empirical, atol=0.03)
    np.testing.assert_allclose(ours, truth, atol=0.06)
    # scikit-learn's variational Bayesian GMM with the same Dirichlet prior puts the mass
    # on the same clusters
    bgm = BayesianGaussianMixture(
        n_components=3,
        covariance_type="diag",
        weight_concentration_prior_type="dirichlet_distribution",
        weight_concentration_prior=1.0,
        random_state=0,
        max_iter=500,
    ).fit(x)
    cost = ((bgm.means_[:, None] - true_means[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    theirs = np.empty(3)
    theirs[cols] = bgm.weights_[rows]
    np.testing.assert_allclose(ours, theirs, atol=0.03)
    # the posterior is as concentrated as the conjugate one, Dir(alpha + counts)
    with local_params():
        total = float(guide.weights.concentration.detach().sum())
    assert total == pytest.approx(len(x) + 3.0, rel=0.3)


def test_start_mixture_is_the_bayesian_mixture_of_this_prior():
    """A symmetric prior's start mixture leaves unneeded components empty, with the conjugate
    posterior Dir(alpha + n) (float64 formula); an asymmetric one has a fixed-K mixture."""
    x, labels = three_blobs(300)
    alpha, k = 0.01, 10
    mixture = priors.Dirichlet(alpha).build(k).start_mixture(k, n_init=1, random_state=0)
    assert isinstance(mixture.mixture, BayesianGaussianMixture)
    found = mixture.fit_predict(x)
    assert len(np.unique(found)) == 3
    concentration = np.asarray(mixture.weight_concentration_, dtype=np.float64)
    counts = concentration - alpha
    assert counts.min() >= -1e-9 and counts.sum() == pytest.approx(len(x), rel=1e-6)
    guide = priors.Dirichlet(alpha).build(k).make_guide()
    with local_params():
        guide.set_weights(torch.as_tensor(counts / counts.sum()), n_samples=counts.sum())
        ours = guide.concentration.detach().double().numpy()
    np.testing.assert_allclose(ours, np.maximum(alpha + counts, 1e-3), rtol=1e-5)
    asymmetric = priors.Dirichlet([1.0, 2.0, 3.0]).start_mixture(3, random_state=0)
    assert isinstance(asymmetric, GaussianMixture) and asymmetric.n_components == 3


def test_zoo_spec_strings():
    prior = zoo.make_weight_prior("dirichlet:0.5").build(4)
    assert isinstance(prior, priors.Dirichlet)
    torch.testing.assert_close(prior.alpha, torch.full((4,), 0.5))
    assert isinstance(zoo.make_weight_prior("dirichlet"), priors.Dirichlet)


class TestVaDEWithDirichlet(ModelGuideChecks):
    """The shared model/guide checks for VaDE with Dirichlet weights."""

    def make(self):  # noqa: D102
        model, guide = zoo.make(
            "vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,), weights="dirichlet"
        )
        return model, guide, torch.rand(12, 12, generator=torch.Generator().manual_seed(0))


def test_estimator_save_load_round_trip_keeps_the_posterior(tmp_path, x_small, tiny_vade):
    from pyroclust.estimator import Clusterer
    from pyroclust.infer.init import GMMInit

    for spec in ("dirichlet:2", "stick-breaking:1", "zipf"):
        model, guide = tiny_vade(weights=spec)
        est = Clusterer(
            model,
            guide,
            epochs=1,
            batch_size=24,
            init=GMMInit(pretrain_epochs=1),
            random_state=0,
            progress=False,
        ).fit(x_small)
        est.save(tmp_path / "est.ckpt")
        back = Clusterer.load(tmp_path / "est.ckpt", device="cpu")
        np.testing.assert_allclose(back.weights_, est.weights_, rtol=1e-6)
        np.testing.assert_array_equal(back.predict(x_small), est.labels_)
