"""k-DVAE and k-DAE: the shared contract, the soft ELBO, eq. 6, eq. 8 and the k-DAE rule in
plain float64 torch, a short fit through the estimator, generation per component."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import TraceEnum_ELBO

from pyroclust import priors, structure
from pyroclust.estimator import Clusterer
from pyroclust.guides import KDAEGuide, KDVAEGuide
from pyroclust.infer import SVITrainer
from pyroclust.infer.elbo import local_params, make_elbo
from pyroclust.infer.init import RandomInit
from pyroclust.likelihoods import Gaussian
from pyroclust.models import KDAE, KDVAE
from pyroclust.models.kdae import MinReconstructionLoss
from pyroclust.models.kdvae import (
    ClassifierLoss,
    ClusterReconstructionLoss,
    HardAssignmentLoss,
    assignment_scores,
    hard_assignments,
    own_cluster_scores,
    select_cluster,
)
from pyroclust.predictive import cluster_log_proba, reconstruct, sample
from pyroclust.testing import ModelGuideChecks
from tests.conftest import blobs
from tests.reference import bernoulli_log_prob as _bernoulli
from tests.reference import normal_log_prob as _normal

D, K, LATENT = 12, 3, 2
HIDDEN = (8, 6)


def _x(n: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(blobs(n, D, seed=seed))


def _pair(cls=KDVAE, guide_cls=KDVAEGuide, **options):
    model = cls(D, K, LATENT, hidden=HIDDEN, **options)
    return model, guide_cls.for_model(model, classifier_hidden=(5,))


# ----------------------------------------------------------------------------- the contract
class TestKDVAE(ModelGuideChecks):
    """y enumerated in the guide, K encoders and K decoders as batched networks."""

    def make(self):  # noqa: D102
        return (*_pair(), _x())


class TestKDVAEDirichlet(ModelGuideChecks):
    """With a Dirichlet prior on the weights, whose posterior the guide learns."""

    def make(self):  # noqa: D102
        return (*_pair(weights=priors.Dirichlet(1.5)), _x())


class TestKDAE(ModelGuideChecks):
    """Deterministic autoencoders: a masked code prior, a point-mass code in the guide."""

    def make(self):  # noqa: D102
        return (*_pair(KDAE, KDAEGuide), _x())


# ----------------------------------------------------------------------------- plain torch
def _net(batched, i: int, h: torch.Tensor) -> torch.Tensor:
    """Network i of a BatchedMLP (ReLU between layers, linear output), in plain torch."""
    last = len(batched.weights) - 1
    for layer, (w, b) in enumerate(zip(batched.weights, batched.biases)):
        h = h @ w[i] + b[i, 0]
        if layer < last:
            h = torch.relu(h)
    return h


def _heads(guide, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = _net(guide.encoder, i, x)
    return out[:, :LATENT], F.softplus(out[:, LATENT:]) + guide.min_scale


def _double(model, guide):
    structure.attach_weight_guides(model, guide)
    return model.double(), guide.double()


# ----------------------------------------------------------------------------- objectives
def test_soft_elbo_matches_float64_formula() -> None:
    model, guide = _double(*_pair(weights=priors.Learned()))
    with torch.no_grad():
        model.weights.logits.copy_(torch.tensor([0.3, -0.5, 0.1], dtype=torch.float64))
    x = _x(8).double()
    xb, n = x[:5], len(x)
    elbo = make_elbo(model, xb, guide=guide, data_size=n)
    assert isinstance(elbo, TraceEnum_ELBO)
    with local_params():
        pyro.set_rng_seed(3)
        trace = poutine.trace(poutine.enum(guide, first_available_dim=-2)).get_trace(
            xb, data_size=n
        )
        pyro.set_rng_seed(3)
        loss = float(elbo.differentiable_loss(model, guide, xb, data_size=n).detach())
    assert trace.nodes["assignment"]["value"].shape == (K, 1)
    z = trace.nodes["z"]["value"]  # (K, B, d): row i drawn from encoder i
    assert z.shape == (K, 5, LATENT)
    with torch.no_grad():
        log_q = guide.classifier(xb).log_softmax(-1)  # (B, K)
        log_pi = model.weights.logits.log_softmax(-1)
        expected = torch.zeros(len(xb), dtype=torch.float64)
        for i in range(K):
            loc, scale = _heads(guide, i, xb)
            inner = (
                log_pi[i]
                + _normal(z[i], 0.0, 1.0)
                + _bernoulli(_net(model.decoder, i, z[i]), xb)
                - _normal(z[i], loc, scale)
                - log_q[:, i]
            )
            expected += log_q[:, i].exp() * inner
        expected = expected.sum() * n / len(xb)
    assert loss == pytest.approx(-float(expected), rel=1e-10, abs=1e-9)


def _eq6_by_hand(model, guide, xb, eps):
    """max_i [log p(x | dec_i(z_i)) - KL(q_i || N(0, I))] per row, and the argmax."""
    terms = []
    for i in range(K):
        loc, scale = _heads(guide, i, xb)
        z = loc + scale * eps[i]
        kl = 0.5 * (loc**2 + scale**2 - 1 - torch.log(scale**2)).sum(-1)
        terms.append(_bernoulli(_net(model.decoder, i, z), xb) - kl)
    return torch.stack(terms, -1).max(-1)


@pytest.mark.parametrize("fit_posterior", [False, True])
def test_hard_objective_is_eq6(fit_posterior: bool) -> None:
    model, guide = _double(*_pair())
    x = _x(10).double()
    xb, n = x[:4], len(x)
    torch.manual_seed(7)
    loss = HardAssignmentLoss(fit_posterior=fit_posterior)(model, guide, xb, data_size=n)
    torch.manual_seed(7)
    eps = torch.randn(K, len(xb), LATENT, dtype=torch.float64)  # the same noise
    with torch.no_grad():
        best, winner = _eq6_by_hand(model, guide, xb, eps)
        expected = -best.sum() * n / len(xb)
        if fit_posterior:  # q(y | x) fitted to eq. 6's winner, scaled the same way
            log_q = guide.classifier(xb).log_softmax(-1)
            expected -= log_q.gather(-1, winner[:, None]).sum() * n / len(xb)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-10)


@pytest.mark.parametrize("objective", ["reconstruction", "elbo"])
@pytest.mark.parametrize("classifier", [False, True])
def test_cluster_pretraining_loss_by_hand(objective: str, classifier: bool) -> None:
    """Row b scored by autoencoder l_b only: its reconstruction at the mean code, or its
    ELBO term of eq. 6 for the same noise; plus the cross-entropy of q(y | x) at the labels."""
    model, guide = _double(*_pair())
    x = _x(10).double()
    xb, n = x[:5], len(x)
    labels = torch.tensor([2, 0, 1, 1, 0])
    loss_fn = ClusterReconstructionLoss(classifier=classifier, objective=objective)
    torch.manual_seed(4)
    loss = loss_fn(model, guide, xb, labels, data_size=n)
    torch.manual_seed(4)
    eps = torch.randn(K, len(xb), LATENT, dtype=torch.float64)  # the same noise
    with torch.no_grad():
        terms = []
        for i in range(K):
            loc, scale = _heads(guide, i, xb)
            if objective == "elbo":
                kl = 0.5 * (loc**2 + scale**2 - 1 - torch.log(scale**2)).sum(-1)
                terms.append(_bernoulli(_net(model.decoder, i, loc + scale * eps[i]), xb) - kl)
            else:
                terms.append(_bernoulli(_net(model.decoder, i, loc), xb))
        expected = -torch.stack(terms, -1)[torch.arange(5), labels].sum()
        if classifier:
            log_q = guide.classifier(xb).log_softmax(-1)
            expected -= log_q[torch.arange(5), labels].sum()
        expected *= n / len(xb)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-10)
    with pytest.raises(ValueError, match="objective must be"):
        ClusterReconstructionLoss(objective="kl")


def test_classifier_loss_is_q_y_cross_entropy_scaled_and_reaches_only_the_classifier() -> None:
    model, guide = _double(*_pair())
    x = _x(10).double()
    xb, n = x[:5], len(x)
    labels = torch.tensor([2, 0, 1, 1, 0])
    loss = ClassifierLoss()(model, guide, xb, labels, data_size=n)
    with torch.no_grad():
        logits = guide.classifier(xb).double()
        log_q = logits - torch.logsumexp(logits, -1, keepdim=True)
        expected = -log_q[torch.arange(5), labels].sum() * n / len(xb)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-10)
    loss.backward()
    assert all(p.grad is not None for p in guide.classifier.parameters())
    others = [*guide.encoder.parameters(), *model.decoder.parameters()]
    assert all(p.grad is None for p in others)


@pytest.mark.parametrize("objective", ["reconstruction", "elbo"])
@pytest.mark.parametrize("classes", [(KDVAE, KDVAEGuide), (KDAE, KDAEGuide)])
def test_own_cluster_scores_equal_the_full_table_at_the_labels(objective, classes) -> None:
    """Each row through its own autoencoder only gives the full (batch, K) table's entry at
    its label, for the same noise, with the same gradients; a guide without the grouped
    pass falls back to the full table."""
    from pyroclust.models.kdvae import elbo_scores, reconstruction_scores

    model, guide = _double(*_pair(*classes))
    xb = _x(7).double()
    labels = torch.tensor([2, 0, 1, 1, 0, 2, 2])
    full = elbo_scores if objective == "elbo" else reconstruction_scores
    torch.manual_seed(3)
    got = own_cluster_scores(model, guide, xb, labels, objective=objective)
    got.sum().backward()
    grads = [p.grad.clone() for p in guide.encoder.parameters()]
    guide.zero_grad()
    torch.manual_seed(3)
    table = full(model, guide, xb, sample=True) if objective == "elbo" else full(model, guide, xb)
    want = table[torch.arange(7), labels]
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-10)
    want.sum().backward()
    for g, p in zip(grads, guide.encoder.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-10, atol=1e-12)

    class Plain:  # a guide without encode_grouped: scored in full, read at the labels
        def __init__(self, inner):
            self.inner = inner

        def encode_all(self, x):
            return self.inner.encode_all(x)

    torch.manual_seed(3)
    fallback = own_cluster_scores(model, Plain(guide), xb, labels, objective=objective)
    assert torch.allclose(fallback, want.detach(), rtol=1e-12, atol=1e-10)


def test_reconstruct_uses_each_items_assigned_decoder() -> None:
    """Clusterer.reconstruct (predictive.reconstruct) decodes mu_l(x) with decoder l, l the
    item's cluster under predict (the mode of q(y | x)): "reconstructions by the assigned
    decoder" need no helper of their own."""
    model, guide = _double(*_pair())
    x = _x(9).double()
    labels = cluster_log_proba(model, guide, x).argmax(-1)
    with torch.no_grad():
        expected = torch.stack(
            [
                torch.sigmoid(_net(model.decoder, int(c), _heads(guide, int(c), x[b : b + 1])[0]))[
                    0
                ]
                for b, c in enumerate(labels)
            ]
        )
    torch.testing.assert_close(reconstruct(model, guide, x), expected)


