"""A weight prior written by a user, with no change to models, guides or the estimator."""

from __future__ import annotations

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroParam
from torch.distributions import constraints

from pyroclust import inspect, priors
from pyroclust.estimator import Clusterer
from pyroclust.infer.init import GMMInit


class LogisticNormal(priors.WeightPrior):
    """pi = softmax(eta), eta ~ N(0, sigma^2 I) (site "logits"); q(eta) mean-field Normal."""

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def forward(self) -> torch.Tensor:
        k = self._check_built()
        eta = pyro.sample("logits", dist.Normal(torch.zeros(k), self.sigma).to_event(1))
        return pyro.deterministic("weights", torch.softmax(eta, -1), event_dim=1)

    def make_guide(self) -> priors.WeightGuide:
        return LogisticNormalGuide(self._check_built())

    def mean(self) -> torch.Tensor:
        return torch.full((self._check_built(),), 1.0 / self.n_components)


class LogisticNormalGuide(priors.WeightGuide):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.loc = PyroParam(torch.zeros(k))
        self.scale = PyroParam(torch.full((k,), 0.1), constraint=constraints.positive)

    def forward(self) -> torch.Tensor:
        return pyro.sample("logits", dist.Normal(self.loc, self.scale).to_event(1))

    def set_weights(self, pi: torch.Tensor, n_samples: int | None = None) -> None:
        self.loc = pi.clamp_min(1e-6).log() - pi.clamp_min(1e-6).log().mean()

    def mean(self) -> torch.Tensor:
        with torch.no_grad():
            eta = dist.Normal(self.loc, self.scale).sample((2000,))
        return torch.softmax(eta, -1).mean(0)


def test_user_defined_prior_fits_vade_through_the_estimator(x_small, tiny_vade):
    model, guide = tiny_vade(weights=LogisticNormal())
    est = Clusterer(
        model,
        guide,
        epochs=2,
        batch_size=16,
        init=GMMInit(pretrain_epochs=2),
        random_state=0,
        progress=False,
    ).fit(x_small)
    assert isinstance(est.guide_.weights, LogisticNormalGuide)  # filled in by the estimator
    assert est.weights_.shape == (3,)
    assert abs(est.weights_.sum() - 1.0) < 1e-4
    assert est.predict(x_small).shape == (len(x_small),)
    post = inspect.posterior_dataset(est.weights_posterior(num_samples=50, random_state=0))
    assert set(post.data_vars) == {"logits", "weights"}
    assert post["weights"].shape == (1, 50, 3)
    np.testing.assert_allclose(post["weights"].values.sum(-1), 1.0, rtol=1e-5)
    # the draws come from q: the logits vary, around the guide's location
    assert float(post["logits"].values.std(1).min()) > 0
