"""Regularisers change the ELBO by exactly their documented term; pruning masks components."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO
from scipy import stats
from scipy.special import logsumexp, softmax

from pyroclust import priors, zoo
from pyroclust.estimator import Clusterer
from pyroclust.infer import SVITrainer
from pyroclust.infer.elbo import local_params
from pyroclust.infer.graph import verified_torch
from pyroclust.infer.init import RandomInit
from pyroclust.inspect import posterior_dataset
from pyroclust.regularizers import (
    AssignmentEntropy,
    PruneCallback,
    WeightEntropy,
    prune,
    prune_mask,
)
from pyroclust.testing import ModelGuideChecks


def _x(n: int = 20, d: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def _loss(model, guide, xb, n, seed=0) -> float:
    with local_params():
        pyro.set_rng_seed(seed)
        elbo = TraceEnum_ELBO(max_plate_nesting=1)
        return float(elbo.differentiable_loss(model, guide, xb, data_size=n).detach())


def test_weight_entropy_adds_lambda_times_entropy_once(tiny_vade):
    model, guide = tiny_vade(n_components=4, weights="learned")
    with torch.no_grad():
        model.weights.logits.copy_(torch.tensor([0.3, -1.0, 2.0, 0.0]))
    x = _x(20)
    xb, n = x[:8], len(x)
    base = _loss(model, guide, xb, n)
    model.regularizers = (WeightEntropy(2.5),)
    with_reg = _loss(model, guide, xb, n)
    pi = softmax(np.array([0.3, -1.0, 2.0, 0.0], dtype=np.float64))
    entropy = -(pi * np.log(pi)).sum()
    # the loss is -ELBO: the regulariser adds 2.5 H(pi) to the ELBO, not scaled by n / batch
    assert base - with_reg == pytest.approx(2.5 * entropy, rel=1e-4, abs=1e-4)


def test_assignment_entropy_subtracts_lambda_times_responsibility_entropy_per_point(tiny_vade):
    model, guide = tiny_vade()
    x = _x(30)
    xb, n, lam = x[:10], len(x), 0.7
    base = _loss(model, guide, xb, n, seed=4)
    model.regularizers = (AssignmentEntropy(lam),)
    with_reg = _loss(model, guide, xb, n, seed=4)
    with local_params():  # the guide is run first by the ELBO: same seed, same z
        pyro.set_rng_seed(4)
        z = poutine.trace(guide).get_trace(xb, data_size=n).nodes["z"]["value"]
        z = z.detach().double().numpy()
        loc = model.components.loc.detach().double().numpy()
        scale = model.components.scale.detach().double().numpy()
        log_pi = np.log(model.weights.mean().double().numpy())
    log_joint = log_pi + stats.norm.logpdf(z[:, None, :], loc[None], scale[None]).sum(-1)
    log_r = log_joint - logsumexp(log_joint, axis=1, keepdims=True)
    entropy = -(np.exp(log_r) * log_r).sum(1)  # one per row of the batch
    term = -lam * n / len(xb) * entropy.sum()  # scaled like the likelihood
    assert base - with_reg == pytest.approx(term, rel=1e-4, abs=1e-4)


def test_regularizers_need_a_valid_weight_and_context():
    with pytest.raises(ValueError, match="weight"):
        WeightEntropy(-1.0)
    with pytest.raises(ValueError, match="z"):
        AssignmentEntropy(1.0).term(weights=torch.ones(3) / 3)


def test_strong_weight_entropy_drives_the_weights_towards_uniform(tiny_vade):
    """With a large lambda the gradient of the loss is the entropy's ascent direction."""
    model, guide = tiny_vade()
    model.regularizers = (WeightEntropy(1e4),)
    logits = torch.tensor([2.0, 0.0, -2.0])
    with torch.no_grad():
        model.weights.logits.copy_(logits)
    x = _x(16)
    with local_params():
        TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(model, guide, x).backward()
    step = -model.weights.logits.grad.double()
    ent = logits.double().requires_grad_()
    p = torch.softmax(ent, -1)
    (-(p * p.log()).sum()).backward()
    cos = torch.nn.functional.cosine_similarity(step, ent.grad, dim=0)
    assert float(cos) > 0.99
    assert float(step[2]) > 0 > float(step[0])  # the small weight grows, the large shrinks


