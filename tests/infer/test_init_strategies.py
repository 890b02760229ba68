"""Initialisation strategies in their own modules: the default choice, pretraining and
alignment as trainer stages, and starts from data with nothing to cluster."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pyroclust import zoo
from pyroclust.infer import FitSession
from pyroclust.infer.elbo import local_params
from pyroclust.infer.init import (
    GMMInit,
    KMeansInit,
    ManifoldInit,
    RandomInit,
    default_init,
    has_vade_clusters,
    pretrain_autoencoder,
)
from pyroclust.structure import ClusterSite


def _mixture_of(n_components: int, **kwargs):
    """A stand-in model: n_components, components, weights and decoder that VaDE's start
    needs, plus whatever ``kwargs`` set."""
    return SimpleNamespace(
        n_components=n_components,
        components=SimpleNamespace(set_from_moments=lambda loc, var: None),
        weights=SimpleNamespace(set_weights=lambda pi: None),
        decoder=object(),
        **kwargs,
    )


def test_default_init_is_the_gmm_start_only_for_vade_shaped_models(tiny_vade) -> None:
    model, guide = tiny_vade()
    assert isinstance(default_init(model, guide), GMMInit)
    vae, vae_guide = zoo.make("vae", n_features=12, latent_dim=2, hidden=(8,))
    assert isinstance(default_init(vae, vae_guide), RandomInit)
    # declared sites decide: a relaxed or guide-enumerated site, or two sites, get no GMM start
    for sites in (
        (ClusterSite("y", 3, "relaxed-guide"),),
        (ClusterSite("y", 3, "enumerate-guide"),),
        (ClusterSite("y1", 3), ClusterSite("y2", 2)),
    ):
        assert isinstance(default_init(_mixture_of(3, cluster_sites=sites)), RandomInit)
    assert isinstance(default_init(_mixture_of(3, cluster_sites=(ClusterSite("y", 3),))), GMMInit)
    # without declared sites: n_components and the parts the start sets
    assert has_vade_clusters(_mixture_of(3))
    assert not has_vade_clusters(SimpleNamespace(n_components=3))
    assert not has_vade_clusters(_mixture_of(3), guide=object())  # no encode


def test_pretraining_reports_the_mean_nll_per_row(tiny_vade, x_small) -> None:
    """One full-batch step: the epoch's loss is the NLL per row before the step."""
    model, guide = tiny_vade()
    x = torch.as_tensor(x_small)
    with torch.no_grad():
        loc, _ = guide.encode(x)
        expected = float(-model.likelihood.log_prob(model.decoder(loc), x).mean())
    with local_params():
        losses = pretrain_autoencoder(model, guide, x, epochs=1, batch_size=len(x))
    assert losses == [pytest.approx(expected, rel=1e-6)]


def test_pretraining_stops_when_the_reconstruction_stops_improving(tiny_vade, x_small) -> None:
    """An improvement of 1e9 nats per row is never reached: the first epoch is the best and
    the stage stops ``patience`` epochs later, well before its 50."""
    from pyroclust.infer import EarlyStopping

    model, guide = tiny_vade()
    x = torch.as_tensor(x_small)
    session = FitSession(model, guide, random_state=0, device="cpu")
    stop = EarlyStopping(patience=2, min_delta=1e9, restore_best=False)
    strategy = GMMInit(pretrain_epochs=50, batch_size=16, n_init=1, pretrain_early_stopping=stop)
    with local_params():
        strategy(model, guide, x, random_state=0, session=session)
    pretrain = session.records[0]
    assert pretrain["name"] == "pretrain" and pretrain["stopped_early"]
    assert pretrain["epoch"] == 3 and len(pretrain["history"]) == 3
    # without it, the same stage runs its epochs
    free = FitSession(model, guide, random_state=0, device="cpu")
    with local_params():
        pretrain_autoencoder(model, guide, x, epochs=4, batch_size=16, session=free)
    assert free.records[0]["epoch"] == 4 and not free.records[0]["stopped_early"]


