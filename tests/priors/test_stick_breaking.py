"""The truncated stick-breaking (Dirichlet-process) weight prior."""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO
from scipy import special, stats

from pyroclust import inspect, metrics, priors, structure, zoo
from pyroclust.infer import SVITrainer
from pyroclust.infer.elbo import local_params
from pyroclust.priors.stick_breaking import stick_breaking_log_weights, weights_to_sticks
from pyroclust.testing import ModelGuideChecks

from .gmm_model import (
    PlainGMM,
    WeightsGuide,
    elbo_and_guide_trace,
    mixture_loglik64,
    single_thread,
    three_blobs,
)


def _numpy_weights(v: np.ndarray) -> np.ndarray:
    """pi_k = v_k prod_{j<k} (1 - v_j), last = remainder: the definition, in float64."""
    pi = np.empty(len(v) + 1)
    left = 1.0
    for k, vk in enumerate(v):
        pi[k] = vk * left
        left *= 1.0 - vk
    pi[-1] = left
    return pi


def test_weights_sum_to_one_within_the_truncation():
    prior = priors.StickBreaking(0.5).build(10)
    for _ in range(20):
        tr = poutine.trace(prior).get_trace()
        pi = tr.nodes["weights"]["value"]
        v = tr.nodes["sticks"]["value"].double().numpy()
        assert pi.shape == (10,) and (pi >= 0).all()
        assert float(pi.sum()) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(pi.double().numpy(), _numpy_weights(v), rtol=1e-4, atol=1e-7)


def test_log_weights_in_log_space_and_inverse():
    v = torch.tensor([0.3, 0.999999, 0.5, 1e-30], dtype=torch.float64)
    log_pi = stick_breaking_log_weights(v)
    assert torch.isfinite(log_pi[:2]).all()
    np.testing.assert_allclose(log_pi.exp().numpy(), _numpy_weights(v.numpy()), rtol=1e-6)
    pi = torch.tensor([0.4, 0.3, 0.2, 0.1])
    torch.testing.assert_close(stick_breaking_log_weights(weights_to_sticks(pi)).exp(), pi)


def test_log_prob_matches_scipy_beta():
    prior = priors.StickBreaking(2.5).build(6)
    tr = poutine.trace(prior).get_trace()
    v = tr.nodes["sticks"]["value"].double().numpy()
    expected = stats.beta.logpdf(v, 1.0, 2.5).sum()
    assert float(tr.log_prob_sum()) == pytest.approx(expected, rel=1e-4)
    assert tr.nodes["sticks"]["fn"].event_dim == 1


def test_prior_and_posterior_means_are_exact():
    prior = priors.StickBreaking(1.0).build(4)
    np.testing.assert_allclose(prior.mean().numpy(), [0.5, 0.25, 0.125, 0.125])
    guide = prior.make_guide()
    guide.set_weights(torch.tensor([0.5, 0.3, 0.15, 0.05]), n_samples=200)
    # conjugate centring: a_k = 1 + n_k, b_k = alpha + sum_{j>k} n_j
    np.testing.assert_allclose(guide.a.detach().numpy(), [101.0, 61.0, 31.0], rtol=1e-5)
    np.testing.assert_allclose(guide.b.detach().numpy(), [101.0, 41.0, 11.0], rtol=1e-5)
    # E[pi] by Monte Carlo over q agrees with the closed form
    with torch.no_grad():
        draws = torch.distributions.Beta(guide.a, guide.b).sample((20000,))
    mc = stick_breaking_log_weights(draws).exp().mean(0)
    torch.testing.assert_close(guide.mean(), mc, atol=2e-3, rtol=0)


def test_single_component_and_bad_alpha():
    prior = priors.StickBreaking().build(1)
    torch.testing.assert_close(prior(), torch.ones(1))
    assert prior.make_guide() is None
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="alpha"):
            priors.StickBreaking(bad)


