"""Clustering metrics: external (against true labels) and internal (geometry of a representation).

External scores compare a predicted partition with ground-truth classes:

* :func:`cluster_accuracy` -- unsupervised clustering accuracy (ACC) with the best one-to-one
  matching of clusters to classes, found by the Hungarian algorithm, as used by DEC (Xie et al.,
  2016), VaDE (Jiang et al., 2017) and most deep-clustering papers since;
* :func:`majority_accuracy` -- the rectangular ACC of VLAC (Willetts, Roberts and Holmes,
  2019, eq. 10): each cluster mapped to its majority class, so any number of clusters can
  be scored against any number of classes (also called cluster purity);
* :func:`nmi` and :func:`ari` -- normalised mutual information and adjusted Rand index, thin
  wrappers of scikit-learn that validate their input;
* :func:`site_label_scores` -- every partition (e.g. each cluster site of a model with
  several) against every reference partition (e.g. each label set of a data set).

Internal scores need only the data (typically latent codes) and the predicted labels:
:func:`silhouette`, :func:`davies_bouldin` and :func:`calinski_harabasz`. They are undefined for
fewer than two clusters or when every cluster is a singleton; there they return ``nan`` instead of
raising, so that a sweep over models or numbers of clusters never stops on a degenerate fit.

Labels may be any hashable values of one dtype (integers, strings, ...); a noise label such as
DBSCAN's ``-1`` is treated as one more cluster by every function here.

:func:`clustering_scores` gathers all of them in one JSON-serialisable ``dict``.

Examples
--------
>>> import numpy as np
>>> from pyroclust.metrics import cluster_accuracy, clustering_scores
>>> cluster_accuracy([0, 0, 1, 1], [5, 5, 3, 3])
1.0
>>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
>>> scores = clustering_scores(X, [1, 1, 0, 0], labels_true=[0, 0, 1, 1])
>>> scores["acc"], scores["n_clusters_used"]
(1.0, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as _skm
from sklearn.utils import check_random_state

from pyroclust.exceptions import DataError

__all__ = [
    "ari",
    "calinski_harabasz",
    "cluster_accuracy",
    "clustering_scores",
    "davies_bouldin",
    "majority_accuracy",
    "n_clusters_used",
    "nmi",
    "SITE_SCORE_KEYS",
    "silhouette",
    "site_label_scores",
]


# --------------------------------------------------------------------------------------------
# input validation (shared with pyroclust.posthoc)
# --------------------------------------------------------------------------------------------


def _to_numpy(a: Any) -> Any:
    """Turn a torch tensor (even one that requires grad, or on a GPU) into a numpy array."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        return a.detach().cpu().numpy()
    return a


def _as_labels(labels: ArrayLike, name: str = "labels") -> np.ndarray:
    """Validate a label vector: 1-D, non-empty, no NaN; return it as a numpy array."""
    arr = np.asarray(_to_numpy(labels))
    if arr.ndim != 1:
        raise DataError(
            f"{name} must be a 1-D array of shape (n_samples,), got an array of shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise DataError(f"{name} is empty; at least one sample is needed.")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or infinite values; labels must be finite.")
    if arr.dtype.kind == "O":
        raise DataError(
            f"{name} must have one numeric or string dtype, got an object array; "
            "convert it with np.asarray(labels, dtype=int) or dtype=str."
        )
    return arr


def _as_data_matrix(X: ArrayLike, name: str = "X") -> np.ndarray:
    """Validate a data matrix: 2-D, non-empty, numeric, finite; return it as float64."""
    try:
        arr = np.asarray(_to_numpy(X), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(
            f"{name} must be a numeric array, but it could not be read as one: {err}"
        ) from err
    if arr.ndim != 2:
        raise DataError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got an array of "
            f"shape {arr.shape}; reshape a single feature with X.reshape(-1, 1)."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {arr.shape}); at least one sample is needed.")
    if not np.all(np.isfinite(arr)):
        n_bad = int(np.sum(~np.all(np.isfinite(arr), axis=1)))
        raise DataError(
            f"{name} contains NaN or infinite values in {n_bad} of its {arr.shape[0]} rows; "
            "remove or impute them first."
        )
    return arr


