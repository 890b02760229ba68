"""GMVAE ("Is Simple Better?"): both treatments of c against plain float64 torch formulas.

The shared checks run on the relaxed (Gumbel-Softmax) and the enumerated pair. Each ELBO is
recomputed from the networks' outputs with the same noise: the Concrete density written out
(Maddison et al., 2017, eq. 7) for the relaxed site, the exact sum over clusters for the
enumerated one, and w_G times the Monte-Carlo KL(z). The networks are tiny (the paper's widths
are the constructors' defaults).
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

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
from pyroclust.guides import GMVAEGuide
from pyroclust.infer.elbo import local_params, make_elbo
from pyroclust.infer.init import RandomInit
from pyroclust.infer.schedules import TemperatureAnnealing
from pyroclust.infer.trainer import SVITrainer
from pyroclust.models import GMVAE
from pyroclust.models.gmvae import LOG_VALUE, StableRelaxedOneHotCategorical, check_pair
from pyroclust.predictive import cluster_log_proba, sample
from pyroclust.testing import ModelGuideChecks
from tests.conftest import blobs
from tests.reference import bernoulli_log_prob as _bernoulli
from tests.reference import concrete_log_prob as _concrete
from tests.reference import normal_log_prob as _normal
from tests.reference import same_noise_loss as _same_noise_loss

N_FEATURES, K, D_Z, D_F, HIDDEN = 12, 3, 2, 6, (8, 7)


def make_pair(
    cluster: str = "relaxed", n_components: int = K, *, weights=None, **options
) -> tuple[GMVAE, GMVAEGuide]:
    """A tiny GMVAE and its guide (D-8-7-6 encoder, 6-7-8-D decoder, d_z = 2)."""
    model = GMVAE(
        N_FEATURES,
        n_components,
        D_Z,
        feature_dim=D_F,
        hidden=HIDDEN,
        cluster=cluster,
        weights=weights,
        **options,
    )
    return model, GMVAEGuide.for_model(model, hidden=HIDDEN)


def _x(n: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(blobs(n, N_FEATURES, seed=seed))


# ----------------------------------------------------------------------------- shared checks
class _GMVAEChecks(ModelGuideChecks):
    cluster = "relaxed"
    w_gaussian = 5.0  # the paper's

    def make(self):  # noqa: D102
        model, guide = make_pair(self.cluster, w_gaussian=self.w_gaussian)
        return model, guide, _x()

    def test_local_sites_in_data_plate(self) -> None:
        """The shared check reads each local site's scale as data/batch, but "z" also carries
        w_G: it runs at w_G = 1 here, and test_z_site_carries_w_gaussian checks w_G = 5."""
        self.w_gaussian = 1.0
        super().test_local_sites_in_data_plate()


class TestGMVAERelaxed(_GMVAEChecks):
    """c relaxed (Gumbel-Softmax) in model and guide, the paper's treatment."""

    cluster = "relaxed"


class TestGMVAEEnumerated(_GMVAEChecks):
    """c summed out exactly in the guide."""

    cluster = "enumerate"


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_z_site_carries_w_gaussian(cluster: str) -> None:
    model, guide = make_pair(cluster, w_gaussian=5.0)
    x = _x(10)
    with local_params(), torch.no_grad():
        gtrace = poutine.trace(guide).get_trace(x[:4], data_size=10)
        mtrace = poutine.trace(poutine.replay(model, trace=gtrace)).get_trace(x[:4], data_size=10)
    for trace in (gtrace, mtrace):
        assert float(trace.nodes["z"]["scale"]) == pytest.approx(5.0 * 10 / 4)
        assert float(trace.nodes["assignment"]["scale"]) == pytest.approx(10 / 4)
    assert structure.cluster_site(model).inference == (
        "relaxed-guide" if cluster == "relaxed" else "enumerate-guide"
    )


# ----------------------------------------------------------------------------- helpers
def _double(model, guide, mode: str = "eval"):
    structure.attach_weight_guides(model, guide)
    model, guide = model.double(), guide.double()
    model.train(mode == "train")
    guide.train(mode == "train")
    return model, guide


def _heads(guide: GMVAEGuide, x: torch.Tensor):
    """(logits, loc, scale) of the guide, from its networks (plain torch)."""
    h = guide.encoder(x)
    scale = F.softplus(guide.scale_head(h)) + guide.min_scale
    return guide.classifier(h), guide.loc_head(h), scale