def test_mini_batch_elbo_matches_float64_formula():
    x, _ = three_blobs(40)
    n, b, alpha = len(x), 10, 1.5
    model = PlainGMM(priors.StickBreaking(alpha), 4, 2)
    guide = WeightsGuide(model.weights.make_guide())
    guide.weights.set_weights(torch.tensor([0.4, 0.3, 0.2, 0.1]), n_samples=20)
    xb = torch.as_tensor(x[:b])
    with local_params():
        loss, gtr = elbo_and_guide_trace(model, guide, xb, n, seed=5)
        v = gtr.nodes["sticks"]["value"]
        a, bb = guide.weights.a.detach().double(), guide.weights.b.detach().double()
        loc, scale = model.components.loc.detach(), model.components.scale.detach()
    v64 = v.detach().double().numpy()
    expected = (
        stats.beta.logpdf(v64, 1.0, alpha).sum()
        - stats.beta.logpdf(v64, a.numpy(), bb.numpy()).sum()
        + n / b * mixture_loglik64(x[:b], np.log(_numpy_weights(v64)), loc.numpy(), scale.numpy())
    )
    assert -float(loss.detach()) == pytest.approx(expected, rel=1e-4)


def test_twenty_components_on_three_clusters_leave_about_three_in_use():
    """A truncated DP mixture (K = 20) on data from 3 clusters switches the others off."""
    x, _ = three_blobs(300)
    k = 20
    model = PlainGMM(priors.StickBreaking(0.5), k, 2)
    guide = WeightsGuide(model.weights.make_guide())
    start = np.random.default_rng(0).choice(len(x), k, replace=False)
    with local_params():  # components start at random data points, broad
        model.components.set_from_moments(torch.as_tensor(x[start]), torch.full((k, 2), 9.0))
    with single_thread():
        SVITrainer(
            model,
            guide,
            epochs=200,
            batch_size=len(x),
            lr=0.1,
            device="cpu",
            random_state=0,
            progress=False,
        ).fit(torch.as_tensor(x))
    with local_params():
        mean = guide.weights.mean().numpy()
    assert (mean > 0.05).sum() == 3
    assert np.sort(mean)[-3:].sum() > 0.95
    in_use = inspect.expected_n_clusters(model, guide, num_samples=200, random_state=0)
    assert 3 <= in_use <= 5


