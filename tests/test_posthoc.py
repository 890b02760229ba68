"""Tests of pyroclust.posthoc on small, well-separated make_blobs data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from pyroclust.exceptions import DataError
from pyroclust.posthoc import (
    CLUSTERERS,
    KSweepResult,
    PostHocClustering,
    dbscan_eps,
    k_sweep,
    plot_k_sweep,
)

CENTERS = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(n_samples=200, centers=CENTERS, cluster_std=0.6, random_state=0)


class Doubler:
    """A stand-in representation: its codes are the first two columns of X, times two."""

    def __init__(self) -> None:
        self.calls = 0

    def transform(self, X):
        self.calls += 1
        return 2.0 * np.asarray(X)[:, :2]


# ------------------------------------------------------------------------------------------
# PostHocClustering
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kmeans", "gmm"])
def test_recovers_blobs_and_predict_agrees(name, blobs):
    Z, y = blobs
    model = PostHocClustering(name, n_clusters=4, random_state=0)
    assert model.fit(Z) is model
    assert adjusted_rand_score(y, model.labels_) == pytest.approx(1.0)
    assert model.n_clusters_ == 4
    assert model.labels_.shape == (200,)
    np.testing.assert_array_equal(model.predict(Z), model.labels_)
    # new points next to each centre get that centre's cluster
    new = CENTERS + 0.1
    centre_labels = [model.labels_[np.flatnonzero(y == j)[0]] for j in range(4)]
    np.testing.assert_array_equal(model.predict(new), centre_labels)


def test_kmeans_defaults_follow_agarap(blobs):
    Z, _ = blobs
    km = PostHocClustering("kmeans", n_clusters=4, random_state=0).fit(Z).clusterer_
    assert isinstance(km, KMeans)
    assert (km.init, km.n_init, km.max_iter) == ("k-means++", 10, 500)
    km = PostHocClustering("kmeans", n_clusters=4, n_init=2).fit(Z).clusterer_
    assert km.n_init == 2


def test_fit_predict_matches_labels(blobs):
    Z, _ = blobs
    a = PostHocClustering("kmeans", n_clusters=4, random_state=0).fit_predict(Z)
    b = PostHocClustering("kmeans", n_clusters=4, random_state=0).fit(Z).labels_
    np.testing.assert_array_equal(a, b)


def test_dbscan_predict_core_points_and_far_points(blobs):
    Z, y = blobs
    model = PostHocClustering("dbscan").fit(Z)
    db = model.clusterer_
    assert db.eps == pytest.approx(dbscan_eps(Z, min_samples=5))
    assert model.n_clusters_ == 4
    kept = model.labels_ != -1
    assert kept.mean() > 0.85
    assert adjusted_rand_score(y[kept], model.labels_[kept]) == pytest.approx(1.0)
    core = db.core_sample_indices_
    np.testing.assert_array_equal(model.predict(Z[core]), model.labels_[core])
    far = np.array([[100.0, 100.0], [-50.0, 5.0], [5.0, 5.0]])
    np.testing.assert_array_equal(model.predict(far), [-1, -1, -1])


def test_dbscan_explicit_eps_and_no_core_samples(blobs):
    Z, _ = blobs
    model = PostHocClustering("dbscan", eps=1e-6, min_samples=3).fit(Z)
    assert model.clusterer_.eps == 1e-6
    assert model.n_clusters_ == 0
    assert np.all(model.labels_ == -1)
    assert np.all(model.predict(Z[:5]) == -1)


def test_representation_transform_is_used(blobs):
    Z, y = blobs
    X = np.hstack([Z / 2.0, np.random.default_rng(0).normal(size=(200, 3))])  # 5 features
    rep = Doubler()
    model = PostHocClustering("kmeans", representation=rep, n_clusters=4, random_state=0).fit(X)
    assert rep.calls == 1
    assert model.n_features_in_ == 2
    np.testing.assert_allclose(model.clusterer_.cluster_centers_[:, :2].max(), 10.0, atol=0.5)
    assert adjusted_rand_score(y, model.labels_) == pytest.approx(1.0)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert rep.calls == 2


def test_clusterer_object_is_cloned_and_used(blobs):
    Z, y = blobs
    agglo = AgglomerativeClustering(n_clusters=4)
    model = PostHocClustering(agglo, n_clusters=99, linkage="single")  # an option of the object
    model.fit(Z)
    assert model.clusterer_ is not agglo and agglo.linkage == "ward"
    assert model.clusterer_.linkage == "single"
    assert model.n_clusters_ == 4  # from the labels; the n_clusters argument is not used
    assert adjusted_rand_score(y, model.labels_) == pytest.approx(1.0)
    with pytest.raises(TypeError, match="cannot label new data"):
        model.predict(Z)
    with pytest.raises(DataError, match="cannot apply options"):
        PostHocClustering(agglo, not_a_parameter=1).fit(Z)


def test_sklearn_params_clone_and_repr():
    model = PostHocClustering("gmm", n_clusters=3, covariance_type="diag")
    params = model.get_params()
    assert params["covariance_type"] == "diag" and params["clusterer"] == "gmm"
    twin = clone(model)
    assert twin.options == {"covariance_type": "diag"} and twin.n_clusters == 3
    assert "covariance_type='diag'" in repr(model)
    model.set_params(n_clusters=5, reg_covar=1e-3)
    assert model.n_clusters == 5 and model.options["reg_covar"] == 1e-3


def test_gmm_options_reach_the_mixture(blobs):
    Z, _ = blobs
    gmm = PostHocClustering("gmm", n_clusters=4, random_state=0, covariance_type="diag")
    assert gmm.fit(Z).clusterer_.covariances_.shape == (4, 2)


def test_registry_is_explicit():
    assert set(CLUSTERERS) == {"kmeans", "gmm", "dbscan"}


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        ([[0.0, np.nan], [1.0, 1.0]], {}, "NaN"),
        (np.arange(5.0), {}, "2-D"),
        (np.empty((0, 2)), {}, "empty"),
        (np.zeros((5, 2)), {"n_clusters": 0}, "at least 1"),
        (np.zeros((5, 2)), {"n_clusters": 6}, "larger than the number of samples"),
        (np.zeros((5, 2)), {"n_clusters": 6, "clusterer": "gmm"}, "larger than the number"),
        (np.zeros((5, 2)), {"n_clusters": 2.5}, "integer"),
        (np.zeros((5, 2)), {"clusterer": "spectral"}, "unknown clusterer"),
        (np.zeros((5, 2)), {"clusterer": object()}, "fit_predict or fit"),
        (np.zeros((5, 2)), {"n_clusters": 2, "not_an_option": 1}, "invalid options"),
        (np.zeros((5, 2)), {"representation": object()}, "transform"),
    ],
)
def test_bad_input_raises_data_error(X, kwargs, match):
    with pytest.raises(DataError, match=match):
        PostHocClustering(**kwargs).fit(X)


def test_predict_checks(blobs):
    Z, _ = blobs
    model = PostHocClustering("kmeans", n_clusters=4, random_state=0)
    with pytest.raises(Exception, match="not fitted"):
        model.predict(Z)
    model.fit(Z)
    with pytest.raises(DataError, match="features"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(DataError, match="NaN"):
        model.predict([[np.nan, 0.0]])


# ------------------------------------------------------------------------------------------
# dbscan_eps
# ------------------------------------------------------------------------------------------


def test_dbscan_eps_separates_blobs(blobs):
    Z, _ = blobs
    eps = dbscan_eps(Z, min_samples=5)
    assert math.isfinite(eps) and eps > 0.0
    # far smaller than the gap between the blobs, larger than a typical neighbour distance
    assert eps < 3.0
    q = dbscan_eps(Z, min_samples=5, method="quantile", quantile=0.5)
    assert 0.0 < q <= dbscan_eps(Z, min_samples=5, method="quantile", quantile=1.0)


def test_dbscan_eps_degenerate_data():
    assert dbscan_eps(np.zeros((10, 2))) == 1e-12  # all points coincide
    # evenly spaced points on a circle: a flat k-distance curve, so the quantile fallback
    angle = np.linspace(0.0, 2.0 * np.pi, 12, endpoint=False)
    circle = np.column_stack([np.cos(angle), np.sin(angle)])
    chord = 2.0 * np.sin(np.pi / 12)
    assert dbscan_eps(circle, min_samples=3) == pytest.approx(chord)
    assert dbscan_eps(circle, min_samples=1) == pytest.approx(chord)  # nearest other point
    # a line: interior points have k-distance 1, the two ends 2; the knee is the plateau
    line = np.arange(20.0).reshape(-1, 1)
    assert dbscan_eps(line, min_samples=3) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_samples": 0}, "at least 1"),
        ({"min_samples": 50}, "at least max"),
        ({"min_samples": 2.0}, "integer"),
        ({"method": "elbow"}, "method"),
        ({"quantile": 0.0}, "quantile"),
    ],
)
def test_dbscan_eps_errors(kwargs, match):
    with pytest.raises(DataError, match=match):
        dbscan_eps(np.arange(20.0).reshape(10, 2), **kwargs)


# ------------------------------------------------------------------------------------------
# k_sweep and plot_k_sweep
# ------------------------------------------------------------------------------------------


def test_k_sweep_scores_and_peak(blobs):
    Z, _ = blobs
    result = k_sweep(Z, ks=[8, 2, 3, 4, 6, 4, 500], random_state=0)
    assert isinstance(result, KSweepResult)
    assert result.ks == [2, 3, 4, 6, 8]
    assert result.skipped == [500] and "500" in result.notes[0]
    assert result.algorithm == "KMeans" and result.n_samples == 200
    for name in ("inertia", "silhouette", "davies_bouldin", "calinski_harabasz"):
        values = getattr(result, name)
        assert len(values) == 5 and all(math.isfinite(v) for v in values)
    assert np.all(np.diff(result.inertia) < 0)
    assert result.best_k() == 4
    assert result.best_k("davies_bouldin") == 4
    assert result.best_k("calinski_harabasz") == 4
    assert result.rows()[2]["k"] == 4 and set(result.rows()[0]) == {
        "k",
        "inertia",
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
    }


def test_k_sweep_minibatch_above_threshold(blobs):
    Z, _ = blobs
    result = k_sweep(Z, ks=(3, 4, 5), minibatch_threshold=100, random_state=0)
    assert result.algorithm == "MiniBatchKMeans"
    assert result.best_k() == 4


def test_k_sweep_input_errors(blobs):
    Z, _ = blobs
    for ks in ([], [0, 2], [2.5], ["a"]):
        with pytest.raises(DataError, match="ks"):
            k_sweep(Z, ks=ks)
    with pytest.raises(DataError, match="n_init"):
        k_sweep(Z, ks=(2,), n_init=0)
    with pytest.raises(DataError, match="2-D"):
        k_sweep(Z[:, 0], ks=(2,))


def test_k_sweep_k1_has_nan_scores_and_all_skipped(blobs):
    Z, _ = blobs
    result = k_sweep(Z[:5], ks=(1, 5, 10))
    assert result.ks == [1] and result.skipped == [5, 10]
    assert math.isnan(result.silhouette[0])
    with pytest.raises(DataError, match="finite"):
        result.best_k()


def test_plot_k_sweep_writes_png(blobs, tmp_path):
    Z, _ = blobs
    result = k_sweep(Z, ks=(2, 4, 8), random_state=0)
    path = tmp_path / "sweep.png"
    fig = plot_k_sweep(result, path)
    assert isinstance(fig, Figure)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"]
    # nothing evaluated: still a figure, no error
    empty = k_sweep(Z[:3], ks=(10,))
    assert isinstance(plot_k_sweep(empty, str(tmp_path / "empty.png")), Figure)
    with pytest.raises(DataError, match="KSweepResult"):
        plot_k_sweep({"ks": [2]})
