"""The contract on three shapes VaDE does not have (tests/contract/shapes.py).

Each shape passes the shared checks (which fit it through ``Clusterer``, predict every cluster
site, sample from every component and save/load exactly). Its ELBO equals a plain float64
torch formula computed from the modules' weights with the same noise, and ``predict_proba``
equals brute-force enumeration in float64.
"""

from __future__ import annotations

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceEnum_ELBO

from pyroclust import priors, structure
from pyroclust.estimator import Clusterer
from pyroclust.infer.elbo import make_elbo
from pyroclust.infer.init import RandomInit
from pyroclust.predictive import cluster_log_proba
from pyroclust.testing import ModelGuideChecks
from tests.conftest import blobs
from tests.contract.shapes import (
    GuideEnumerated,
    GuideEnumeratedGuide,
    Relaxed,
    RelaxedGuide,
    TwoLayers,
    TwoLayersGuide,
)
from tests.reference import bernoulli_log_prob as _bernoulli
from tests.reference import concrete_log_prob as _concrete
from tests.reference import normal_log_prob as _normal
from tests.reference import same_noise_loss as _same_noise_loss

N_FEATURES = 12


def _x(n: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(blobs(n, N_FEATURES, seed=seed))


class TestGuideEnumerated(ModelGuideChecks):
    """y enumerated in the guide, one decoder per cluster (the k-DVAE shape)."""

    def make(self):  # noqa: D102
        return GuideEnumerated(N_FEATURES), GuideEnumeratedGuide(N_FEATURES), _x()


class TestGuideEnumeratedDirichlet(ModelGuideChecks):
    """The same with a Dirichlet prior, whose posterior the guide must learn."""

    def make(self):  # noqa: D102
        model = GuideEnumerated(N_FEATURES, weights=priors.Dirichlet(1.5))
        return model, GuideEnumeratedGuide(N_FEATURES), _x()


class TestRelaxed(ModelGuideChecks):
    """A relaxed y in model and guide, decoding from (z, y) (the GMVAE shape)."""

    def make(self):  # noqa: D102
        return Relaxed(N_FEATURES), RelaxedGuide(N_FEATURES), _x()


class TestTwoLayers(ModelGuideChecks):
    """Two cluster sites at two latent layers, each with its own weight prior (VLAC shape)."""

    def make(self):  # noqa: D102
        return TwoLayers(N_FEATURES), TwoLayersGuide(N_FEATURES), _x()


# ----------------------------------------------------------------------------- helpers
def _double(model, guide):
    structure.attach_weight_guides(model, guide)
    return model.double(), guide.double()


# ----------------------------------------------------------------------------- the ELBOs
def test_guide_enumerated_elbo_matches_float64_formula() -> None:
    model, guide = _double(GuideEnumerated(N_FEATURES), GuideEnumeratedGuide(N_FEATURES))
    with torch.no_grad():
        model.weights.logits.copy_(torch.tensor([0.3, -0.5, 0.1], dtype=torch.float64))
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    loss = float(loss.detach())
    z = trace.nodes["assignment"]["value"]
    assert z.shape == (3, 1), "the guide enumerates y"
    z = trace.nodes["z"]["value"].permute(1, 0, 2)  # (B, K, d): one draw per cluster
    with torch.no_grad():
        qy, loc, scale = guide.heads(xb)
        log_q_y = qy.log_softmax(-1)
        log_pi = model.weights.logits.log_softmax(-1)
        logits = torch.einsum("bkd,kdf->bkf", z, model.dec_w) + model.dec_b
        inner = (
            log_pi
            + _normal(z, torch.zeros(()), 1.0)
            + _bernoulli(logits, xb[:, None])
            - _normal(z, loc, scale)
            - log_q_y
        )
        expected = (log_q_y.exp() * inner).sum(-1).sum() * n / len(xb)
    assert loss == pytest.approx(-float(expected), rel=1e-10, abs=1e-9)


def test_relaxed_elbo_matches_float64_formula() -> None:
    model, guide = _double(Relaxed(N_FEATURES), RelaxedGuide(N_FEATURES))
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, Trace_ELBO) and not isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    loss = float(loss.detach())
    y, z = trace.nodes["assignment"]["value"], trace.nodes["z"]["value"]
    with torch.no_grad():
        uniform = torch.zeros(3, dtype=torch.float64)
        qlogits = guide.qy(xb)
        loc, scale = guide.loc(xb), F.softplus(guide.scale(xb)) + 1e-3
        elbo_rows = (
            _concrete(y.log(), uniform, 1.0)
            + _normal(z, torch.zeros(()), 1.0)
            + _bernoulli(model.from_z(z) + model.from_y(y), xb)
            - _normal(z, loc, scale)
            - _concrete(y.log(), qlogits, 1.0)
        )
        expected = elbo_rows.sum() * n / len(xb)
    assert loss == pytest.approx(-float(expected), rel=1e-9, abs=1e-8)


