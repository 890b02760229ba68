"""Fixed (a given vector or uniform) and learned point-estimate weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pyro import poutine

from pyroclust import priors
from pyroclust.infer.elbo import local_params


def test_fixed_given_vector_is_normalised_on_the_simplex_and_costs_nothing():
    prior = priors.Fixed([2.0, 1.0, 1.0])
    assert prior.n_components == 3  # built from the vector's length
    tr = poutine.trace(prior).get_trace()
    pi = tr.nodes["weights"]["value"]
    np.testing.assert_allclose(pi.double().numpy(), [0.5, 0.25, 0.25], rtol=1e-6)
    assert tr.nodes["weights"]["is_observed"]  # deterministic: not a latent site
    assert float(tr.log_prob_sum()) == 0.0
    torch.testing.assert_close(prior.mean(), pi)
    assert list(prior.parameters()) == [] and prior.make_guide() is None
    prior.set_weights(torch.tensor([0.1, 0.1, 0.8]))  # fixed: nothing to set
    torch.testing.assert_close(prior(), pi)


def test_fixed_vector_of_another_length_is_refused_by_a_model():
    with pytest.raises(ValueError, match="built for 3"):
        priors.Fixed([1.0, 1.0, 1.0]).build(4)


@pytest.mark.parametrize("bad", [[-1.0, 2.0], [0.0, 0.0], [[0.5, 0.5]]])
def test_fixed_refuses_invalid_vectors(bad):
    with pytest.raises(ValueError, match="non-negative"):
        priors.Fixed(bad)


def test_uniform_is_one_over_k():
    prior = priors.Uniform().build(5)
    torch.testing.assert_close(prior(), torch.full((5,), 0.2))


def test_learned_weights_are_a_softmax_point_estimate():
    prior = priors.Learned().build(4)
    with local_params():
        torch.testing.assert_close(prior(), torch.full((4,), 0.25))
        target = torch.tensor([0.1, 0.2, 0.3, 0.4])
        prior.set_weights(target)
        tr = poutine.trace(prior).get_trace()
        pi = tr.nodes["weights"]["value"].detach()
        assert float(tr.log_prob_sum()) == 0.0  # a point estimate: no prior density
        assert [name for name, _ in prior.named_parameters()] == ["logits"]
    torch.testing.assert_close(pi, target)
    assert float(pi.sum()) == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(prior.mean(), target)
    assert prior.make_guide() is None


def test_an_unbuilt_prior_says_how_to_build_it():
    with pytest.raises(RuntimeError, match="build"):
        priors.Learned()()


def test_point_estimate_weights_start_from_a_mixture_with_every_component():
    """Maximum-likelihood weights have no empty components: their start mixture is a
    fixed-K Gaussian mixture, which splits three clusters into as many as it is given."""
    from sklearn.mixture import GaussianMixture

    from .gmm_model import three_blobs

    x, _ = three_blobs(300)
    mixture = priors.Learned().build(6).start_mixture(6, n_init=1, random_state=0)
    assert isinstance(mixture, GaussianMixture) and mixture.covariance_type == "full"
    assert len(np.unique(mixture.fit_predict(x))) == 6