def test_prune_switches_components_off_in_predict(x_small, tiny_vade):
    model, guide = tiny_vade(n_components=4, weights="learned")
    with torch.no_grad():
        model.weights.logits.copy_(torch.tensor([0.0, 0.0, -6.0, 0.0]))
    est = Clusterer(
        model,
        guide,
        epochs=1,
        batch_size=48,
        lr=1e-6,
        init=RandomInit(),
        random_state=0,
        progress=False,
    ).fit(x_small)
    keep = prune(est, 0.05)
    assert keep.tolist() == [True, True, False, True]
    assert est.weights_[2] == 0 and est.weights_.sum() == pytest.approx(1.0)
    proba = est.predict_proba(x_small)
    assert proba[:, 2].max() < 1e-6
    assert 2 not in set(est.predict(x_small))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    # the weights posterior sees the pruned weights
    post = est.weights_posterior(num_samples=5)
    assert float(posterior_dataset(post)["weights"].values[..., 2].max()) == 0.0
    # pruning only removes: a lower threshold does not bring component 2 back
    assert prune(est, 0.0).tolist() == [True, True, False, True]
    # refitting from the prototype starts unpruned
    assert prune_mask(est.model) is None
    with pytest.raises(ValueError, match="threshold"):
        prune(est, 1.5)


def test_prune_callback_during_training(x_small, tiny_vade):
    model, guide = tiny_vade(n_components=4, weights=priors.Dirichlet(1.0))
    guide.weights = model.weights.make_guide()
    with local_params():
        guide.weights.set_weights(torch.tensor([0.5, 0.3, 0.195, 0.005]), n_samples=200)
    trainer = SVITrainer(
        model,
        guide,
        epochs=2,
        batch_size=48,
        device="cpu",
        random_state=0,
        progress=False,
        callbacks=[PruneCallback(0.01, start=1)],
    )
    trainer.fit(torch.as_tensor(x_small))
    mask = prune_mask(model)
    assert mask is not None and mask.tolist() == [True, True, True, False]
    with local_params():
        pi = model.weights()  # the model's mixture uses the masked weights
    assert float(pi[3]) == 0.0 and float(pi.sum()) == pytest.approx(1.0)


class TestVaDEWithRegularizers(ModelGuideChecks):
    """The shared model/guide checks pass with both regularisers in the model."""

    extra_site_names = frozenset({"weight_entropy", "assignment_entropy"})

    def make(self):  # noqa: D102
        model, guide = zoo.make(
            "vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,), weights="dirichlet"
        )
        model.regularizers = (WeightEntropy(1.0), AssignmentEntropy(0.5))
        return model, guide, _x(12)