def test_strategy_stages_run_in_the_given_session(tiny_vade, x_small, capfd) -> None:
    model, guide = tiny_vade()
    x = torch.as_tensor(x_small)
    session = FitSession(model, guide, random_state=0, progress=True, device="cpu")
    strategy = KMeansInit(pretrain_epochs=2, align_epochs=2, batch_size=16, n_init=2)
    with local_params():
        strategy(model, guide, x, random_state=0, progress=True, session=session)
    assert [(r["name"], r["kind"]) for r in session.records] == [
        ("pretrain", "train"),
        ("start", "step"),
        ("align", "train"),
    ]
    assert [len(t.history) for t in session.trainers.values()] == [2, 2]
    _, err = capfd.readouterr()
    assert "VaDE pretrain" in err and "VaDE align" in err


# ----------------------------------------------------------- data with nothing to cluster
@pytest.mark.parametrize("strategy", [GMMInit, KMeansInit, ManifoldInit])
def test_constant_data_start_as_one_cluster(tiny_vade, strategy) -> None:
    """All-zero data (t-SNE used to segfault on them): one cluster holds every row, the
    other components start at the overall moments with the weight of one point."""
    model, guide = tiny_vade()
    x = torch.zeros(20, 12)
    with local_params():
        strategy(pretrain_epochs=2, batch_size=8)(model, guide, x, random_state=0)
        pi = model.weights.mean().detach().double().numpy()
    np.testing.assert_allclose(pi, [20 / 22, 1 / 22, 1 / 22], rtol=1e-5)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_manifold_labels_of_constant_and_tiny_data() -> None:
    strategy = ManifoldInit(space="data")
    zeros = np.zeros((30, 5))
    assert strategy.cluster_labels(zeros, 4, 0, data=zeros).tolist() == [0] * 30
    one = np.ones((1, 5))
    assert strategy.cluster_labels(one, 1, 0, data=one).tolist() == [0]
    three = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 0.1]])
    labels = strategy.cluster_labels(three, 2, 0, data=three)  # k-means: too few to embed
    assert labels[0] == labels[2] != labels[1]
    two_distinct = np.repeat(np.eye(2, 3), 10, axis=0)
    assert len(np.unique(strategy.cluster_labels(two_distinct, 3, 0, data=two_distinct))) == 2


def test_manifold_labels_when_the_mixture_collapses_on_clumps_of_equal_rows() -> None:
    """24 distinct rows, 100 copies each, into 16 clusters: t-SNE packs each into a point,
    the Gaussian mixture's components collapse; k-means on the embedding labels them, with
    a warning, and every copy of a row keeps one cluster."""
    rows = np.random.default_rng(0).normal(size=(24, 6))
    x = np.repeat(rows, 100, axis=0)
    strategy = ManifoldInit(space="codes", embedding="tsne", pretrain_epochs=0)
    with pytest.warns(RuntimeWarning, match="collapsed on the embedding"):
        labels = strategy.cluster_labels(x, 16, 0)
    assert len(np.unique(labels)) == 16
    assert all(len(np.unique(copies)) == 1 for copies in labels.reshape(24, 100))


def test_one_row_starts_cleanly(tiny_vade) -> None:
    """A single row: no scikit-learn perplexity or sample-count error, one cluster."""
    x = torch.rand(1, 12)
    for strategy in (ManifoldInit(pretrain_epochs=1), GMMInit(pretrain_epochs=1)):
        model, guide = tiny_vade(n_components=1)
        with local_params():
            strategy(model, guide, x, random_state=0)
            pi = model.weights.mean().detach()
        torch.testing.assert_close(pi, torch.ones(1))


@pytest.mark.parametrize(("weights", "expect_all"), [("stick-breaking", False), ("learned", True)])
def test_the_manifold_start_mixture_follows_the_weight_prior(
    tiny_vade, make_blobs, weights, expect_all
) -> None:
    """Three blobs and K = 9: a stick-breaking prior's start (a variational Bayesian mixture)
    leaves the components the data do not need empty; a learned prior's start (a K-component
    Gaussian mixture) uses all nine. The user's strategy object is left as it was."""
    x = torch.as_tensor(make_blobs(150))
    model, guide = tiny_vade(n_components=9, weights=weights)
    strategy = ManifoldInit(pretrain_epochs=0, align_epochs=1, n_init=2, batch_size=50)
    with local_params():
        labels = np.asarray(strategy.start_mixture(model, guide, x, random_state=0))
    used = len(np.unique(labels))
    assert used == 9 if expect_all else used <= 4
    assert not hasattr(strategy, "_weight_prior")
    assert type(strategy.mixture(9, 0)).__name__ == "GaussianMixture"  # without a model