def test_two_layers_elbo_matches_float64_formula() -> None:
    model, guide = _double(TwoLayers(N_FEATURES), TwoLayersGuide(N_FEATURES))
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    loss = float(loss.detach())
    pi1 = trace.nodes["y1_weights"]["value"]
    z1 = trace.nodes["z1"]["value"]  # (K1, B, d1)
    z2 = trace.nodes["z2"]["value"]  # (K2, 1, B, d2)
    k1, k2 = z1.shape[0], z2.shape[0]
    with torch.no_grad():
        alpha = model.weights1.alpha
        beta = guide.weight_guides["y1"].concentration
        global_terms = torch.distributions.Dirichlet(alpha).log_prob(pi1)
        global_terms = global_terms - torch.distributions.Dirichlet(beta).log_prob(pi1)
        log_pi2 = model.weights2.logits.log_softmax(-1)
        log_q1 = guide.qy1(xb).log_softmax(-1)  # (B, K1)
        total = torch.zeros(len(xb), dtype=torch.float64)
        for a in range(k1):
            log_q2 = (guide.qy2(xb) + guide.y1_to_y2[a]).log_softmax(-1)  # (B, K2)
            za = z1[a]
            for b in range(k2):
                zb = z2[b, 0]
                inner = (
                    pi1[a].log()
                    + log_pi2[b]
                    + _normal(za, model.m1[a], 1.0)
                    + _normal(zb, model.m2[b], 1.0)
                    + _bernoulli(model.w1(za) + model.w2(zb), xb)
                    - _normal(za, guide.loc1(xb) + guide.emb1[a], guide.log_scale1.exp())
                    - _normal(zb, guide.loc2(xb) + guide.emb2[b], guide.log_scale2.exp())
                    - log_q1[:, a]
                    - log_q2[:, b]
                )
                total = total + (log_q1[:, a] + log_q2[:, b]).exp() * inner
        expected = global_terms + total.sum() * n / len(xb)
    assert loss == pytest.approx(-float(expected), rel=1e-10, abs=1e-9)


# ----------------------------------------------------------------------------- posteriors
def test_predict_proba_equals_brute_force_enumeration() -> None:
    x = _x(10).double()
    model, guide = _double(GuideEnumerated(N_FEATURES), GuideEnumeratedGuide(N_FEATURES))
    expected = guide.qy(x).log_softmax(-1)
    got = cluster_log_proba(model, guide, x)
    assert torch.allclose(got, expected, atol=1e-12)

    model, guide = _double(Relaxed(N_FEATURES), RelaxedGuide(N_FEATURES))
    got = cluster_log_proba(model, guide, x, site="assignment")
    assert torch.allclose(got, guide.qy(x).log_softmax(-1), atol=1e-12)

    model, guide = _double(TwoLayers(N_FEATURES), TwoLayersGuide(N_FEATURES))
    with torch.no_grad():
        q1 = guide.qy1(x).softmax(-1)
        q2 = torch.zeros(len(x), 2, dtype=torch.float64)
        for a in range(3):  # q(y2 | x) = sum_a q(y1 = a | x) q(y2 | x, y1 = a), by brute force
            q2 += q1[:, a : a + 1] * (guide.qy2(x) + guide.y1_to_y2[a]).softmax(-1)
    assert torch.allclose(cluster_log_proba(model, guide, x, site="y1").exp(), q1, atol=1e-12)
    assert torch.allclose(cluster_log_proba(model, guide, x, site="y2").exp(), q2, atol=1e-12)


def test_guide_side_posterior_finite_at_1000_clusters_and_64_dims() -> None:
    model, guide = Relaxed(N_FEATURES, 1000, 64), RelaxedGuide(N_FEATURES, 1000, 64)
    with torch.no_grad():
        guide.qy.weight.mul_(200.0)  # very peaked logits: exp would underflow
    lp = cluster_log_proba(model, guide, _x(16))
    assert lp.shape == (16, 1000) and torch.isfinite(lp).all()
    assert torch.allclose(lp.logsumexp(-1), torch.zeros(16), atol=1e-5)


def test_estimator_predicts_every_site_of_two_layers() -> None:
    x = _x(30)
    est = Clusterer(
        TwoLayers(N_FEATURES),
        TwoLayersGuide(N_FEATURES),
        epochs=2,
        batch_size=10,
        init=RandomInit(),
        random_state=0,
        progress=False,
    ).fit(x)
    assert [s.name for s in est.cluster_sites_] == ["y1", "y2"]
    assert np.array_equal(est.labels_, est.predict(x, site="y1"))
    assert est.predict_proba(x, site="y2").shape == (30, 2)
    assert set(est.codes(x)) == {"z1", "z2"} and est.transform(x).shape == (30, 4)
    assert est.weights_.shape == (3,)  # the first site's (Dirichlet) posterior mean
    with pytest.raises(ValueError, match="no cluster site 'y3'"):
        est.predict(x, site="y3")