def test_hard_objective_gradient_of_networks_is_eq6s() -> None:
    """The cross-entropy term moves q(y | x) only: the autoencoders get eq. 6's gradient."""
    model, guide = _pair()
    x = _x(10)
    grads = []
    for fit in (False, True):
        model.zero_grad(), guide.zero_grad()
        torch.manual_seed(1)
        HardAssignmentLoss(fit_posterior=fit)(model, guide, x, data_size=10).backward()
        grads.append(
            [p.grad.clone() for p in (*guide.encoder.parameters(), *model.decoder.parameters())]
        )
        assert (guide.classifier[0].weight.grad is not None) == fit
    for a, b in zip(*grads):
        assert torch.allclose(a, b)


def test_eq8_scores_and_hard_assignments_by_hand() -> None:
    model, guide = _double(*_pair())
    x = _x(12).double()
    with torch.no_grad():
        by_hand = []
        for i in range(K):
            zbar, sigma = _heads(guide, i, x)
            by_hand.append(
                _bernoulli(_net(model.decoder, i, zbar), x)
                - 0.5 * (zbar**2).sum(-1)
                + sigma.log().sum(-1)
            )
        by_hand = torch.stack(by_hand, -1)
    scores = assignment_scores(model, guide, x)
    assert torch.allclose(scores, by_hand, rtol=0, atol=1e-10)
    assert torch.equal(hard_assignments(model, guide, x, batch_size=5), by_hand.argmax(-1))
    assert torch.equal(guide.hard_assignments(model, x), by_hand.argmax(-1))