def test_start_mixture_is_the_dirichlet_process_mixture_of_this_prior():
    """The start's mixture leaves the components three clusters do not need empty, and its
    posterior over the sticks is this prior's conjugate update (float64 formula)."""
    x, labels = three_blobs(300)
    alpha, k = 0.5, 10
    mixture = priors.StickBreaking(alpha).build(k).start_mixture(k, n_init=1, random_state=0)
    found = mixture.fit_predict(x)
    assert len(np.unique(found)) == 3
    assert metrics.ari(labels, found) > 0.95
    # scikit-learn's q(v_k) = Beta(1 + n_k, alpha + sum_{j>k} n_j) at its expected counts
    a_sk, b_sk = (np.asarray(c, dtype=np.float64) for c in mixture.weight_concentration_)
    counts = a_sk - 1.0
    after = np.array([counts[j + 1 :].sum() for j in range(k)])
    np.testing.assert_allclose(b_sk, alpha + after, rtol=1e-10)
    # the same update in our guide (its K - 1 sticks; pi_K is the remainder)
    guide = priors.StickBreaking(alpha).build(k).make_guide()
    with local_params():
        guide.set_weights(torch.as_tensor(counts / counts.sum()), n_samples=counts.sum())
        a, b = guide.a.detach().double().numpy(), guide.b.detach().double().numpy()
    np.testing.assert_allclose(a, 1.0 + counts[:-1], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(b, alpha + after[:-1], rtol=1e-5, atol=1e-3)
    diagonal = priors.StickBreaking(alpha).start_mixture(k, covariance_type="diag")
    assert diagonal.covariance_type == "diag" and diagonal.weight_concentration_prior == alpha


@pytest.mark.parametrize("spec", ["stick-breaking:1", "zipf:1.1"])
def test_assignment_posterior_is_exact_at_1024_components_and_64_dims(spec):
    """VaDE's p(y | x) with 1,024 components in 64 latent dims, a long-tailed posterior over
    the weights: finite, and equal to a float64 computation from the same parameters."""
    from scipy.special import logsumexp

    from pyroclust import predictive
    from pyroclust.datasets import zipf_weights
    from pyroclust.priors.zipf import zipf_log_weights

    k, d, n = 1024, 64, 16
    gen = torch.Generator().manual_seed(0)
    model, guide = zoo.make(
        "vade", 8, n_components=k, latent_dim=d, hidden=(8,), likelihood="gaussian", weights=spec
    )
    structure.attach_weight_guides(model, guide)
    x = torch.randn(n, 8, generator=gen)
    with local_params(), torch.no_grad():
        loc = torch.randn(k, d, generator=gen) * 3.0
        var = torch.rand(k, d, generator=gen) + 0.5
        model.components.set_from_moments(loc, var)
        if guide.weights is not None:  # a Zipf-shaped posterior over the sticks, N = 200,000
            pi = torch.as_tensor(zipf_weights(k, 1.1), dtype=torch.float32)
            guide.weights.set_weights(pi, n_samples=200_000)
        with predictive.evaluating(model, guide):
            lp = predictive.cluster_log_proba(model, guide, x).double().numpy()
            code = guide.encode(x)[0].double().numpy()
        if guide.weights is not None:
            a, b = (t.detach().double().numpy() for t in (guide.weights.a, guide.weights.b))
            log_pi = np.log(_numpy_weights(a / (a + b)))
        else:
            log_pi = zipf_log_weights(torch.tensor(1.1, dtype=torch.float64), k).numpy()
        loc64, sd64 = loc.double().numpy(), model.components.scale.detach().double().numpy()
    assert lp.shape == (n, k) and np.isfinite(lp).all()
    joint = log_pi[None] + stats.norm.logpdf(code[:, None, :], loc64[None], sd64[None]).sum(-1)
    expected = joint - logsumexp(joint, axis=1, keepdims=True)
    np.testing.assert_allclose(np.exp(lp), np.exp(expected), atol=1e-5)
    likely = expected > -30.0
    np.testing.assert_allclose(lp[likely], expected[likely], atol=2e-3)


def test_zoo_spec_strings():
    for spec in ("stick-breaking:0.5", "stick_breaking:0.5"):
        prior = zoo.make_weight_prior(spec)
        assert isinstance(prior, priors.StickBreaking) and prior.alpha == 0.5
        assert not prior.learn_alpha and prior.prior is None
    bare = zoo.make_weight_prior("stick-breaking")
    assert bare.alpha == 1.0 and not bare.learn_alpha and bare.prior is None


def test_learned_alpha_is_a_positive_parameter_recorded_at_the_concentration_site():
    model = PlainGMM(priors.StickBreaking(2.0, learn_alpha=True), 4, 2)
    x = torch.as_tensor(three_blobs(30)[0])
    with local_params():
        tr = poutine.trace(model).get_trace(x)
        names = [name for name, _ in model.named_parameters()]
        assert "weights.learned_alpha_unconstrained" in names
        assert tr.nodes["concentration"]["type"] == "sample"  # a deterministic site
        assert float(tr.nodes["concentration"]["value"].detach()) == pytest.approx(2.0)
        v = tr.nodes["sticks"]["value"].detach().double().numpy()
        log_p = tr.nodes["sticks"]["fn"].log_prob(tr.nodes["sticks"]["value"]).detach()
        assert float(log_p) == (pytest.approx(stats.beta.logpdf(v, 1.0, 2.0).sum(), rel=1e-5))
        assert float(model.weights.concentration()) == pytest.approx(2.0)


def test_learned_alpha_gradient_is_the_type_two_likelihood_gradient():
    r"""With the sticks' KL computed in closed form (TraceMeanField_ELBO), the loss's gradient in
    alpha is minus d/d alpha E_q log p(v | alpha) = -[(K - 1)/alpha + sum_k E_q log(1 - v_k)],
    E_q log(1 - v_k) = psi(b_k) - psi(a_k + b_k); it vanishes at the type-II estimate."""
    k, alpha = 6, 1.7
    prior = priors.StickBreaking(alpha, learn_alpha=True).build(k)
    guide = prior.make_guide()
    guide.set_weights(torch.tensor([0.3, 0.25, 0.2, 0.15, 0.07, 0.03]), n_samples=50)
    with local_params():
        loss = TraceMeanField_ELBO().differentiable_loss(prior, guide)
        (grad_u,) = torch.autograd.grad(loss, prior.learned_alpha_unconstrained)
        grad = grad_u / alpha  # alpha = exp(u): d/d alpha = d/du / alpha
        a, b = (t.detach().double().numpy() for t in (guide.a, guide.b))
    e_log_rest = special.digamma(b) - special.digamma(a + b)
    assert float(grad) == pytest.approx(-((k - 1) / alpha + e_log_rest.sum()), rel=1e-5)
    assert -(k - 1) / e_log_rest.sum() > 0  # the stationary point, alpha-hat, is positive


def test_alpha_prior_log_prob_guide_and_mean_match_scipy():
    prior = priors.StickBreaking(2.0, prior=dist.Gamma(2.0, 1.0)).build(5)
    tr = poutine.trace(prior).get_trace()
    alpha = float(tr.nodes["concentration"]["value"])
    v = tr.nodes["sticks"]["value"].double().numpy()
    expected = stats.gamma.logpdf(alpha, 2.0) + stats.beta.logpdf(v, 1.0, alpha).sum()
    assert float(tr.log_prob_sum()) == pytest.approx(expected, rel=1e-4)
    guide = prior.make_guide()
    gtr = poutine.trace(guide).get_trace()
    ag = float(gtr.nodes["concentration"]["value"].detach())
    vg = gtr.nodes["sticks"]["value"].detach().double().numpy()
    a, b = (t.detach().double().numpy() for t in (guide.a, guide.b))
    expected_q = stats.lognorm.logpdf(ag, 0.1, scale=2.0) + stats.beta.logpdf(vg, a, b).sum()
    assert float(gtr.log_prob_sum().detach()) == pytest.approx(expected_q, rel=1e-4)
    # the prior mean of pi, averaged over alpha, against Monte Carlo of the definition
    alphas = np.random.default_rng(0).gamma(2.0, 1.0, 200_000)
    ev = 1.0 / (1.0 + alphas)  # E v_k = 1 / (1 + alpha)
    mc = np.stack([ev * (1 - ev) ** j for j in range(4)] + [(1 - ev) ** 4], -1).mean(0)
    np.testing.assert_allclose(prior.mean().double().numpy(), mc, atol=3e-3)
    assert float(prior.mean().sum()) == pytest.approx(1.0, abs=1e-5)


def test_mini_batch_elbo_with_inferred_alpha_matches_float64_formula():
    x, _ = three_blobs(40)
    n, b = len(x), 10
    model = PlainGMM(priors.StickBreaking(1.5, prior=dist.Gamma(1.0, 1.0)), 4, 2)
    guide = WeightsGuide(model.weights.make_guide())
    xb = torch.as_tensor(x[:b])
    with local_params():
        loss, gtr = elbo_and_guide_trace(model, guide, xb, n, seed=3)
        alpha = float(gtr.nodes["concentration"]["value"].detach())
        v64 = gtr.nodes["sticks"]["value"].detach().double().numpy()
        a, bb = guide.weights.a.detach().double(), guide.weights.b.detach().double()
        loc, scale = model.components.loc.detach(), model.components.scale.detach()
    expected = (
        stats.gamma.logpdf(alpha, 1.0)
        - stats.lognorm.logpdf(alpha, 0.1, scale=1.5)
        + stats.beta.logpdf(v64, 1.0, alpha).sum()
        - stats.beta.logpdf(v64, a.numpy(), bb.numpy()).sum()
        + n / b * mixture_loglik64(x[:b], np.log(_numpy_weights(v64)), loc.numpy(), scale.numpy())
    )
    assert -float(loss.detach()) == pytest.approx(expected, rel=1e-4)


def test_invalid_concentration_settings():
    with pytest.raises(ValueError, match="not both"):
        priors.StickBreaking(1.0, learn_alpha=True, prior=dist.Gamma(1.0, 1.0))
    with pytest.raises(ValueError, match="scalar"):
        priors.StickBreaking(1.0, prior=dist.Gamma(torch.ones(2), 1.0).to_event(1))
    with pytest.raises(ValueError, match="positive"):
        priors.StickBreaking(0.0, learn_alpha=True)


def test_learned_alpha_grows_with_the_clusters_in_use():
    """SVI's point estimate of alpha reaches the type-II estimate of the sticks' posterior,
    and more clusters in use give a larger alpha (the prior expects about
    alpha log(1 + N / alpha) clusters)."""
    got = {}
    for used in (2, 12):
        prior = priors.StickBreaking(1.0, learn_alpha=True).build(20)
        guide = prior.make_guide()
        pi = torch.cat([torch.full((used,), 1.0 / used), torch.zeros(20 - used)])
        guide.set_weights(pi, n_samples=10_000)
        with local_params():
            opt = torch.optim.Adam([prior.learned_alpha_unconstrained], lr=0.05)
            for _ in range(400):
                loss = TraceMeanField_ELBO().differentiable_loss(prior, guide)
                opt.zero_grad()
                loss.backward()
                opt.step()
            got[used] = float(prior.concentration())
            a, b = (t.detach().double().numpy() for t in (guide.a, guide.b))
        alpha_hat = -19 / (special.digamma(b) - special.digamma(a + b)).sum()
        assert got[used] == pytest.approx(alpha_hat, rel=0.02)
    assert got[12] > got[2] > 0 and math.isfinite(got[12])


class TestVaDEWithStickBreaking(ModelGuideChecks):
    """The shared model/guide checks for VaDE with stick-breaking weights."""

    def weights(self):  # noqa: D102
        return "stick-breaking:1.0"

    def make(self):  # noqa: D102
        model, guide = zoo.make(
            "vade",
            n_features=12,
            n_components=4,
            latent_dim=2,
            hidden=(8,),
            weights=self.weights(),
        )
        return model, guide, torch.rand(12, 12, generator=torch.Generator().manual_seed(0))


class TestVaDEWithInferredConcentration(TestVaDEWithStickBreaking):
    """The same checks with a Gamma prior over alpha (a latent site in model and guide)."""

    def weights(self):  # noqa: D102
        return priors.StickBreaking(1.0, prior=dist.Gamma(1.0, 1.0))


def test_learned_and_inferred_alpha_through_the_estimator(tmp_path, x_small, tiny_vade):
    """A learned alpha fits, saves and loads with a pair built the same way; a Gamma prior
    over alpha gives alpha a posterior, inspectable beside the weights."""
    from pyroclust.estimator import Clusterer
    from pyroclust.infer.init import GMMInit

    model, guide = tiny_vade(weights=priors.StickBreaking(1.0, learn_alpha=True))
    est = Clusterer(
        model, guide, epochs=2, batch_size=16, init=GMMInit(pretrain_epochs=1), progress=False
    ).fit(x_small)
    alpha = float(est.model_.weights.concentration())
    assert alpha > 0 and alpha != 1.0  # moved from its start
    path = tmp_path / "sb.ckpt"
    est.save(path)
    loaded = type(est).load(path, *tiny_vade(weights=priors.StickBreaking(1.0, learn_alpha=True)))
    assert float(loaded.model_.weights.concentration()) == pytest.approx(alpha)
    np.testing.assert_array_equal(loaded.predict_proba(x_small), est.predict_proba(x_small))

    model, guide = tiny_vade(weights=priors.StickBreaking(1.0, prior=dist.Gamma(1.0, 1.0)))
    est = Clusterer(
        model, guide, epochs=2, batch_size=16, init=GMMInit(pretrain_epochs=1), progress=False
    ).fit(x_small)
    post = inspect.posterior_dataset(est.weights_posterior(num_samples=50, random_state=0))
    assert set(post.data_vars) == {"weights", "sticks", "concentration"}
    assert post["concentration"].dims == ("chain", "draw")
    assert float(post["concentration"].values.std()) > 0
    assert (post["concentration"].values > 0).all()
