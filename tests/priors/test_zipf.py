"""The Zipf weight prior: fixed, learned and inferred exponents; ordered initialisation."""

from __future__ import annotations

import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from scipy import stats

from pyroclust import priors, zoo
from pyroclust.infer.elbo import local_params
from pyroclust.infer.init import set_mixture
from pyroclust.priors.zipf import zipf_log_weights
from pyroclust.testing import ModelGuideChecks

from .gmm_model import PlainGMM, WeightsGuide, elbo_and_guide_trace, mixture_loglik64, three_blobs


def _numpy_zipf(s: float, k: int) -> np.ndarray:
    w = np.arange(1, k + 1, dtype=np.float64) ** -s
    return w / w.sum()


@pytest.mark.parametrize("s", [0.0, 0.7, 1.1, 3.0])
def test_weights_follow_the_law_on_the_simplex(s):
    prior = priors.Zipf(s).build(12)
    pi = prior()
    np.testing.assert_allclose(pi.double().numpy(), _numpy_zipf(s, 12), rtol=1e-5)
    assert float(pi.sum()) == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(prior.mean(), pi)


def test_zero_exponent_is_uniform():
    torch.testing.assert_close(priors.Zipf(0.0).build(7)(), torch.full((7,), 1 / 7))


def test_log_space_survives_many_components_and_large_exponents():
    log_pi = zipf_log_weights(torch.tensor(50.0), 1000)
    assert torch.isfinite(log_pi).all()
    assert float(log_pi.logsumexp(-1)) == pytest.approx(0.0, abs=1e-5)


def test_learned_exponent_is_a_positive_parameter():
    model = PlainGMM(priors.Zipf(1.0, learn_exponent=True), 3, 2)
    x = torch.as_tensor(three_blobs(30)[0])
    with local_params():
        tr = poutine.trace(model).get_trace(x)
        names = [name for name, _ in model.named_parameters()]
        assert "weights.exponent_unconstrained" in names
        assert float(tr.nodes["zipf_exponent"]["value"].detach()) == pytest.approx(1.0)
        assert model.weights.make_guide() is None


def test_exponent_prior_log_prob_and_guide_match_scipy():
    prior = priors.Zipf(1.2, prior=dist.Gamma(2.0, 3.0)).build(5)
    tr = poutine.trace(prior).get_trace()
    s = float(tr.nodes["zipf_exponent"]["value"])
    assert float(tr.log_prob_sum()) == pytest.approx(stats.gamma.logpdf(s, 2.0, scale=1 / 3.0))
    np.testing.assert_allclose(
        tr.nodes["weights"]["value"].double().numpy(), _numpy_zipf(s, 5), rtol=1e-5
    )
    guide = prior.make_guide()
    gtr = poutine.trace(guide).get_trace()
    sg = float(gtr.nodes["zipf_exponent"]["value"].detach())
    expected = stats.lognorm.logpdf(sg, 0.1, scale=1.2)
    assert float(gtr.log_prob_sum().detach()) == pytest.approx(expected, rel=1e-4)
    # posterior mean of pi (quadrature) against Monte Carlo over q(s)
    s_draws = torch.distributions.LogNormal(math.log(1.2), 0.1).sample((40000,))
    mc = zipf_log_weights(s_draws, 5).exp().mean(0)
    torch.testing.assert_close(guide.mean(), mc, atol=2e-3, rtol=0)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="exponent"):
        priors.Zipf(-1.0)
    with pytest.raises(ValueError, match="positive"):
        priors.Zipf(0.0, learn_exponent=True)
    with pytest.raises(ValueError, match="not both"):
        priors.Zipf(1.0, learn_exponent=True, prior=dist.Gamma(1.0, 1.0))