def test_kdae_assignment_is_argmin_of_reconstruction_error() -> None:
    model, guide = _double(*_pair(KDAE, KDAEGuide))
    x = _x(12).double()
    with torch.no_grad():
        errors = torch.stack(
            [
                F.binary_cross_entropy_with_logits(
                    _net(model.decoder, i, _heads(guide, i, x)[0]), x, reduction="none"
                ).sum(-1)
                for i in range(K)
            ],
            -1,
        )
    assert torch.equal(hard_assignments(model, guide, x), errors.argmin(-1))
    loss = MinReconstructionLoss(fit_posterior=False)(model, guide, x[:4], data_size=12)
    assert float(loss.detach()) == pytest.approx(
        float(errors[:4].min(-1).values.sum() * 3), rel=1e-10
    )


def test_kdae_soft_elbo_is_reconstruction_only() -> None:
    """The Delta code and the masked prior leave sum_i q_i [log a_i + log p(x|dec_i(enc_i x))
    - log q_i]."""
    model, guide = _double(*_pair(KDAE, KDAEGuide))
    x = _x(6).double()
    with local_params():
        loss = make_elbo(model, x, guide=guide).differentiable_loss(model, guide, x)
    with torch.no_grad():
        log_q = guide.classifier(x).log_softmax(-1)
        rec = torch.stack(
            [_bernoulli(_net(model.decoder, i, _heads(guide, i, x)[0]), x) for i in range(K)], -1
        )
        expected = (log_q.exp() * (math.log(1 / K) + rec - log_q)).sum()
    assert float(loss.detach()) == pytest.approx(-float(expected), rel=1e-10)