def _decode(model: GMVAE, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """decoder(W_z z + b_z + W_c onehot + b_c), the rows flattened for the decoder."""
    f = model.from_z(z) + onehot @ model.from_c.weight.T + model.from_c.bias
    out = model.decoder(f.reshape(-1, f.shape[-1]))
    return out.reshape(*f.shape[:-1], -1)


def _learned_prior(model: GMVAE) -> None:
    with torch.no_grad():
        model.weights.logits.copy_(torch.tensor([0.3, -0.5, 0.1], dtype=torch.float64))


def _check_gradients(loss: torch.Tensor, expected: torch.Tensor, model, guide) -> None:
    params = [p for p in [*model.parameters(), *guide.parameters()] if p.requires_grad]
    got = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    want = torch.autograd.grad(expected, params, allow_unused=True)
    for g_got, g_want in zip(got, want):
        assert (g_got is None) == (g_want is None)
        if g_got is not None:
            torch.testing.assert_close(g_got, g_want, rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------------- the ELBOs
@pytest.mark.parametrize("mode", ["eval", "train"])  # train: BatchNorm on batch statistics
@pytest.mark.parametrize("straight_through", [False, True])
def test_relaxed_elbo_matches_float64_formula(mode: str, straight_through: bool) -> None:
    """-loss = n/B sum_b [log Concrete(y; pi, T) - log Concrete(y; q(x), T)
    + log p(x | z, y) + w_G (log N(z; 0, I) - log N(z; mu, sigma))] at the draws (y, z)."""
    model, guide = make_pair(
        "relaxed",
        weights=priors.Learned(),
        temperature=0.7,
        w_gaussian=5.0,
        straight_through=straight_through,
    )
    model, guide = _double(model, guide, mode)
    _learned_prior(model)
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, Trace_ELBO) and not isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    y, z = trace.nodes["assignment"]["value"], trace.nodes["z"]["value"]
    log_soft = getattr(y, LOG_VALUE)
    if straight_through:  # hard one-hot values, the density of the soft draw
        assert torch.equal(y, F.one_hot(log_soft.argmax(-1), K).double())
    else:
        torch.testing.assert_close(y.log(), log_soft, rtol=0, atol=1e-12)
    logits, loc, scale = _heads(guide, xb)
    log_pi = model.weights.logits.log_softmax(-1)
    t = float(guide.temperature)  # 0.7 rounded to float32 by the buffer, then made float64
    assert t == float(model.temperature) and t == pytest.approx(0.7)
    rows = (
        _concrete(log_soft, log_pi.expand(len(xb), -1), t)
        - _concrete(log_soft, logits, t)
        + _bernoulli(_decode(model, z, y), xb)
        + 5.0 * (_normal(z, 0.0, 1.0) - _normal(z, loc, scale))
    )
    expected = -rows.sum() * n / len(xb)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-9)
    _check_gradients(loss, expected, model, guide)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_enumerated_elbo_matches_float64_formula(mode: str) -> None:
    """-loss = n/B sum_b [sum_k q_bk (log pi_k + log p(x | z, k) - log q_bk)
    + w_G (log N(z; 0, I) - log N(z; mu, sigma))], one draw of z shared by every k."""
    model, guide = make_pair("enumerate", weights=priors.Learned(), w_gaussian=5.0)
    model, guide = _double(model, guide, mode)
    _learned_prior(model)
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, TraceEnum_ELBO)
    trace, loss = _same_noise_loss(elbo, model, guide, xb, n)
    assert trace.nodes["assignment"]["value"].shape == (K, 1), "the guide enumerates c"
    z = trace.nodes["z"]["value"]
    assert z.shape == (len(xb), D_Z)
    logits, loc, scale = _heads(guide, xb)
    log_q = logits.log_softmax(-1)  # (B, K)
    log_pi = model.weights.logits.log_softmax(-1)
    onehots = torch.eye(K, dtype=torch.float64)[:, None, :]  # (K, 1, K): every cluster
    log_px = _bernoulli(_decode(model, z, onehots), xb).T  # (B, K)
    inner = (log_q.exp() * (log_pi + log_px - log_q)).sum(-1)
    rows = inner + 5.0 * (_normal(z, 0.0, 1.0) - _normal(z, loc, scale))
    expected = -rows.sum() * n / len(xb)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-9)
    _check_gradients(loss, expected, model, guide)


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
@pytest.mark.parametrize("w_gaussian", [0.0, 5.0])
def test_w_gaussian_scales_exactly_the_kl_of_z(cluster: str, w_gaussian: float) -> None:
    """loss(w_G) - loss(1) = (w_G - 1) n/B sum_b [log q(z_b | x_b) - log N(z_b; 0, I)] with the
    same draws (w_G = 0 masks the two terms out)."""
    model1, guide1 = _double(*make_pair(cluster, w_gaussian=1.0))
    model_w, guide_w = copy.deepcopy(model1), copy.deepcopy(guide1)
    model_w.w_gaussian = guide_w.w_gaussian = w_gaussian
    check_pair(model_w, guide_w)
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model1, xb, guide=guide1, data_size=n)
    trace, loss1 = _same_noise_loss(elbo, model1, guide1, xb, n)
    _, loss_w = _same_noise_loss(elbo, model_w, guide_w, xb, n)
    z = trace.nodes["z"]["value"]
    _, loc, scale = _heads(guide1, xb)
    kl_z = (_normal(z, loc, scale) - _normal(z, 0.0, 1.0)).sum() * n / len(xb)
    torch.testing.assert_close(loss_w - loss1, (w_gaussian - 1.0) * kl_z, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- posteriors
@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_predict_proba_equals_q_c_given_x(cluster: str) -> None:
    model, guide = _double(*make_pair(cluster))
    x = _x(10).double()
    with torch.no_grad():
        expected = guide.classifier(guide.encoder(x)).log_softmax(-1)
    got = cluster_log_proba(model, guide, x)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(guide.cluster_logits(x).log_softmax(-1), expected)


def test_estimator_predict_proba_is_the_guides_softmax() -> None:
    x = _x(30)
    model, guide = make_pair("relaxed")
    est = Clusterer(
        model, guide, epochs=1, batch_size=10, init=RandomInit(), random_state=0, progress=False
    ).fit(x)
    guide_ = est.guide_.eval()
    with torch.no_grad():
        q = guide_.cluster_logits(x).double().softmax(-1).numpy()
    assert np.allclose(est.predict_proba(x), q, atol=1e-6)
    assert np.array_equal(est.predict(x), q.argmax(1))


# ----------------------------------------------------------------------------- K = 1000
@pytest.mark.parametrize("temperature", [0.5, 0.3])
def test_relaxed_finite_at_1000_clusters_and_low_temperature(temperature: float) -> None:
    """Peaked logits and T <= 0.5 at K = 1000: the draws underflow to exact zeros (torch's
    RelaxedOneHotCategorical scores them as nan), the log-space one stays finite."""
    model, guide = make_pair("relaxed", 1000, temperature=temperature)
    with torch.no_grad():
        guide.classifier[-1].weight.mul_(200.0)
    x = _x(8)
    with local_params():
        pyro.set_rng_seed(0)
        trace = poutine.trace(guide).get_trace(x, data_size=8)
        y, fn = trace.nodes["assignment"]["value"], trace.nodes["assignment"]["fn"]
        assert (y == 0).any(), "the test should exercise underflow"
        plain = dist.RelaxedOneHotCategorical(fn.temperature, logits=fn.logits)
        assert not torch.isfinite(plain.log_prob(y.detach())).all()
        assert torch.isfinite(fn.log_prob(y)).all()

        elbo = make_elbo(model, x, guide=guide, data_size=8)
        loss = elbo.differentiable_loss(model, guide, x, data_size=8)
        assert torch.isfinite(loss)
        loss.backward()
    for name, p in [*model.named_parameters(), *guide.named_parameters()]:
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name
    lp = cluster_log_proba(model, guide, x)
    assert lp.shape == (8, 1000) and torch.isfinite(lp).all()


def test_enumerated_finite_at_1000_clusters() -> None:
    model, guide = make_pair("enumerate", 1000)
    x = _x(4)
    with local_params():
        elbo = make_elbo(model, x, guide=guide, data_size=4)
        loss = elbo.differentiable_loss(model, guide, x, data_size=4)
    assert torch.isfinite(loss)
    assert torch.isfinite(cluster_log_proba(model, guide, x)).all()


def test_one_hot_values_are_scored_at_the_documented_floor() -> None:
    d = StableRelaxedOneHotCategorical(torch.tensor(0.5), logits=torch.zeros(4))
    onehot = torch.tensor([0.0, 1.0, 0.0, 0.0])
    floor = torch.full((4,), math.log(torch.finfo(torch.float32).tiny))
    floor[1] = 0.0
    expected = d.base_dist.log_prob(floor) - floor.sum()
    assert torch.isfinite(d.log_prob(onehot)) and torch.equal(d.log_prob(onehot), expected)


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_sample_from_each_component(cluster: str) -> None:
    model, _ = make_pair(cluster)
    model.eval()
    for k in range(K):
        draws = sample(model, 4, component=k)
        assert draws["assignment"].tolist() == [k] * 4
        onehot = F.one_hot(torch.full((4,), k), K).float()
        with torch.no_grad():
            expected = torch.sigmoid(_decode(model, draws["z"], onehot))
        torch.testing.assert_close(torch.as_tensor(draws["x"]), expected)
        torch.testing.assert_close(model.decode(draws["z"], torch.full((4,), k)), expected)


# ----------------------------------------------------------------------------- temperature
def test_temperature_annealing_reaches_its_end_on_time() -> None:
    model, guide = make_pair("relaxed")
    trainer = SimpleNamespace(model=model, guide=guide)
    schedule = TemperatureAnnealing(start=1.0, end=0.5, epochs=100)
    seen = []
    for epoch in range(1, 121):
        schedule(trainer, epoch)
        seen.append((float(model.temperature), float(guide.temperature)))
    model_t = np.array([m for m, _ in seen])
    assert np.array_equal(model_t, [g for _, g in seen])
    assert (np.diff(model_t[:100]) < 0).all() and model_t[98] > 0.5
    assert model_t[99] == pytest.approx(0.5, abs=1e-7) and (model_t[99:] == model_t[99]).all()
    # the authors' code: max(exp(-0.00693 (i + 1)), 0.5) after epoch i
    authors = np.maximum(np.exp(-0.00693 * np.arange(1, 121)), 0.5)
    assert np.allclose(model_t, authors, atol=1e-4)
    linear = TemperatureAnnealing(2.0, 1.0, 4, kind="linear")
    assert [linear.value(e) for e in range(6)] == [2.0, 1.75, 1.5, 1.25, 1.0, 1.0]


def test_temperature_annealing_in_the_trainer() -> None:
    """SVITrainer calls it after each epoch; after E epochs the temperature is the end."""
    model, guide = make_pair("relaxed")
    x = _x(20)
    with local_params():
        trainer = SVITrainer(
            model,
            guide,
            epochs=3,
            batch_size=10,
            random_state=0,
            progress=False,
            callbacks=[TemperatureAnnealing(1.0, 0.25, 3)],
        ).fit(x)
    assert trainer.epoch == 3
    assert float(model.temperature) == pytest.approx(0.25)
    assert float(guide.temperature) == pytest.approx(0.25)


def test_temperature_annealing_refuses_models_without_temperature() -> None:
    model, guide = make_pair("enumerate")
    with pytest.raises(ValueError, match="no 'temperature' buffer"):
        TemperatureAnnealing()(SimpleNamespace(model=model, guide=guide), 1)
    TemperatureAnnealing(strict=False)(SimpleNamespace(model=model, guide=guide), 1)
    with pytest.raises(ValueError, match="> 0"):
        TemperatureAnnealing(start=0.0)
    assert TemperatureAnnealing.from_spec("2:0.25:30") == TemperatureAnnealing(2.0, 0.25, 30)
    with pytest.raises(ValueError, match="START:END:EPOCHS"):
        TemperatureAnnealing.from_spec("1:0.5")


@pytest.mark.parametrize("cluster", ["relaxed", "enumerate"])
def test_two_epoch_fit_with_annealing_predicts(cluster: str) -> None:
    x = _x(30)
    model, guide = make_pair(cluster)
    callbacks = [TemperatureAnnealing(1.0, 0.5, 2)] if cluster == "relaxed" else []
    est = Clusterer(
        model,
        guide,
        epochs=2,
        batch_size=10,
        init=RandomInit(),
        random_state=0,
        progress=False,
        callbacks=callbacks,
    ).fit(x)
    assert len(est.history_) == 2 and math.isfinite(est.elbo_)
    if cluster == "relaxed":
        assert float(est.model_.temperature) == float(est.guide_.temperature) == 0.5
        assert float(model.temperature) == 1.0  # the estimator trained copies
    labels = est.predict(x)
    assert labels.shape == (30,) and ((labels >= 0) & (labels < K)).all()
    assert est.transform(x).shape == (30, D_Z)
    assert est.sample(2, component=1).shape == (2, N_FEATURES)


# ----------------------------------------------------------------------------- arguments
def test_mismatched_pair_and_bad_options_are_refused() -> None:
    model, guide = make_pair("relaxed", w_gaussian=5.0)
    check_pair(model, guide)
    guide.w_gaussian = 1.0
    with pytest.raises(ValueError, match="w_gaussian"):
        check_pair(model, guide)
    with pytest.raises(ValueError, match="cluster must be one of"):
        GMVAE(N_FEATURES, K, cluster="gumbel")
    with pytest.raises(ValueError, match="w_gaussian"):
        GMVAE(N_FEATURES, K, w_gaussian=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        GMVAE(N_FEATURES, K, temperature=0.0)
    with pytest.raises(ValueError, match="no temperature"):
        make_pair("enumerate")[0].set_temperature(0.5)