# --------------------------------------------------------------------------- StartAgreement
def test_start_agreement_is_the_elbo_minus_the_start_log_posterior(tiny_vade, x_small) -> None:
    """-ELBO - w n/B sum_b log p(s_b | mu(x_b)), the posterior as a float64 formula."""
    from pyroclust.regularizers import StartAgreement
    from tests.reference import normal_log_prob

    model, guide = tiny_vade()
    model.double()
    guide.double()
    x = torch.as_tensor(x_small, dtype=torch.float64)
    start = np.arange(len(x)) % 3
    xb, n, w = x[:8], len(x), 1.5
    with local_params():
        loss, data = StartAgreement(w).bind(model, guide, x, start)
        assert torch.equal(data[0], x) and data[1].tolist() == start.tolist()
        yb = data[1][:8]
        pyro.set_rng_seed(1)
        got = loss(model, guide, xb, yb, data_size=n)
        pyro.set_rng_seed(1)
        elbo = TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(
            model, guide, xb, data_size=n
        )
        mu = guide.encode(xb)[0]
        loc, scale = model.components.loc, model.components.scale
        log_pi = torch.log_softmax(model.weights.logits, -1)
        joint = torch.stack(
            [log_pi[k] + normal_log_prob(mu, loc[k], scale[k]) for k in range(3)], 1
        )
        log_post = (joint - joint.logsumexp(1, keepdim=True))[torch.arange(8), yb]
        zero, _ = StartAgreement(0.0).bind(model, guide, x, start)
        pyro.set_rng_seed(1)
        plain = zero(model, guide, xb, yb, data_size=n)
    torch.testing.assert_close(got, elbo - w * n / 8 * log_post.sum(), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(plain, elbo)
    with pytest.raises(ValueError, match=">= 0"):
        StartAgreement(-1.0)


def _guide_side_pair(name: str):
    """A tiny model/guide pair whose cluster site the guide holds, in float64 and training
    mode (BatchNorm on batch statistics, as in SVI), and its plain-torch q(c | x) logits."""
    from pyroclust import structure
    from pyroclust.guides import GMVAEGuide, KDVAEGuide
    from pyroclust.models import GMVAE, KDVAE

    if name == "kdvae":
        model = KDVAE(12, 3, 2, hidden=(8, 6), weights=priors.Learned())
        guide = KDVAEGuide.for_model(model, classifier_hidden=(5,))
    else:
        cluster = name.removeprefix("gmvae-")
        model = GMVAE(12, 3, 2, feature_dim=6, hidden=(8, 7), cluster=cluster)
        guide = GMVAEGuide.for_model(model, hidden=(8, 7))
    structure.attach_weight_guides(model, guide)
    model.double().train()
    guide.double().train()

    def logits(x: torch.Tensor) -> torch.Tensor:
        features = guide.encoder(x) if name != "kdvae" else x
        return guide.classifier(features)

    return model, guide, logits


@pytest.mark.parametrize("name", ["gmvae-relaxed", "gmvae-enumerate", "kdvae"])
def test_start_agreement_of_a_guide_side_site_is_the_elbo_minus_log_q(name: str) -> None:
    """-ELBO - w n/B sum_b log q(s_b | x_b), with log q the float64 log-softmax of the guide's
    classifier; the ELBO is Pyro's at the same noise (tests/models check it against float64
    formulas), unchanged by reading q(c | x) from its run; the gradients are the formula's;
    w = 0 is the plain ELBO exactly."""
    from pyroclust.infer.elbo import make_elbo
    from pyroclust.regularizers import StartAgreement

    torch.manual_seed(0)
    model, guide, logits = _guide_side_pair(name)
    x = torch.as_tensor(_x(20), dtype=torch.float64).round()
    start = np.array([0, 1, 2, 2, 1] * 4)
    xb, n, w = x[:8], len(x), 1.5
    with local_params():
        loss, data = StartAgreement(w).bind(model, guide, x, start)
        assert torch.equal(data[0], x) and data[1].tolist() == start.tolist()
        yb = data[1][:8]
        pyro.set_rng_seed(1)
        got = loss(model, guide, xb, yb, data_size=n)
        elbo = make_elbo(model, xb, guide=guide, data_size=n)
        pyro.set_rng_seed(1)
        plain = elbo.differentiable_loss(model, guide, xb, data_size=n)
        log_q = logits(xb)
        log_q = (log_q - log_q.logsumexp(-1, keepdim=True))[torch.arange(8), yb]
        expected = plain - w * n / 8 * log_q.sum()
        zero, _ = StartAgreement(0.0).bind(model, guide, x, start)
        pyro.set_rng_seed(1)
        unweighted = zero(model, guide, xb, yb, data_size=n)
        params = [p for p in (*model.parameters(), *guide.parameters()) if p.requires_grad]
        got_grads = torch.autograd.grad(got, params, retain_graph=True, allow_unused=True)
        want_grads = torch.autograd.grad(expected, params, retain_graph=True, allow_unused=True)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(unweighted, plain, rtol=0, atol=0)
    for g_got, g_want in zip(got_grads, want_grads):
        assert (g_got is None) == (g_want is None)
        if g_got is not None:
            torch.testing.assert_close(g_got, g_want, rtol=1e-8, atol=1e-10)


def test_start_agreement_refuses_missing_or_misshapen_labels(tiny_vade, x_small) -> None:
    from pyroclust.regularizers import StartAgreement

    model, guide = tiny_vade()
    x = torch.as_tensor(x_small)
    with local_params(), pytest.raises(ValueError, match="start's labels"):
        StartAgreement(1.0).bind(model, guide, x, None)
    with local_params(), pytest.raises(ValueError, match="shape"):
        StartAgreement(1.0).bind(model, guide, x, np.zeros(3, dtype=int))


def test_start_agreement_as_the_estimators_loss_keeps_the_start(
    tiny_vade, x_small, tmp_path
) -> None:
    """The estimator binds it to its start's labels; a heavy weight keeps them, and a resumed
    fit ends as the uninterrupted one."""
    from pyroclust.infer.init import GMMInit
    from pyroclust.regularizers import StartAgreement

    model, guide = tiny_vade()
    options = {
        "batch_size": 16,
        "lr": 1e-2,
        "init": GMMInit(pretrain_epochs=2, batch_size=16, n_init=1),
        "random_state": 0,
        "progress": False,
        "loss": StartAgreement(50.0),
    }
    est = Clusterer(model, guide, epochs=4, **options).fit(x_small)
    assert est.start_agreement_ == pytest.approx(1.0)
    path = tmp_path / "run.pt"
    Clusterer(model, guide, epochs=2, checkpoint=path, **options).fit(x_small)
    resumed = Clusterer(model, guide, epochs=4, checkpoint=path, **options)
    resumed.fit(x_small, resume=True)
    np.testing.assert_array_equal(resumed.labels_, est.labels_)
    assert [r["elbo"] for r in resumed.history_] == [r["elbo"] for r in est.history_]


def test_start_agreement_compares_by_its_settings():
    from pyroclust.regularizers import StartAgreement

    assert StartAgreement(1.0) == StartAgreement(1.0)
    assert StartAgreement(1.0) != StartAgreement(0.5)
    assert StartAgreement(1.0) != StartAgreement(1.0, num_particles=2)
    assert len({StartAgreement(1.0), StartAgreement(1.0)}) == 1


graph_only = pytest.mark.skipif(
    not verified_torch(), reason=f"the traced graph is refused on torch {torch.__version__}"
)


@graph_only
@pytest.mark.parametrize("arch", ["vade", "gmvae"])
def test_start_agreement_traced_equals_the_eager_loss_and_gradients(arch) -> None:
    from pyroclust import zoo
    from pyroclust.infer.elbo import local_params
    from pyroclust.infer.graph import GraphLoss
    from pyroclust.regularizers import StartAgreement

    pyro.set_rng_seed(0)
    options = {"latent_dim": 2, "hidden": (8,)} if arch == "vade" else {}
    model, guide = zoo.make(arch, 12, n_components=3, **options)
    x = torch.rand(24, 12).round()
    labels = np.arange(24) % 3
    with local_params():
        eager, (xs, ys) = StartAgreement(2.0).bind(model, guide, x, labels)
        traced, _ = StartAgreement(2.0).bind(model, guide, x, labels, jit="fx")
        assert isinstance(traced, GraphLoss)
        eager(model, guide, xs[:8], ys[:8], data_size=24)  # lazily created parameters
        params = list({id(p): p for p in (*model.parameters(), *guide.parameters())}.values())
        for seed in (1, 2):
            results = []
            for fn in (eager, traced):
                pyro.set_rng_seed(seed)
                value = fn(model, guide, xs[:8], ys[:8], data_size=24)
                results.append(
                    (value.detach(), torch.autograd.grad(value, params, allow_unused=True))
                )
            (want, want_grads), (got, got_grads) = results
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-4)
            for g, w in zip(got_grads, want_grads, strict=True):
                assert (g is None) == (w is None)
                if w is not None:
                    torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


@graph_only
def test_an_estimator_with_jit_trains_start_agreement_traced_as_it_trains_it_eagerly() -> None:
    from pyroclust.infer.graph import GraphLoss
    from pyroclust.regularizers import StartAgreement

    x = _x(48)
    fits = {}
    for jit in (False, "fx"):
        est = Clusterer(
            "vade",
            n_components=3,
            model_options={"latent_dim": 2, "hidden": (8,)},
            init=RandomInit(),
            loss=StartAgreement(1.0),
            jit=jit,
            epochs=2,
            batch_size=16,
            random_state=0,
            progress=False,
        ).fit(x)
        fits[jit] = est
    assert isinstance(fits["fx"].trainer_.loss, GraphLoss)
    for a, b in zip(fits["fx"].trainer_.history, fits[False].trainer_.history, strict=True):
        assert a["elbo"] == pytest.approx(b["elbo"], rel=1e-5)
