"""Initialisation strategies: GMM / k-means of the latent means, random, AE pretraining."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from pyroclust.infer.elbo import local_params
from pyroclust.infer.init import GMMInit, KMeansInit, RandomInit, pretrain_autoencoder


@pytest.fixture
def setup(tiny_vade, x_small):
    model, guide = tiny_vade()
    x = torch.as_tensor(x_small)
    with torch.no_grad():
        codes = guide.encode(x)[0].double().numpy()
    return model, guide, x, codes


def _mixture(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with local_params(), torch.no_grad():
        return (
            model.weights.mean().double().numpy(),
            model.components.loc.double().numpy(),
            model.components.scale.double().numpy() ** 2,
        )


def test_gmm_init_sets_the_gmm_of_the_latent_means(setup) -> None:
    model, guide, x, codes = setup
    with local_params():
        GMMInit(pretrain_epochs=0)(model, guide, x, random_state=0)
    gmm = GaussianMixture(3, covariance_type="diag", reg_covar=1e-4, random_state=0).fit(codes)
    pi, loc, var = _mixture(model)
    np.testing.assert_allclose(pi, gmm.weights_, rtol=1e-5)
    np.testing.assert_allclose(loc, gmm.means_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, gmm.covariances_, rtol=1e-4)


def test_kmeans_init_sets_centroids_fractions_and_spreads(setup) -> None:
    model, guide, x, codes = setup
    with local_params():
        KMeansInit(pretrain_epochs=0)(model, guide, x, random_state=0)
    km = KMeans(3, n_init=10, random_state=0).fit(codes)
    counts = np.bincount(km.labels_, minlength=3)
    pi, loc, var = _mixture(model)
    np.testing.assert_allclose(pi, counts / counts.sum(), rtol=1e-5)
    np.testing.assert_allclose(loc, km.cluster_centers_, rtol=1e-5, atol=1e-6)
    for k in range(3):
        if counts[k] > 1:
            expected = codes[km.labels_ == k].var(0) + 1e-4
            np.testing.assert_allclose(var[k], expected, rtol=1e-4)


def test_random_init_leaves_everything(setup) -> None:
    model, guide, x, _ = setup
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in (model, guide)]
    with local_params():
        assert RandomInit()(model, guide, x, random_state=0) is None
    for m, state in zip((model, guide), before):
        for key, value in m.state_dict().items():
            assert torch.equal(value, state[key]), key


def test_pretraining_lowers_the_reconstruction_loss(setup) -> None:
    model, guide, x, _ = setup
    before = {k: v.clone() for k, v in model.components.state_dict().items()}
    with local_params():
        losses = pretrain_autoencoder(model, guide, x, epochs=15, batch_size=16, lr=1e-2)
    assert len(losses) == 15 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    # only the encoder and decoder are trained, not the mixture
    for key, value in model.components.state_dict().items():
        assert torch.equal(value, before[key])


def test_gmm_init_is_repeatable(tiny_vade, x_small) -> None:
    x = torch.as_tensor(x_small)
    model, guide = tiny_vade()
    results = []
    for _ in range(2):
        m, g = copy.deepcopy(model), copy.deepcopy(guide)
        with local_params():
            GMMInit(pretrain_epochs=2, batch_size=16)(m, g, x, random_state=3)
        results.append(_mixture(m))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_moments_from_labels_and_an_empty_cluster() -> None:
    from pyroclust.infer.init import moments_from_labels

    codes = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 14.0]])
    pi, loc, var = moments_from_labels(codes, np.array([0, 0, 1, 1]), 3, reg=0.0)
    np.testing.assert_allclose(loc[:2], [[1.0, 0.0], [11.0, 12.0]])
    np.testing.assert_allclose(var[:2], [[1.0, 0.0], [1.0, 4.0]])
    # the empty third cluster: overall moments, the weight of one point
    np.testing.assert_allclose(loc[2], codes.mean(0))
    np.testing.assert_allclose(var[2], codes.var(0))
    np.testing.assert_allclose(pi, [2 / 5, 2 / 5, 1 / 5])


@pytest.mark.parametrize("space", ["data", "codes"])
def test_manifold_init_starts_at_the_clusters_of_a_tsne_embedding(setup, space) -> None:
    from sklearn.manifold import TSNE

    from pyroclust.infer.init import ManifoldInit, moments_from_labels

    model, guide, x, codes = setup
    with local_params():
        ManifoldInit(pretrain_epochs=0, space=space, n_init=2)(model, guide, x, random_state=0)
    features = codes if space == "codes" else x.numpy()
    embedding = TSNE(2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca", random_state=0)
    emb = embedding.fit_transform(features)
    labels = GaussianMixture(3, covariance_type="full", n_init=2, random_state=0).fit_predict(emb)
    pi_ref, loc_ref, var_ref = moments_from_labels(codes, labels, 3)
    pi, loc, var = _mixture(model)
    np.testing.assert_allclose(pi, pi_ref, rtol=1e-5)
    np.testing.assert_allclose(loc, loc_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, var_ref, rtol=1e-4)


def test_manifold_init_on_a_subset_labels_every_point(setup) -> None:
    from pyroclust.infer.init import ManifoldInit

    model, guide, x, _ = setup
    strategy = ManifoldInit(pretrain_epochs=0, max_samples=30, n_init=1)
    with local_params():
        pi, loc, var = strategy.cluster(
            guide.encode(x)[0].detach().double().numpy(), 3, 0, x.numpy()
        )
    assert pi.shape == (3,) and loc.shape == var.shape == (3, 2)
    np.testing.assert_allclose(pi.sum(), 1.0)
    assert np.isfinite(loc).all() and (var > 0).all()
    with pytest.raises(ValueError, match="space"):
        ManifoldInit(space="pixels")


def test_init_starts_the_guide_scale_at_a_fraction_of_the_code_spread(setup) -> None:
    model, guide, x, codes = setup
    with local_params():
        GMMInit(pretrain_epochs=0, code_scale=0.1)(model, guide, x, random_state=0)
        _, scale = guide.encode(x)
    expected = 0.1 * np.sqrt(np.median(codes.var(0)))
    np.testing.assert_allclose(scale.detach().numpy(), expected, rtol=1e-4)


def test_augmented_pretraining_feeds_the_encoder_augmented_rows(setup) -> None:
    model, guide, x, _ = setup
    seen = []

    def augment(xb: torch.Tensor) -> torch.Tensor:
        seen.append(len(xb))
        return xb.flip(0)

    with local_params():
        pretrain_autoencoder(
            model, guide, x, epochs=2, batch_size=16, random_state=0, augment=augment
        )
    assert sum(seen) == 2 * len(x)


def test_manifold_init_with_hdbscan_finds_its_own_number_of_clusters() -> None:
    from pyroclust.infer.init import ManifoldInit

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    sizes = [150, 60, 30]  # heavy-tailed sizes, fewer clusters than components
    codes = np.concatenate([c + rng.normal(size=(m, 2)) for c, m in zip(centres, sizes)])
    truth = np.repeat([0, 1, 2], sizes)
    strategy = ManifoldInit(space="codes", method="hdbscan", min_cluster_size=10)
    pi, loc, var = strategy.cluster(codes, 8, random_state=0)
    assert pi.shape == (8,) and loc.shape == var.shape == (8, 2)
    np.testing.assert_allclose(pi.sum(), 1.0)
    found = np.argsort(-pi)[:3]
    # the three clusters, largest first in weight, at their centres; the rest are spares
    np.testing.assert_allclose(np.sort(pi)[::-1][:3] * (len(codes) + 5), sizes, atol=1.5)
    for k in found:
        nearest = np.argmin(((centres - loc[k]) ** 2).sum(1))
        np.testing.assert_allclose(loc[k], codes[truth == nearest].mean(0), atol=0.3)
    spares = np.argsort(-pi)[3:]
    np.testing.assert_allclose(pi[spares], 1 / (len(codes) + 5))
    with pytest.raises(ValueError, match="method"):
        ManifoldInit(method="dbscan")
