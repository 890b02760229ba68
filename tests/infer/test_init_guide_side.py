"""The manifold start and the alignment for models whose cluster site is in the guide (GMVAE):
the labelled objective against a float64 formula, and q(c | x) trained towards the labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyroclust import priors
from pyroclust.guides import GMVAEGuide
from pyroclust.infer.elbo import local_params
from pyroclust.infer.init import GMMInit, ManifoldInit, fit_conditioned, labelled_loss
from pyroclust.infer.session import FitSession
from pyroclust.models import GMVAE
from pyroclust.predictive import cluster_log_proba
from tests.reference import bernoulli_log_prob, normal_log_prob

N_FEATURES, K = 12, 3


def make_pair(cluster: str, **options) -> tuple[GMVAE, GMVAEGuide]:
    model = GMVAE(N_FEATURES, K, 2, feature_dim=6, hidden=(8, 7), cluster=cluster, **options)
    return model, GMVAEGuide.for_model(model, hidden=(8, 7))


@pytest.mark.parametrize("cluster", ["enumerate", "relaxed"])
def test_labelled_objective_matches_a_float64_formula(cluster: str) -> None:
    """-n/B sum_b [log p(x|z,y) + log pi_y (enumerated only) + w_G (log N(z;0,I) - log q(z|x))]
    - alpha n/B sum_b log q(y|x), at the z the guide drew."""
    torch.manual_seed(0)
    model, guide = make_pair(cluster, weights=priors.Learned(), w_gaussian=5.0)
    model.double()
    guide.double()
    with torch.no_grad():
        model.weights.logits.copy_(torch.randn(K, dtype=torch.float64))
    x = torch.rand(8, N_FEATURES, dtype=torch.float64).round()
    y = torch.tensor([0, 1, 2, 2, 1, 0, 0, 1])
    n, alpha = 50, 0.7
    with local_params():
        loss_fn = labelled_loss(model, guide, x, y, alpha=alpha)
        model.train(False), guide.train(False)  # BatchNorm at fixed statistics
        torch.manual_seed(1)
        got = loss_fn(model, guide, x, y, data_size=n)
        onehot = torch.nn.functional.one_hot(y, K).double()
        c = onehot if cluster == "relaxed" else y
        torch.manual_seed(1)
        conditioned = poutine.condition(guide, data={"assignment": c})
        z = poutine.trace(conditioned).get_trace(x, data_size=n).nodes["z"]["value"]
        logits, loc, scale = guide.encode(x)
        log_px = bernoulli_log_prob(model.decoder_params(z, c), x)
        log_pi = torch.log_softmax(model.weights.logits, -1)[y] if cluster == "enumerate" else 0.0
        kl_z = normal_log_prob(z, 0.0, 1.0) - normal_log_prob(z, loc, scale)
        elbo = n / len(x) * (log_px + log_pi + 5.0 * kl_z).sum()
        log_q = torch.log_softmax(logits, -1).gather(1, y[:, None]).sum()
        expected = -elbo - alpha * n / len(x) * log_q
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cluster", ["enumerate", "relaxed"])
def test_alignment_trains_q_of_c_towards_the_labels(cluster: str, make_blobs) -> None:
    torch.manual_seed(0)
    model, guide = make_pair(cluster)
    x = torch.as_tensor(make_blobs(96))
    labels = (np.arange(96) + 1) % 3  # the blobs, under a permuted naming
    with local_params():
        losses = fit_conditioned(
            model, guide, x, labels, epochs=40, batch_size=32, lr=1e-2, random_state=0
        )
        predicted = cluster_log_proba(model, guide, x).argmax(-1).numpy()
    assert losses[-1] < losses[0]
    assert (predicted == labels).mean() >= 0.95


@pytest.mark.parametrize("cluster", ["enumerate", "relaxed"])
def test_manifold_start_of_a_guide_side_site(cluster: str, make_blobs) -> None:
    """No pretraining, no mixture to set: the embedding's labels, then q(c | x) aligned to
    them; the stages are checkpointed as for VaDE."""
    torch.manual_seed(0)
    model, guide = make_pair(cluster)
    x = torch.as_tensor(make_blobs(96))
    init = ManifoldInit(pretrain_epochs=0, align_epochs=40, batch_size=32, lr=1e-2, n_init=1)
    session = FitSession(model, guide, random_state=0, device="cpu")
    with local_params():
        init(model, guide, x, random_state=0, session=session)
        predicted = cluster_log_proba(model, guide, x).argmax(-1).numpy()
    start = session.records[0]["result"]
    assert [r["name"] for r in session.records] == ["start", "align"]
    truth = np.arange(96) % 3
    from pyroclust.metrics import cluster_accuracy

    assert cluster_accuracy(truth, predicted) >= 0.95
    assert start is not None


def test_starts_that_need_codes_say_so_for_a_guide_side_site(x_small) -> None:
    model, guide = make_pair("enumerate")
    x = torch.as_tensor(x_small)
    with pytest.raises(ValueError, match="pretrain_epochs=0"):
        ManifoldInit(pretrain_epochs=2)(model, guide, x, random_state=0)
    with pytest.raises(ValueError, match="clusters the data"):
        GMMInit(pretrain_epochs=0, align_epochs=2)(model, guide, x, random_state=0)
    with pytest.raises(ValueError, match="space='data'"):
        ManifoldInit(pretrain_epochs=0, space="codes", align_epochs=2)(
            model, guide, x, random_state=0
        )


def test_labelled_objective_of_a_model_side_site(tiny_vade, x_small) -> None:
    """VaDE: the ELBO with the assignment observed, minus alpha n/B sum_b log p(y_b | mu(x_b))
    under the mixture on the codes (float64 formula); alpha = 0 leaves the ELBO alone."""
    model, guide = tiny_vade()
    model.double()
    guide.double()
    x = torch.as_tensor(x_small[:8], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 2, 1, 0, 0, 1])
    n, alpha = 40, 2.5
    with local_params():
        got = {}
        for a in (alpha, 0.0):
            loss_fn = labelled_loss(model, guide, x, y, alpha=a)
            torch.manual_seed(1)
            got[a] = loss_fn(model, guide, x, y, data_size=n)
        torch.manual_seed(1)
        elbo = Trace_ELBO(max_plate_nesting=1).differentiable_loss(
            poutine.condition(model, data={"assignment": y}), guide, x, data_size=n
        )
        mu = guide.encode(x)[0]
        loc, scale = model.components.loc, model.components.scale
        log_pi = torch.log_softmax(model.weights.logits, -1)
        joint = torch.stack(
            [log_pi[k] + normal_log_prob(mu, loc[k], scale[k]) for k in range(K)], 1
        )
        log_post = joint - joint.logsumexp(1, keepdim=True)
        expected = elbo - alpha * n / len(x) * log_post[torch.arange(len(y)), y].sum()
    torch.testing.assert_close(got[0.0], elbo)
    torch.testing.assert_close(got[alpha], expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["gmvae-relaxed", "gmvae-enumerate", "kdvae", "vade"])
def test_cluster_posterior_is_what_predict_proba_reports(name: str, x_small) -> None:
    """The posterior read from the objective's own run of the guide (or VaDE's p(c | mu(x)))
    equals predictive.cluster_log_proba, in evaluation mode, for every kind of cluster site;
    the guide's value is left as it was."""
    from pyroclust import zoo
    from pyroclust.infer.init.align import cluster_posterior

    torch.manual_seed(0)
    if name == "vade":
        model, guide = zoo.make("vade", 12, n_components=K, latent_dim=2, hidden=(8,))
    elif name == "kdvae":
        model, guide = zoo.make("kdvae", 12, n_components=K, latent_dim=2, hidden=(8, 6))
    else:
        model, guide = make_pair(name.removeprefix("gmvae-"))
    model.eval(), guide.eval()
    x = torch.as_tensor(x_small[:10])
    with local_params():
        guide_fn, log_posterior = cluster_posterior(model, guide)
        torch.manual_seed(1)
        tapped = guide_fn(x, data_size=48)
        torch.manual_seed(1)
        plain = guide(x, data_size=48)
        got = log_posterior(x)
        expected = cluster_log_proba(model, guide, x)
    assert got.requires_grad
    torch.testing.assert_close(tapped, plain)
    torch.testing.assert_close(got.detach().exp(), expected.exp(), rtol=1e-5, atol=1e-6)
