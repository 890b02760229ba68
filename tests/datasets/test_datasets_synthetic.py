"""The Zipf mixture generator: shapes, determinism, and cluster sizes following Zipf ranks."""

from __future__ import annotations

import numpy as np
import pytest

from pyroclust.datasets import make_zipf_mixture, zipf_weights
from pyroclust.exceptions import DatasetError


def test_shapes_and_types():
    ds = make_zipf_mixture(n_samples=500, n_clusters=7, latent_dim=3, n_features=11)
    assert ds.x.shape == (500, 11) and ds.x.dtype == np.float32
    assert ds.y.shape == (500,) and ds.y.dtype == np.int64
    assert ds.y.min() >= 0 and ds.y.max() < 7
    assert ds.support == "real" and ds.image_shape is None and ds.name == "zipf-mixture"
    assert np.isfinite(ds.x).all()


def test_deterministic_given_random_state():
    a = make_zipf_mixture(n_samples=300, n_clusters=10, n_features=16, random_state=3)
    b = make_zipf_mixture(n_samples=300, n_clusters=10, n_features=16, random_state=3)
    c = make_zipf_mixture(n_samples=300, n_clusters=10, n_features=16, random_state=4)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_zipf_weights():
    pi = zipf_weights(200, 1.1)
    assert pi.shape == (200,) and np.isclose(pi.sum(), 1.0)
    assert np.all(np.diff(pi) < 0)
    np.testing.assert_allclose(pi[0] / pi[9], 10**1.1)
    np.testing.assert_allclose(zipf_weights(4, 0.0), 0.25)


def test_cluster_sizes_follow_zipf_ranks():
    n, k, s = 20_000, 50, 1.1
    ds = make_zipf_mixture(n_samples=n, n_clusters=k, exponent=s, latent_dim=4, n_features=8)
    counts = np.bincount(ds.y, minlength=k)
    pi = zipf_weights(k, s)
    # The largest cluster is rank 1 and holds about pi_1 * n samples (5 binomial sd).
    assert counts.argmax() == 0
    sd = np.sqrt(n * pi[0] * (1 - pi[0]))
    assert abs(counts[0] - n * pi[0]) < 5 * sd
    # Sizes of the top ranks decrease, and all sizes track n * pi.
    assert np.all(np.diff(counts[:5]) < 0)
    assert np.all(np.abs(counts - n * pi) < 5 * np.sqrt(n * pi) + 1)


def test_clusters_are_separated_in_latent_space_not_collapsed_in_observations():
    ds = make_zipf_mixture(n_samples=2000, n_clusters=5, latent_dim=4, n_features=32, exponent=0.5)
    # Within-cluster spread is smaller than the spread of the whole data set.
    total = ds.x.var(axis=0).sum()
    within = np.mean([ds.x[ds.y == c].var(axis=0).sum() for c in range(5)])
    assert within < 0.7 * total


def test_same_mixture_for_any_sample_size():
    small = make_zipf_mixture(n_samples=2000, n_clusters=3, latent_dim=2, n_features=4)
    large = make_zipf_mixture(n_samples=8000, n_clusters=3, latent_dim=2, n_features=4)
    for c in range(3):
        np.testing.assert_allclose(
            small.x[small.y == c].mean(0), large.x[large.y == c].mean(0), atol=0.1
        )


def test_default_size_is_fast_enough():
    ds = make_zipf_mixture()
    assert ds.x.shape == (50_000, 256) and ds.n_classes <= 200


@pytest.mark.parametrize(
    "kwargs",
    [{"n_samples": 0}, {"n_clusters": 2.5}, {"noise": -1.0}, {"exponent": float("nan")}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(DatasetError, match="make_zipf_mixture"):
        make_zipf_mixture(**kwargs)