def _check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise DataError(
            f"{name_a} and {name_b} must have the same number of samples, "
            f"got {a.shape[0]} and {b.shape[0]}."
        )


def _check_xy(X: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    Xa = _as_data_matrix(X)
    la = _as_labels(labels)
    _check_same_length(Xa, la, "X", "labels")
    return Xa, la


def _check_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = _as_labels(y_true, "y_true")
    p = _as_labels(y_pred, "y_pred")
    _check_same_length(t, p, "y_true", "y_pred")
    return t, p


def _is_degenerate(labels: np.ndarray) -> bool:
    """True when internal scores are undefined: fewer than 2 clusters, or only singletons."""
    n_labels = np.unique(labels).shape[0]
    return n_labels < 2 or n_labels > labels.shape[0] - 1


# --------------------------------------------------------------------------------------------
# external scores
# --------------------------------------------------------------------------------------------


def cluster_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Unsupervised clustering accuracy under the best one-to-one cluster-to-class matching.

    .. math::

        \mathrm{ACC} = \max_{m} \frac{1}{n} \sum_{i=1}^{n} \mathbf{1}\{y_i = m(\hat y_i)\},

    where :math:`m` ranges over one-to-one maps from clusters to classes. The maximising map is
    found with the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`) on the
    contingency matrix, as in DEC (Xie, Girshick and Farhadi, 2016) and VaDE (Jiang et al., 2017).

    When there are more clusters than classes, only as many clusters as there are classes are
    matched and the samples in the remaining clusters count as errors; with fewer clusters than
    classes, the unmatched classes count as errors. (A many-to-one matching, i.e. cluster purity,
    would instead reward splitting every class into many clusters.)

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth classes; any label values.
    y_pred : array-like of shape (n_samples,)
        Predicted clusters; any label values, and any number of distinct values.

    Returns
    -------
    float
        Accuracy in ``[0, 1]``.

    Raises
    ------
    DataError
        If the inputs are not 1-D, are empty, or differ in length.

    Examples
    --------
    Two classes split into three clusters: clusters ``0`` and ``2`` are matched to the classes and
    the one sample in cluster ``1`` is an error.

    >>> cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 2, 2, 2])
    0.8333333333333334
    """
    t, p = _check_pair(y_true, y_pred)
    counts = _contingency(t, p)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / t.shape[0])


def _contingency(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Counts of (cluster, class) pairs: int64 of shape (n_clusters, n_classes)."""
    _, t_idx = np.unique(t, return_inverse=True)
    _, p_idx = np.unique(p, return_inverse=True)
    counts = np.zeros((p_idx.max() + 1, t_idx.max() + 1), dtype=np.int64)
    np.add.at(counts, (p_idx.ravel(), t_idx.ravel()), 1)
    return counts


def majority_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    r"""Clustering accuracy under a rectangular (many-to-one) match: each cluster is mapped to
    its majority class.

    .. math::

        \mathrm{ACC}_{\mathrm{rect}} = \max_{P} \frac{1}{n} \sum_{i=1}^{n}
            \mathbf{1}\{t_i = P \hat y_i\}
          = \frac{1}{n} \sum_{k} \max_{c} n_{kc},

    where :math:`P` is a T x K rectangular assignment matrix attributing each cluster to one
    class (Willetts, Roberts and Holmes, 2019, eq. 10) and :math:`n_{kc}` counts the samples
    of cluster k in class c. The maximum decouples over clusters, so no matching algorithm
    is needed. Valid for any number K of clusters and T of classes; with K > T it rewards
    splitting classes (K = n gives 1), so report it beside the one-to-one
    :func:`cluster_accuracy`, which it never falls below.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth classes; any label values.
    y_pred : array-like of shape (n_samples,)
        Predicted clusters; any label values.

    Returns
    -------
    float
        Accuracy in ``[0, 1]``.

    Examples
    --------
    Two clusters of one class: both map to it.

    >>> majority_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    0.8333333333333334
    >>> majority_accuracy([0, 0, 1, 1], [0, 1, 2, 3])
    1.0
    """
    t, p = _check_pair(y_true, y_pred)
    return float(_contingency(t, p).max(axis=1).sum() / t.shape[0])


def nmi(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalised mutual information (arithmetic normalisation), in ``[0, 1]``.

    A validating wrapper of :func:`sklearn.metrics.normalized_mutual_info_score`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Ground-truth classes and predicted clusters; any label values.

    Returns
    -------
    float
    """
    t, p = _check_pair(y_true, y_pred)
    return float(_skm.normalized_mutual_info_score(t, p))


def ari(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Adjusted Rand index: 1 for identical partitions, about 0 for random ones.

    A validating wrapper of :func:`sklearn.metrics.adjusted_rand_score`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Ground-truth classes and predicted clusters; any label values.

    Returns
    -------
    float
    """
    t, p = _check_pair(y_true, y_pred)
    return float(_skm.adjusted_rand_score(t, p))


# --------------------------------------------------------------------------------------------
# internal scores
# --------------------------------------------------------------------------------------------


def silhouette(
    X: ArrayLike,
    labels: ArrayLike,
    sample_size: int | None = 10_000,
    random_state: int | np.random.RandomState | None = 0,
) -> float:
    """Mean silhouette coefficient, in ``[-1, 1]`` (higher is better).

    Computing it costs time and memory quadratic in the number of samples, so when
    ``n_samples > sample_size`` it is computed on ``sample_size`` samples drawn without
    replacement (a random permutation from ``random_state``), which makes the result
    reproducible for a fixed ``random_state``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data, e.g. latent codes.
    labels : array-like of shape (n_samples,)
        Cluster labels.
    sample_size : int or None, default=10_000
        Largest number of samples used; ``None`` uses all of them.
    random_state : int, RandomState or None, default=0
        Seed of the subsample.

    Returns
    -------
    float
        The score, or ``nan`` (no error, no warning) when it is undefined: fewer than two
        clusters, or every cluster a singleton, in the (sub)sample.

    Raises
    ------
    DataError
        On invalid ``X`` or ``labels`` or a ``sample_size`` below 2.
    """
    Xa, la = _check_xy(X, labels)
    if sample_size is not None:
        if int(sample_size) != sample_size or sample_size < 2:
            raise DataError(f"sample_size must be an integer >= 2 or None, got {sample_size!r}.")
        if Xa.shape[0] > sample_size:
            rng = check_random_state(random_state)
            idx = rng.permutation(Xa.shape[0])[: int(sample_size)]
            Xa, la = Xa[idx], la[idx]
    if _is_degenerate(la):
        return float("nan")
    return float(_skm.silhouette_score(Xa, la))


def davies_bouldin(X: ArrayLike, labels: ArrayLike) -> float:
    """Davies-Bouldin index, ``>= 0`` (lower is better).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data, e.g. latent codes.
    labels : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    float
        The index, or ``nan`` when fewer than two clusters or only singletons.
    """
    Xa, la = _check_xy(X, labels)
    if _is_degenerate(la):
        return float("nan")
    return float(_skm.davies_bouldin_score(Xa, la))


def calinski_harabasz(X: ArrayLike, labels: ArrayLike) -> float:
    """Calinski-Harabasz index (variance ratio criterion), ``>= 0`` (higher is better).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data, e.g. latent codes.
    labels : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    float
        The index, or ``nan`` when fewer than two clusters or only singletons.
    """
    Xa, la = _check_xy(X, labels)
    if _is_degenerate(la):
        return float("nan")
    return float(_skm.calinski_harabasz_score(Xa, la))


def n_clusters_used(labels: ArrayLike, min_size: int = 1) -> int:
    """Number of distinct labels held by at least ``min_size`` samples.

    Useful for models with many components of which only some are used (e.g. a VaDE with 50
    components fitted to 10 classes). A noise label such as ``-1`` counts like any other label.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Cluster labels.
    min_size : int, default=1
        Smallest cluster size that counts.

    Returns
    -------
    int

    Examples
    --------
    >>> n_clusters_used([0, 0, 0, 3, 7, 7], min_size=2)
    2
    """
    la = _as_labels(labels)
    if int(min_size) != min_size or min_size < 1:
        raise DataError(f"min_size must be an integer >= 1, got {min_size!r}.")
    _, counts = np.unique(la, return_counts=True)
    return int(np.sum(counts >= min_size))


def clustering_scores(
    X: ArrayLike,
    labels_pred: ArrayLike,
    labels_true: ArrayLike | None = None,
    *,
    sample_size: int | None = 10_000,
    random_state: int | np.random.RandomState | None = 0,
) -> dict[str, float | int]:
    """All the scores of this module at once, as plain Python numbers.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data the clusters live in, e.g. latent codes.
    labels_pred : array-like of shape (n_samples,)
        Predicted clusters.
    labels_true : array-like of shape (n_samples,), optional
        Ground-truth classes; when given, ``acc``, ``nmi`` and ``ari`` are included.
    sample_size : int or None, default=10_000
        Subsample size of the silhouette; see :func:`silhouette`.
    random_state : int, RandomState or None, default=0
        Seed of the silhouette subsample.

    Returns
    -------
    dict
        Keys ``acc``, ``nmi``, ``ari`` (only with ``labels_true``), ``silhouette``,
        ``davies_bouldin``, ``calinski_harabasz`` (floats, ``nan`` when undefined) and
        ``n_clusters_used`` (int). Serialisable with :func:`json.dumps`.
    """
    Xa, lp = _check_xy(X, labels_pred)
    scores: dict[str, float | int] = {}
    if labels_true is not None:
        lt = _as_labels(labels_true, "labels_true")
        _check_same_length(lt, lp, "labels_true", "labels_pred")
        scores["acc"] = cluster_accuracy(lt, lp)
        scores["nmi"] = nmi(lt, lp)
        scores["ari"] = ari(lt, lp)
    scores["silhouette"] = silhouette(Xa, lp, sample_size=sample_size, random_state=random_state)
    scores["davies_bouldin"] = davies_bouldin(Xa, lp)
    scores["calinski_harabasz"] = calinski_harabasz(Xa, lp)
    scores["n_clusters_used"] = n_clusters_used(lp)
    return scores


#: The scores :func:`site_label_scores` gives for each (partition, label set) pair.
SITE_SCORE_KEYS = ("acc", "acc_majority", "nmi", "ari")


def site_label_scores(
    predictions: Mapping[str, ArrayLike], label_sets: Mapping[str, ArrayLike]
) -> dict[str, dict[str, dict[str, float]]]:
    """Score every predicted partition against every reference partition.

    Meant for models with several cluster sites (VLAC's ``y1``, ``y2``, ...) and data sets with
    several known partitions (coloured MNIST's digit, digit colour and background colour):
    which layer clusters which attribute.

    Parameters
    ----------
    predictions : dict of str to array-like of shape (n_samples,)
        Partition name (e.g. a cluster site) -> predicted clusters.
    label_sets : dict of str to array-like of shape (n_samples,)
        Label-set name -> reference classes, for the same rows.

    Returns
    -------
    dict
        ``scores[partition][label_set]`` is a dict with ``"acc"`` (one-to-one Hungarian,
        :func:`cluster_accuracy`), ``"acc_majority"`` (each cluster to its majority class,
        :func:`majority_accuracy`), ``"nmi"`` and ``"ari"``, as floats; serialisable with
        :func:`json.dumps`.

    Raises
    ------
    DataError
        If either mapping is empty, or any vector is invalid or of another length.

    Examples
    --------
    >>> s = site_label_scores({"y1": [0, 0, 1, 1]}, {"a": [1, 1, 0, 0], "b": [0, 1, 0, 1]})
    >>> s["y1"]["a"]["acc"], s["y1"]["b"]["acc"]
    (1.0, 0.5)
    """
    if not predictions or not label_sets:
        raise DataError("site_label_scores needs at least one partition and one label set.")
    truth = {
        str(name): _as_labels(labels, f"label set {name!r}") for name, labels in label_sets.items()
    }
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for site, labels in predictions.items():
        pred = _as_labels(labels, f"partition {site!r}")
        row: dict[str, dict[str, float]] = {}
        for name, t in truth.items():
            _check_same_length(t, pred, f"label set {name!r}", f"partition {site!r}")
            row[name] = {
                "acc": cluster_accuracy(t, pred),
                "acc_majority": majority_accuracy(t, pred),
                "nmi": nmi(t, pred),
                "ari": ari(t, pred),
            }
        scores[str(site)] = row
    return scores