def test_gaussian_likelihood_scores() -> None:
    model, guide = _pair(likelihood=Gaussian(0.5))
    x = torch.randn(6, D)
    loc, _ = guide.encode_all(x)
    with torch.no_grad():
        rec = torch.stack([_normal(x, _net(model.decoder, i, loc[i]), 0.5) for i in range(K)], -1)
        assert torch.allclose(
            assignment_scores(
                KDAE(D, K, LATENT, decoder=model.decoder, likelihood=Gaussian(0.5)), guide, x
            ),
            rec,
            atol=1e-5,
        )


def test_decoding_an_enumerated_code_equals_picking() -> None:
    model, _ = _pair()
    z = torch.randn(K, 5, LATENT)
    y = torch.arange(K).reshape(K, 1)
    fast = model.decoder_params(z, y)  # decoder i on z[i]
    slow = torch.stack([model.decoder_params(z[i], torch.full((5,), i)) for i in range(K)])
    assert torch.allclose(fast, slow, atol=1e-6)
    table = torch.randn(K, 5, 4)
    labels = torch.tensor([2, 0, 1, 1, 0])
    assert torch.equal(select_cluster(table, labels, 5), table[labels, torch.arange(5)])


# ----------------------------------------------------------------------------- estimator
@pytest.mark.parametrize(
    ("pair", "loss"),
    [
        ((KDVAE, KDVAEGuide), None),
        ((KDVAE, KDVAEGuide), HardAssignmentLoss()),
        ((KDAE, KDAEGuide), MinReconstructionLoss()),
    ],
)
def test_short_fit_predicts_and_samples_every_component(pair, loss) -> None:
    x = _x(30)
    model, guide = _pair(*pair)
    est = Clusterer(
        model,
        guide,
        epochs=2,
        batch_size=10,
        init=RandomInit(),
        loss=loss,
        random_state=0,
        progress=False,
    ).fit(x)
    assert est.predict(x).shape == (30,) and np.array_equal(est.labels_, est.predict(x))
    assert np.allclose(est.predict_proba(x).sum(1), 1.0)
    assert est.transform(x).shape == (30, LATENT)
    assert est.reconstruct(x).shape == (30, D)
    for i in range(K):
        assert est.sample(4, component=i).shape == (4, D)
    labels = hard_assignments(est.model_, est.guide_, torch.as_tensor(x))
    assert labels.shape == (30,)


def test_trainer_takes_the_hard_objective() -> None:
    model, guide = _pair()
    x = _x(20)
    with local_params():
        trainer = SVITrainer(
            model, guide, loss=HardAssignmentLoss(), epochs=2, batch_size=10, progress=False
        )
        trainer.fit(x)
    assert len(trainer.history) == 2 and np.isfinite(trainer.history[-1]["elbo"])


def test_sample_component_goes_through_its_decoder() -> None:
    model, _ = _pair()
    for i in range(K):
        draws = sample(model, 5, component=i)
        assert draws["assignment"].tolist() == [i] * 5
        with torch.no_grad():
            expected = torch.sigmoid(_net(model.decoder, i, draws["z"]))
        assert torch.allclose(draws["x"], expected, atol=1e-6)


def test_predict_proba_is_q_y_given_x() -> None:
    model, guide = _double(*_pair())
    x = _x(9).double()
    got = cluster_log_proba(model, guide, x)
    assert torch.allclose(got, guide.classifier(x).log_softmax(-1), atol=1e-12)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        KDVAE(D, 0)
    model = KDVAE(D, K, LATENT, hidden=HIDDEN)
    with pytest.raises(ValueError, match="encoder must hold"):
        KDVAEGuide(D, K + 1, LATENT, encoder=KDVAEGuide.for_model(model).encoder)


def test_predict_follows_eq8_when_the_guide_says_so() -> None:
    """With posterior="eq8" the guide's hook makes predict_proba the softmax of the eq. 8
    scores, so predict is the paper's hard clustering; "learned" keeps q(y | x)."""
    model, guide = _pair()
    x = _x(20)
    guide.posterior = "eq8"
    with torch.no_grad():
        expected = hard_assignments(model, guide, x)
    lp = cluster_log_proba(model, guide, x)
    assert torch.equal(lp.argmax(-1), torch.as_tensor(expected).to(lp.device).long())
    assert torch.allclose(lp.logsumexp(-1), torch.zeros(len(x)), atol=1e-5)
    guide.posterior = "learned"
    with torch.no_grad():
        learned = guide.classifier(x).log_softmax(-1)
    torch.testing.assert_close(cluster_log_proba(model, guide, x), learned)
    with pytest.raises(ValueError, match="posterior must be"):
        KDVAEGuide(12, 3, 2, posterior="max")