def test_set_weights_is_a_no_op_and_init_sorts_by_size():
    """An ordered prior: initialisation gives the largest cluster rank 1."""
    model = PlainGMM(priors.Zipf(1.0), 3, 2)
    before = model.weights().clone()
    model.weights.set_weights(torch.tensor([0.1, 0.2, 0.7]))
    torch.testing.assert_close(model.weights(), before)
    loc = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    with local_params():
        set_mixture(model, WeightsGuide(None), np.array([0.2, 0.7, 0.1]), loc, np.ones((3, 2)))
        got = model.components.loc.detach().numpy()
    np.testing.assert_allclose(got, loc[[1, 0, 2]])
    # an unordered prior keeps the order
    plain = PlainGMM(priors.Learned(), 3, 2)
    with local_params():
        set_mixture(plain, WeightsGuide(None), np.array([0.2, 0.7, 0.1]), loc, np.ones((3, 2)))
        np.testing.assert_allclose(plain.components.loc.detach().numpy(), loc)


def test_mini_batch_elbo_with_inferred_exponent_matches_float64_formula():
    x, _ = three_blobs(30)
    n, b = len(x), 8
    model = PlainGMM(priors.Zipf(0.8, prior=dist.Gamma(2.0, 2.0)), 3, 2)
    guide = WeightsGuide(model.weights.make_guide())
    xb = torch.as_tensor(x[:b])
    with local_params():
        loss, gtr = elbo_and_guide_trace(model, guide, xb, n, seed=1)
        s = float(gtr.nodes["zipf_exponent"]["value"].detach())
        loc, scale = model.components.loc.detach(), model.components.scale.detach()
    expected = (
        stats.gamma.logpdf(s, 2.0, scale=0.5)
        - stats.lognorm.logpdf(s, 0.1, scale=0.8)
        + n / b * mixture_loglik64(x[:b], np.log(_numpy_zipf(s, 3)), loc.numpy(), scale.numpy())
    )
    assert -float(loss.detach()) == pytest.approx(expected, rel=1e-4)


def test_zoo_spec_strings():
    fixed = zoo.make_weight_prior("zipf:1.5").build(4)
    assert not fixed.learn_exponent and float(fixed.exponent) == 1.5
    learned = zoo.make_weight_prior("zipf")
    assert learned.learn_exponent and learned.prior is None


class TestVaDEWithZipfPrior(ModelGuideChecks):
    """The shared model/guide checks for VaDE with a Gamma prior on the Zipf exponent."""

    def make(self):  # noqa: D102
        model, guide = zoo.make(
            "vade",
            n_features=12,
            n_components=4,
            latent_dim=2,
            hidden=(8,),
            weights=priors.Zipf(1.0, prior=dist.Gamma(2.0, 2.0)),
        )
        return model, guide, torch.rand(12, 12, generator=torch.Generator().manual_seed(0))


def test_lognormal_prior_on_the_exponent_through_the_estimator(tmp_path, x_small, tiny_vade):
    """s ~ LogNormal, fitted by the estimator; its posterior is inspectable and the fit saved.

    A prior given as an object has no plain-JSON spec, so the checkpoint is read back with a
    model/guide pair built the same way.
    """
    from pyroclust import inspect
    from pyroclust.estimator import Clusterer
    from pyroclust.exceptions import CheckpointError
    from pyroclust.infer.init import GMMInit

    def pair():
        return tiny_vade(weights=priors.Zipf(1.0, prior=dist.LogNormal(0.0, 0.5)))

    prior = pair()[0].weights
    tr = poutine.trace(prior).get_trace()
    s = float(tr.nodes["zipf_exponent"]["value"])
    assert float(tr.log_prob_sum()) == pytest.approx(stats.lognorm.logpdf(s, 0.5, scale=1.0))

    model, guide = pair()
    assert model.zoo_spec is None
    est = Clusterer(
        model, guide, epochs=2, batch_size=16, init=GMMInit(pretrain_epochs=1), progress=False
    ).fit(x_small)
    assert isinstance(est.guide_.weights, priors.ZipfExponentGuide)
    post = inspect.posterior_dataset(est.weights_posterior(num_samples=50, random_state=0))
    assert set(post.data_vars) == {"weights", "zipf_exponent"}
    assert float(post["zipf_exponent"].values.std()) > 0

    path = tmp_path / "zipf.ckpt"
    est.save(path)
    with pytest.raises(CheckpointError, match="prototypes"):
        type(est).load(path)
    loaded = type(est).load(path, *pair())
    np.testing.assert_array_equal(loaded.weights_, est.weights_)
    np.testing.assert_array_equal(loaded.predict_proba(x_small), est.predict_proba(x_small))