def test_sample_from_relaxed_component_conditions_the_one_hot_site() -> None:
    from pyroclust.predictive import sample

    model = Relaxed(N_FEATURES)
    draws = sample(model, 4, component=2)
    assert draws["assignment"].tolist() == [2, 2, 2, 2]
    with torch.no_grad():
        y = F.one_hot(torch.full((4,), 2), 3).float()
        expected = torch.sigmoid(model.from_z(draws["z"]) + model.from_y(y))
    assert torch.allclose(torch.as_tensor(draws["x"]), expected)


def test_sample_draws_the_weights_from_their_posterior() -> None:
    """With a Dirichlet prior, the weights of sample() come from q(pi), not from the prior."""
    from pyroclust.predictive import sample

    model, guide = GuideEnumerated(N_FEATURES, weights=priors.Dirichlet(1.0)), None
    guide = GuideEnumeratedGuide(N_FEATURES)
    structure.attach_weight_guides(model, guide)
    with torch.no_grad():  # q(pi) all but certain that cluster 1 holds everything
        guide.weights.concentration = torch.tensor([1e-3, 1e5, 1e-3])
    draws = sample(model, 200, guide=guide)
    assert (draws["assignment"] == 1).all()
    prior_draws = sample(model, 200)
    assert len(set(prior_draws["assignment"].tolist())) > 1


def test_discrete_guide_site_without_enumeration_is_refused() -> None:
    """A guide Categorical that is neither enumerated nor relaxed would train by
    score-function gradients: refused with a clear message unless asked for."""

    class Scored(GuideEnumeratedGuide):
        def forward(self, x, *, data_size=None):
            with poutine.block(hide=[]):
                with pyro.plate("data", len(x)):
                    pyro.sample("assignment", dist.Categorical(logits=self.qy(x)))
                    pyro.sample("z", dist.Normal(torch.zeros(len(x), 2), 1.0).to_event(1))

    model, guide, x = GuideEnumerated(N_FEATURES), Scored(N_FEATURES), _x(6)
    with pytest.raises(ValueError, match=r"score-function.*'assignment'|'assignment'.*score"):
        make_elbo(model, x, guide=guide)
    elbo = make_elbo(model, x, guide=guide, allow_score_function=True)
    assert isinstance(elbo, Trace_ELBO)


def test_weights_posterior_of_each_site_of_two_layers() -> None:
    """Each cluster site's prior has its own posterior, under the base names."""
    from pyroclust.inspect import posterior_dataset, weights_posterior

    model, guide = TwoLayers(N_FEATURES), TwoLayersGuide(N_FEATURES)
    structure.attach_weight_guides(model, guide)
    with torch.no_grad():
        guide.weight_guides["y1"].concentration = torch.tensor([1e4, 2e4, 7e4])
    post1 = posterior_dataset(weights_posterior(model, guide, 200, 0, site="y1"))
    assert post1["weights"].shape == (1, 200, 3)
    assert np.allclose(post1["weights"].values.mean((0, 1)), [0.1, 0.2, 0.7], atol=0.01)
    post2 = posterior_dataset(weights_posterior(model, guide, 5, 0, site="y2"))
    assert post2["weights"].shape == (1, 5, 2)  # learned: a point mass
    assert np.allclose(post2["weights"].values, model.weights2.mean().numpy())


def test_reconstruct_with_a_fixed_component() -> None:
    """reconstruct(component=k) decodes each row's codes with the cluster site fixed at k,
    in the guide when it holds the site (decoder k at q(z | x, y=k)'s mean) and the model."""
    from pyroclust.predictive import reconstruct

    x = _x(6).double()
    model, guide = _double(GuideEnumerated(N_FEATURES), GuideEnumeratedGuide(N_FEATURES))
    with torch.no_grad():
        _, loc, _ = guide.heads(x)
        for k in range(3):
            expected = torch.sigmoid(loc[:, k] @ model.dec_w[k] + model.dec_b[k])
            torch.testing.assert_close(reconstruct(model, guide, x, component=k), expected)

    model, guide = _double(Relaxed(N_FEATURES), RelaxedGuide(N_FEATURES))
    with torch.no_grad():
        onehot = F.one_hot(torch.full((6,), 1), 3).double()
        expected = torch.sigmoid(model.from_z(guide.loc(x)) + model.from_y(onehot))
    torch.testing.assert_close(reconstruct(model, guide, x, component=1), expected)
    with pytest.raises(ValueError, match="component must be in"):
        reconstruct(model, guide, x, component=3)
