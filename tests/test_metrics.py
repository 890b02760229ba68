"""Tests of pyroclust.metrics: agreement with scikit-learn, Hungarian accuracy, degenerate cases."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import make_blobs

from pyroclust.exceptions import DataError
from pyroclust.metrics import (
    ari,
    calinski_harabasz,
    cluster_accuracy,
    clustering_scores,
    davies_bouldin,
    majority_accuracy,
    n_clusters_used,
    nmi,
    silhouette,
    site_label_scores,
)


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=120, centers=3, cluster_std=1.5, random_state=0)
    rng = np.random.default_rng(0)
    pred = y.copy()
    flip = rng.choice(len(y), size=20, replace=False)
    pred[flip] = rng.integers(0, 4, size=20)  # some errors and a 4th cluster
    return X, y, pred


# ------------------------------------------------------------------------------------------
# agreement with scikit-learn
# ------------------------------------------------------------------------------------------


def test_external_scores_match_sklearn(blobs):
    _, y, pred = blobs
    assert nmi(y, pred) == pytest.approx(skm.normalized_mutual_info_score(y, pred), abs=1e-12)
    assert ari(y, pred) == pytest.approx(skm.adjusted_rand_score(y, pred), abs=1e-12)


def test_internal_scores_match_sklearn(blobs):
    X, _, pred = blobs
    assert silhouette(X, pred) == pytest.approx(skm.silhouette_score(X, pred), abs=1e-12)
    assert davies_bouldin(X, pred) == pytest.approx(skm.davies_bouldin_score(X, pred), abs=1e-12)
    assert calinski_harabasz(X, pred) == pytest.approx(
        skm.calinski_harabasz_score(X, pred), rel=1e-12
    )


def test_silhouette_subsample_is_seeded_and_close(blobs):
    X, y, _ = blobs
    full = silhouette(X, y, sample_size=None)
    a = silhouette(X, y, sample_size=60, random_state=1)
    b = silhouette(X, y, sample_size=60, random_state=1)
    assert a == b
    assert a != full
    assert a == pytest.approx(full, abs=0.1)
    # no subsampling when n_samples <= sample_size
    assert silhouette(X, y, sample_size=len(y)) == full


def test_accuracy_matches_brute_force(blobs):
    from itertools import permutations

    _, y, pred = blobs
    best = max(
        np.mean(np.array([dict(zip(range(4), perm))[p] for p in pred]) == y)
        for perm in permutations(range(4))
    )
    assert cluster_accuracy(y, pred) == pytest.approx(best)


# ------------------------------------------------------------------------------------------
# accuracy
# ------------------------------------------------------------------------------------------


def test_accuracy_invariant_to_relabelling():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    relabel = {0: 7, 1: -3, 2: 42}
    pred = np.array([relabel[v] for v in y])
    assert cluster_accuracy(y, pred) == 1.0
    assert cluster_accuracy(["a", "a", "b", "b", "c", "c", "c"], pred) == 1.0


def test_accuracy_more_clusters_than_classes_by_hand():
    # contingency (clusters x classes):   class 0  class 1
    #   cluster 10                             2        0
    #   cluster 11                             1        0
    #   cluster 12                             0        3
    #   cluster 13                             0        1
    # one-to-one matching: 10 -> 0 and 12 -> 1, so 5 of 7 samples are correct.
    y = [0, 0, 0, 1, 1, 1, 1]
    pred = [10, 10, 11, 12, 12, 12, 13]
    assert cluster_accuracy(y, pred) == pytest.approx(5 / 7)


def test_accuracy_fewer_clusters_than_classes():
    y = [0, 0, 1, 1, 2, 2]
    pred = [5, 5, 5, 5, 9, 9]  # classes 0 and 1 merged: only one of them can be matched
    assert cluster_accuracy(y, pred) == pytest.approx(4 / 6)
    assert cluster_accuracy(y, np.zeros(6, dtype=int)) == pytest.approx(2 / 6)


# ------------------------------------------------------------------------------------------
# degenerate cases
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", [silhouette, davies_bouldin, calinski_harabasz])
def test_internal_scores_nan_for_one_cluster_or_singletons(score):
    X = np.arange(10.0).reshape(5, 2)
    assert math.isnan(score(X, np.zeros(5, dtype=int)))
    assert math.isnan(score(X, np.arange(5)))
    assert math.isnan(score(X[:1], [0]))


def test_silhouette_nan_when_subsample_has_one_cluster():
    X = np.arange(40.0).reshape(20, 2)
    labels = np.zeros(20, dtype=int)
    labels[0] = 1
    # a subsample of 2 out of 20 almost surely misses the one sample of cluster 1
    seeds = [s for s in range(20) if 0 not in np.random.RandomState(s).permutation(20)[:2]]
    assert math.isnan(silhouette(X, labels, sample_size=2, random_state=seeds[0]))


def test_duplicate_points_do_not_warn():
    X = np.zeros((6, 2))
    labels = [0, 0, 0, 1, 1, 1]
    assert silhouette(X, labels) == 0.0
    assert math.isfinite(davies_bouldin(X, labels))
    assert math.isfinite(calinski_harabasz(X, labels))


def test_n_clusters_used():
    labels = [0, 0, 0, 3, 7, 7, -1]
    assert n_clusters_used(labels) == 4
    assert n_clusters_used(labels, min_size=2) == 2
    assert n_clusters_used(labels, min_size=4) == 0


# ------------------------------------------------------------------------------------------
# clustering_scores
# ------------------------------------------------------------------------------------------


def test_clustering_scores_keys_types_and_json(blobs):
    X, y, pred = blobs
    scores = clustering_scores(X, pred, labels_true=y)
    assert list(scores) == [
        "acc",
        "nmi",
        "ari",
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "n_clusters_used",
    ]
    assert type(scores["n_clusters_used"]) is int
    assert all(type(v) is float for k, v in scores.items() if k != "n_clusters_used")
    assert scores["acc"] == cluster_accuracy(y, pred)
    assert json.loads(json.dumps(scores)) == scores

    unsupervised = clustering_scores(X, pred)
    assert set(unsupervised) == {"silhouette", "davies_bouldin", "calinski_harabasz"} | {
        "n_clusters_used"
    }


def test_clustering_scores_degenerate_single_cluster():
    X = np.random.default_rng(0).normal(size=(10, 3))
    scores = clustering_scores(X, np.zeros(10, dtype=int), labels_true=np.arange(10) % 2)
    assert scores["acc"] == 0.5
    assert scores["n_clusters_used"] == 1
    assert math.isnan(scores["silhouette"])


def test_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    X = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]], requires_grad=True)
    labels = torch.tensor([1, 1, 0, 0])
    assert clustering_scores(X, labels, labels)["acc"] == 1.0


# ------------------------------------------------------------------------------------------
# input errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [cluster_accuracy, nmi, ari])
def test_external_input_errors(fn):
    with pytest.raises(DataError, match="same number of samples"):
        fn([0, 1, 1], [0, 1])
    with pytest.raises(DataError, match="empty"):
        fn([], [])
    with pytest.raises(DataError, match="1-D"):
        fn([[0, 1]], [[0, 1]])
    with pytest.raises(DataError, match="NaN"):
        fn([0.0, np.nan], [0, 1])


@pytest.mark.parametrize("fn", [silhouette, davies_bouldin, calinski_harabasz, clustering_scores])
def test_internal_input_errors(fn):
    X = np.arange(12.0).reshape(6, 2)
    labels = [0, 0, 0, 1, 1, 1]
    with pytest.raises(DataError, match="2-D"):
        fn(np.arange(6.0), labels)
    with pytest.raises(DataError, match="NaN or infinite"):
        fn(np.where(X > 10, np.inf, X), labels)
    with pytest.raises(DataError, match="empty"):
        fn(np.empty((0, 2)), [])
    with pytest.raises(DataError, match="same number of samples"):
        fn(X, labels[:-1])
    with pytest.raises(DataError, match="numeric"):
        fn([["a", "b"]] * 6, labels)


def test_other_input_errors():
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(DataError, match="labels_true and labels_pred"):
        clustering_scores(X, [0, 0, 0, 1, 1, 1], labels_true=[0, 1])
    with pytest.raises(DataError, match="sample_size"):
        silhouette(X, [0, 0, 0, 1, 1, 1], sample_size=1)
    with pytest.raises(DataError, match="min_size"):
        n_clusters_used([0, 1], min_size=0)
    assert issubclass(DataError, ValueError)


# ------------------------------------------------------------------------------------------
# the rectangular (majority) accuracy and the site x label-set table
# ------------------------------------------------------------------------------------------


def test_majority_accuracy_by_hand():
    # clusters: 0 -> {a, a, b}, 1 -> {b, b}, 2 -> {a, c, c, c}; majorities 2 + 2 + 3 of 9
    y_true = ["a", "a", "b", "b", "b", "a", "c", "c", "c"]
    y_pred = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert majority_accuracy(y_true, y_pred) == pytest.approx(7 / 9)
    # one-to-one: 0 -> a (2), 1 -> b (2), 2 -> c (3): the same here
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(7 / 9)


def test_majority_accuracy_many_clusters_per_class_differs_from_hungarian():
    # 4 clusters, 2 classes: every cluster pure, so the rectangular match is perfect while a
    # one-to-one match can use only 2 clusters (3 + 2 of 8 samples)
    y_true = [0, 0, 0, 0, 1, 1, 1, 1]
    y_pred = [0, 0, 0, 1, 2, 2, 3, 3]
    assert majority_accuracy(y_true, y_pred) == 1.0
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(5 / 8)


def test_majority_accuracy_matches_brute_force(blobs):
    _, y, pred = blobs
    clusters, classes = np.unique(pred), np.unique(y)
    best = 0.0
    for mapping in itertools.product(classes, repeat=len(clusters)):  # every T x K assignment
        lookup = dict(zip(clusters, mapping))
        best = max(best, float(np.mean([lookup[p] == t for p, t in zip(pred, y)])))
    assert majority_accuracy(y, pred) == pytest.approx(best)
    assert majority_accuracy(y, pred) >= cluster_accuracy(y, pred)


def test_majority_accuracy_input_errors():
    with pytest.raises(DataError, match="same number of samples"):
        majority_accuracy([0, 1], [0, 1, 1])
    with pytest.raises(DataError, match="1-D"):
        majority_accuracy([[0, 1]], [[0, 1]])


def test_site_label_scores_by_hand():
    digit = np.array([0, 0, 1, 1, 2, 2])
    colour = np.array([0, 1, 0, 1, 0, 1])
    sites = {"y1": np.array([5, 5, 7, 7, 9, 9]), "y2": np.array([0, 1, 0, 1, 0, 0])}
    scores = site_label_scores(sites, {"digit": digit, "colour": colour})
    assert list(scores) == ["y1", "y2"]
    assert list(scores["y1"]) == ["digit", "colour"]
    assert scores["y1"]["digit"] == {"acc": 1.0, "acc_majority": 1.0, "nmi": 1.0, "ari": 1.0}
    # y1 vs colour: 3 clusters of one 0 and one 1 each; one-to-one: two clusters matched, 1
    # sample each; majority: 3 clusters each 1 of 2
    assert scores["y1"]["colour"]["acc"] == pytest.approx(2 / 6)
    assert scores["y1"]["colour"]["acc_majority"] == pytest.approx(3 / 6)
    # y2 vs colour: cluster 0 holds colours {0, 0, 0, 1}, cluster 1 holds {1, 1}
    assert scores["y2"]["colour"]["acc"] == pytest.approx(5 / 6)
    assert scores["y2"]["colour"]["nmi"] == pytest.approx(nmi(colour, sites["y2"]))
    assert scores["y2"]["colour"]["ari"] == pytest.approx(ari(colour, sites["y2"]))
    json.dumps(scores)


def test_site_label_scores_errors():
    with pytest.raises(DataError, match="at least one partition"):
        site_label_scores({}, {"a": [0, 1]})
    with pytest.raises(DataError, match="label set 'a'.*same number of samples"):
        site_label_scores({"y1": [0, 1, 1]}, {"a": [0, 1]})
