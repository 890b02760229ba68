"""Post-hoc clustering of learned representations.

The "representation + post-hoc clustering" baseline fits a generative model without a mixture prior
(a VAE or an autoencoder), encodes the data to latent codes, and clusters the codes with a classical
algorithm. Agarap and Azcarraga (2020), "Improved Clustering Performance using Latent Data
Representation from Variational Autoencoder", cluster VAE codes with k-means (k-means++
initialisation, 10 initialisations, 500 iterations); the nightingale VaDE report uses k-means and
DBSCAN on the codes as the baselines against VaDE.

Everything here works on numpy arrays of codes, so it is independent of any model. A fitted
pyroclust estimator (or any object with a ``transform(X)`` method that returns codes) may be passed
as ``representation`` and is then applied to the data first.

* :class:`PostHocClustering` -- a scikit-learn style estimator around k-means, a Gaussian mixture,
  DBSCAN, or any scikit-learn style clusterer object;
* :func:`dbscan_eps` -- a documented heuristic for DBSCAN's ``eps`` (the knee of the k-distance
  curve);
* :func:`k_sweep` -- internal scores of k-means over a grid of numbers of clusters (the elbow /
  silhouette figure is :func:`pyroclust.plots.plot_k_sweep`, also importable from here).

:class:`PostHocClustering` follows scikit-learn's estimator contract and passes
``sklearn.utils.estimator_checks.check_estimator`` (see ``tests/test_sklearn_checks.py``).

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import make_blobs
>>> from pyroclust.posthoc import PostHocClustering
>>> Z, y = make_blobs(n_samples=150, centers=3, random_state=0)
>>> model = PostHocClustering("kmeans", n_clusters=3, random_state=0).fit(Z)
>>> model.labels_.shape, model.n_clusters_
((150,), 3)
>>> bool(np.all(model.predict(Z) == model.labels_))
True
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import DBSCAN, KMeans, MiniBatchKMeans
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data

from pyroclust.exceptions import DataError
from pyroclust.metrics import (
    _as_data_matrix,
    _to_numpy,
    calinski_harabasz,
    davies_bouldin,
    silhouette,
)
from pyroclust.plots import plot_k_sweep  # re-exported: the figure lives in plots.py

__all__ = [
    "CLUSTERERS",
    "KSweepResult",
    "PostHocClustering",
    "dbscan_eps",
    "k_sweep",
    "plot_k_sweep",
]

NOISE = -1
"""Label given by DBSCAN (and by :meth:`PostHocClustering.predict` with DBSCAN) to noise."""


# --------------------------------------------------------------------------------------------
# the registry of named clusterers
# --------------------------------------------------------------------------------------------


def _check_n_clusters_fits(n_clusters: int, n_samples: int) -> None:
    if n_clusters > n_samples:
        raise DataError(
            f"n_clusters={n_clusters} is larger than the number of samples ({n_samples}); "
            "use at most n_samples clusters."
        )


def _make_kmeans(
    Z: np.ndarray, n_clusters: int, random_state: Any, options: dict[str, Any]
) -> KMeans:
    """k-means with the settings of Agarap and Azcarraga (2020): k-means++, 10 inits, 500 iters."""
    _check_n_clusters_fits(n_clusters, Z.shape[0])
    params = {"init": "k-means++", "n_init": 10, "max_iter": 500, **options}
    return KMeans(n_clusters=n_clusters, random_state=random_state, **params)


def _make_gmm(
    Z: np.ndarray, n_clusters: int, random_state: Any, options: dict[str, Any]
) -> GaussianMixture:
    """A full-covariance Gaussian mixture with ``n_clusters`` components."""
    _check_n_clusters_fits(n_clusters, Z.shape[0])
    return GaussianMixture(n_components=n_clusters, random_state=random_state, **options)


def _make_dbscan(
    Z: np.ndarray, n_clusters: int, random_state: Any, options: dict[str, Any]
) -> DBSCAN:
    """DBSCAN; ``n_clusters`` is ignored and ``eps`` defaults to :func:`dbscan_eps` of the codes."""
    params = {"min_samples": 5, "eps": "auto", **options}
    if isinstance(params["eps"], str) and params["eps"] == "auto":
        params["eps"] = dbscan_eps(Z, min_samples=params["min_samples"])
    return DBSCAN(**params)


ClustererFactory = Callable[[np.ndarray, int, Any, dict[str, Any]], Any]
"""``factory(codes, n_clusters, random_state, options) -> unfitted clusterer``."""

CLUSTERERS: dict[str, ClustererFactory] = {
    "kmeans": _make_kmeans,
    "gmm": _make_gmm,
    "dbscan": _make_dbscan,
}
"""Named clusterers of :class:`PostHocClustering`: name -> factory.

A factory receives the validated codes of shape (n_samples, n_features), ``n_clusters``,
``random_state`` and the extra keyword ``options`` of the estimator, and returns an unfitted
scikit-learn style clusterer. Add an entry to register a new name.
"""


# --------------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------------


class PostHocClustering(ClusterMixin, BaseEstimator):
    """Cluster learned representations (latent codes) with a classical algorithm.

    Parameters
    ----------
    clusterer : {"kmeans", "gmm", "dbscan"} or object, default="kmeans"
        A name from :data:`CLUSTERERS`, or an unfitted scikit-learn style clusterer (with
        ``fit_predict``, or ``fit`` and ``labels_``), which is cloned before fitting.

        * ``"kmeans"``: :class:`sklearn.cluster.KMeans` with k-means++ initialisation,
          ``n_init=10`` and ``max_iter=500``, as in Agarap and Azcarraga (2020);
        * ``"gmm"``: :class:`sklearn.mixture.GaussianMixture` with ``n_clusters`` components;
        * ``"dbscan"``: :class:`sklearn.cluster.DBSCAN` with ``min_samples=5`` and, unless
          ``eps`` is given in ``options``, ``eps`` from :func:`dbscan_eps` on the codes.
          ``n_clusters`` is ignored; the number of clusters is found from the data.
    representation : object with a ``transform`` method, optional
        Applied to ``X`` in :meth:`fit` and :meth:`predict`
        (``codes = representation.transform(X)``), e.g. a fitted pyroclust estimator or a fitted
        :class:`sklearn.decomposition.PCA`. It must already be fitted; it is not refitted. Without
        it, ``X`` are the codes; with it, only the codes are checked (2-D, finite).
    n_clusters : int, default=10
        Number of clusters of k-means and of components of the Gaussian mixture; at least 1 and
        at most the number of samples.
    random_state : int, RandomState or None, default=None
        Seed of k-means / the Gaussian mixture; for a clusterer object, set on it when it has a
        ``random_state`` parameter and this is not ``None``.
    **options
        Further keyword arguments of the clusterer (e.g. ``covariance_type="diag"`` for
        ``"gmm"``, ``eps=0.5`` for ``"dbscan"``); for a clusterer object they are applied with
        its ``set_params``.

    Attributes
    ----------
    clusterer_ : object
        The fitted clusterer.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample; ``-1`` marks DBSCAN noise.
    n_clusters_ : int
        Number of clusters of the fitted model: the number of centres (k-means) or components
        (mixture), or else the number of distinct labels other than ``-1`` (DBSCAN).
    n_features_in_ : int
        Dimension of the codes the clusterer was fitted on.

    Notes
    -----
    :meth:`predict` labels new data with the clusterer's own ``predict`` (k-means: nearest
    centre; Gaussian mixture: most probable component). DBSCAN has none; a new point gets the
    label of its nearest *core* sample if that lies within ``eps`` (the rule by which DBSCAN
    itself labels border points), and ``-1`` (noise) otherwise. On the training data this
    reproduces ``labels_`` for all core samples; a border point within ``eps`` of two clusters
    may get the other one.

    References
    ----------
    A. F. Agarap and A. P. Azcarraga, "Improved Clustering Performance using Latent Data
    Representation from Variational Autoencoder", 2020.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> Z, _ = make_blobs(n_samples=200, centers=4, cluster_std=0.5, random_state=1)
    >>> db = PostHocClustering("dbscan").fit(Z)
    >>> db.n_clusters_
    4
    >>> int(db.predict([[100.0, 100.0]])[0])
    -1
    """

    def __init__(
        self,
        clusterer: str | Any = "kmeans",
        representation: Any | None = None,
        n_clusters: int = 10,
        random_state: int | np.random.RandomState | None = None,
        **options: Any,
    ) -> None:
        self.clusterer = clusterer
        self.representation = representation
        self.n_clusters = n_clusters
        self.random_state = random_state
        self._options = options  # private: scikit-learn has no slot for **kwargs parameters

    @property
    def options(self) -> dict[str, Any]:
        """The clusterer's extra keyword options, as given (read-only; use ``set_params``)."""
        return self._options

    # scikit-learn's get_params ignores **kwargs; report and accept the options as parameters so
    # that clone(), grid searches and repr() see them.
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator, the clusterer ``options`` included."""
        params = super().get_params(deep=deep)
        params.update(getattr(self, "_options", {}))
        return params

    def set_params(self, **params: Any) -> PostHocClustering:
        """Set parameters; names that are not constructor arguments become clusterer options."""
        own = set(self._get_param_names())
        named = {k: v for k, v in params.items() if k.partition("__")[0] in own}
        self._options = {**self._options, **{k: v for k, v in params.items() if k not in named}}
        super().set_params(**named)
        return self

    # ----------------------------------------------------------------------------------------

    def _codes(self, X: ArrayLike, *, reset: bool) -> np.ndarray:
        """Validated codes of shape (n_samples, n_features): X, or representation.transform(X).

        ``n_features_in_`` is the width of the codes (see :func:`validate_input`). Subclasses
        that fit their own representation override this method.
        """
        if self.representation is None:
            return validate_input(self, X, reset=reset)
        if not callable(getattr(self.representation, "transform", None)):
            raise DataError(
                "representation must have a transform(X) method returning codes of shape "
                f"(n_samples, n_features); got an object of type "
                f"{type(self.representation).__name__}."
            )
        codes = _to_numpy(self.representation.transform(X))
        return validate_input(self, codes, reset=reset, name="representation(X)")

    def _check_n_clusters(self) -> None:
        if isinstance(self.n_clusters, bool) or not isinstance(self.n_clusters, (int, np.integer)):
            raise DataError(f"n_clusters must be an integer, got {self.n_clusters!r}.")
        if self.n_clusters < 1:
            raise DataError(f"n_clusters must be at least 1, got {self.n_clusters}.")

    def _fit_codes(self, Z: np.ndarray) -> None:
        """Fit the clusterer on validated codes ``Z``; set ``clusterer_``, ``labels_``,
        ``n_clusters_``."""
        clusterer = self._build_clusterer(Z)
        if callable(getattr(clusterer, "fit_predict", None)):
            labels = clusterer.fit_predict(Z)
        else:
            labels = clusterer.fit(Z).labels_
        self.clusterer_ = clusterer
        self.labels_ = np.asarray(labels)
        self.n_clusters_ = _count_clusters(clusterer, self.labels_)

    def _build_clusterer(self, Z: np.ndarray) -> Any:
        options = dict(self.options)
        if isinstance(self.clusterer, str):
            factory = CLUSTERERS.get(self.clusterer)
            if factory is None:
                raise DataError(
                    f"unknown clusterer {self.clusterer!r}; choose one of {sorted(CLUSTERERS)} "
                    "or pass a scikit-learn style clusterer object."
                )
            try:
                return factory(Z, self.n_clusters, self.random_state, options)
            except TypeError as err:
                raise DataError(f"invalid options for clusterer {self.clusterer!r}: {err}") from err
        obj = self.clusterer
        if not (callable(getattr(obj, "fit_predict", None)) or callable(getattr(obj, "fit", None))):
            raise DataError(
                "clusterer must be one of "
                f"{sorted(CLUSTERERS)} or an object with fit_predict or fit; got {obj!r}."
            )
        obj = clone(obj) if hasattr(obj, "get_params") else copy.deepcopy(obj)
        if self.random_state is not None and "random_state" in getattr(obj, "get_params", dict)():
            options.setdefault("random_state", self.random_state)
        if options:
            try:
                obj.set_params(**options)
            except (AttributeError, ValueError) as err:
                raise DataError(f"cannot apply options {options} to {obj!r}: {err}") from err
        return obj

    def fit(self, X: ArrayLike, y: None = None) -> PostHocClustering:
        """Cluster the codes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The codes, or, with ``representation``, whatever its ``transform`` accepts.
        y : None
            Ignored; present for scikit-learn compatibility.

        Returns
        -------
        self : PostHocClustering
            The fitted estimator.

        Raises
        ------
        DataError
            On non-2-D, empty or non-finite codes, an invalid ``n_clusters``, an unknown
            clusterer name or invalid options.
        """
        self._check_n_clusters()
        self._fit_codes(self._codes(X, reset=True))
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Cluster labels of new data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The codes, or, with ``representation``, whatever its ``transform`` accepts.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels; ``-1`` for DBSCAN noise (no core sample within ``eps``), see the Notes of the
            class.
        """
        check_is_fitted(self, "clusterer_")
        Z = self._codes(X, reset=False)
        c = self.clusterer_
        if callable(getattr(c, "predict", None)):
            return np.asarray(c.predict(Z))
        if all(hasattr(c, a) for a in ("core_sample_indices_", "components_", "eps")):
            return _predict_by_core_samples(c, Z)
        raise TypeError(
            f"{type(c).__name__} cannot label new data (it has no predict method and no core "
            "samples); use fit_predict on all the data instead."
        )

    def fit_predict(self, X: ArrayLike, y: None = None) -> np.ndarray:
        """Fit and return ``labels_``, the clusters of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The codes, or, with ``representation``, whatever its ``transform`` accepts.
        y : None
            Ignored.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.fit(X).labels_


def validate_input(estimator: BaseEstimator, X: Any, *, reset: bool, name: str = "X") -> np.ndarray:
    """``X`` checked by scikit-learn's ``validate_data``, as float64 of shape (n_samples,
    n_features).

    2-D, non-empty, numeric, finite and dense; ``reset=True`` (in ``fit``) records
    ``n_features_in_`` on ``estimator``, ``reset=False`` checks ``X`` against it. A
    ``ValueError`` becomes a :class:`~pyroclust.exceptions.DataError` whose message starts with
    what to do, followed by scikit-learn's; a ``TypeError`` (sparse data, non-numeric objects)
    is raised as scikit-learn raises it.
    """
    try:
        return validate_data(estimator, X, reset=reset, dtype=np.float64)
    except ValueError as err:
        raise DataError(_explain_invalid(str(err), name)) from err


def _explain_invalid(message: str, name: str) -> str:
    """scikit-learn's validation message, led by what was wrong in pyroclust's words."""
    if "Expected 2D array" in message or "Expected a 2-dimensional" in message:
        lead = (
            f"{name} must be a 2-D array of shape (n_samples, n_features); reshape a single "
            "feature with X.reshape(-1, 1). "
        )
    elif "0 sample(s)" in message or "0 feature(s)" in message:
        lead = f"{name} is empty; at least one sample and one feature are needed. "
    elif "NaN" in message or "infinity" in message:
        lead = f"{name} contains NaN or infinite values; remove or impute them first. "
    else:
        lead = ""
    return lead + message


def _count_clusters(clusterer: Any, labels: np.ndarray) -> int:
    for attr in ("cluster_centers_", "means_"):
        centres = getattr(clusterer, attr, None)
        if centres is not None:
            return int(np.shape(centres)[0])
    return int(np.unique(labels[labels != NOISE]).shape[0])


def _predict_by_core_samples(db: Any, Z: np.ndarray) -> np.ndarray:
    """Label of the nearest core sample within ``eps``, else -1 (see PostHocClustering)."""
    if db.metric == "precomputed":
        raise DataError("cannot label new data for DBSCAN with metric='precomputed'.")
    out = np.full(Z.shape[0], NOISE, dtype=np.asarray(db.labels_).dtype)
    if len(db.core_sample_indices_) == 0:
        return out
    nn_params: dict[str, Any] = {"metric": db.metric, "metric_params": db.metric_params}
    if getattr(db, "p", None) is not None:
        nn_params["p"] = db.p
    nn = NearestNeighbors(n_neighbors=1, **nn_params).fit(db.components_)
    dist, idx = nn.kneighbors(Z)
    core_labels = np.asarray(db.labels_)[db.core_sample_indices_]
    near = dist[:, 0] <= db.eps
    out[near] = core_labels[idx[near, 0]]
    return out


# --------------------------------------------------------------------------------------------
# DBSCAN's eps
# --------------------------------------------------------------------------------------------


def dbscan_eps(
    X: ArrayLike,
    min_samples: int = 5,
    *,
    method: str = "knee",
    quantile: float = 0.9,
) -> float:
    """A data-driven ``eps`` for DBSCAN: the knee of the sorted k-distance curve.

    For every sample, the k-distance is the distance to its ``min_samples``-th nearest neighbour,
    counting the sample itself as DBSCAN does (for ``min_samples=1``, the nearest other sample).
    With ``eps`` at least a sample's k-distance, that sample is a core sample. Sorted in
    increasing order, the k-distances of points inside clusters form a slowly rising plateau and
    those of sparse points (noise, cluster tails) a steep rise: ``eps`` is taken at the bend
    (Ester et al., 1996, sec. 4.2).

    * ``method="knee"`` finds the bend with the "kneedle" rule (Satopaa et al., 2011): both axes
      of the sorted curve are scaled to ``[0, 1]`` and the knee is the point farthest below the
      chord from the first to the last point, i.e. the maximiser of ``x - y``. If the curve has no
      such bend (it is flat, or lies less than 0.01 below the chord everywhere, or there are fewer
      than 3 samples), the ``quantile`` rule is used instead.
    * ``method="quantile"`` returns the ``quantile``-quantile of the k-distances, so that about
      a fraction ``quantile`` of the samples are core samples.

    The result is always positive: a zero (duplicated points) is raised to the smallest positive
    k-distance, or to ``1e-12`` if all the samples coincide.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The codes; at least 2 samples and at least ``min_samples``.
    min_samples : int, default=5
        DBSCAN's ``min_samples``, which should be the same as the value passed to DBSCAN.
    method : {"knee", "quantile"}, default="knee"
        How to pick ``eps`` on the curve.
    quantile : float in (0, 1], default=0.9
        Quantile of the ``"quantile"`` rule and of the fallback of ``"knee"``.

    Returns
    -------
    float
        A positive, finite ``eps``.

    References
    ----------
    M. Ester, H.-P. Kriegel, J. Sander and X. Xu, "A Density-Based Algorithm for Discovering
    Clusters in Large Spatial Databases with Noise", KDD 1996.
    V. Satopaa, J. Albrecht, D. Irwin and B. Raghavan, "Finding a 'Kneedle' in a Haystack:
    Detecting Knee Points in System Behavior", ICDCS Workshops 2011.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> Z, _ = make_blobs(n_samples=300, centers=[[0, 0], [10, 10]], random_state=0)
    >>> 0.0 < dbscan_eps(Z) < 5.0
    True
    """
    Z = _as_data_matrix(X)
    n = Z.shape[0]
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)):
        raise DataError(f"min_samples must be an integer, got {min_samples!r}.")
    if min_samples < 1:
        raise DataError(f"min_samples must be at least 1, got {min_samples}.")
    if n < 2 or min_samples > n:
        raise DataError(
            f"dbscan_eps needs at least max(2, min_samples) samples, got n_samples={n} "
            f"and min_samples={min_samples}."
        )
    if method not in ("knee", "quantile"):
        raise DataError(f"method must be 'knee' or 'quantile', got {method!r}.")
    if not 0.0 < quantile <= 1.0:
        raise DataError(f"quantile must be in (0, 1], got {quantile!r}.")

    k = max(int(min_samples), 2)
    dist, _ = NearestNeighbors(n_neighbors=k).fit(Z).kneighbors(Z)
    kdist = np.sort(dist[:, k - 1])

    eps = float(np.quantile(kdist, quantile))
    lo, hi = float(kdist[0]), float(kdist[-1])
    if method == "knee" and n >= 3 and hi - lo > 1e-12 * max(hi, 1.0):
        x = np.linspace(0.0, 1.0, n)
        gap = x - (kdist - lo) / (hi - lo)
        i = int(np.argmax(gap))
        if gap[i] >= 0.01:
            eps = float(kdist[i])

    if eps <= 0.0:
        positive = kdist[kdist > 0.0]
        eps = float(positive[0]) if positive.size else 1e-12
    return eps


# --------------------------------------------------------------------------------------------
# sweeping the number of clusters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KSweepResult:
    """Internal scores of k-means for each number of clusters; the result of :func:`k_sweep`.

    The lists ``ks``, ``inertia``, ``silhouette``, ``davies_bouldin`` and ``calinski_harabasz``
    are aligned: entry ``i`` belongs to ``ks[i]``.

    Attributes
    ----------
    ks : list of int
        Numbers of clusters that were fitted, increasing.
    inertia : list of float
        Within-cluster sum of squared distances to the centres, on all samples (elbow plot).
    silhouette : list of float
        Mean silhouette (higher is better), on a subsample; ``nan`` when undefined.
    davies_bouldin : list of float
        Davies-Bouldin index (lower is better); ``nan`` when undefined.
    calinski_harabasz : list of float
        Calinski-Harabasz index (higher is better); ``nan`` when undefined.
    algorithm : str
        ``"KMeans"`` or ``"MiniBatchKMeans"``.
    n_samples : int
        Number of samples clustered.
    skipped : list of int
        Requested numbers of clusters that were not fitted (``k >= n_samples``).
    notes : list of str
        Why each skipped ``k`` was skipped.
    """

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    davies_bouldin: list[float]
    calinski_harabasz: list[float]
    algorithm: str
    n_samples: int
    skipped: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, float | int]]:
        """One ``dict`` per ``k`` with keys k, inertia, silhouette, davies_bouldin,
        calinski_harabasz (JSON-serialisable, e.g. for a CSV writer)."""
        return [
            {"k": k, "inertia": i, "silhouette": s, "davies_bouldin": d, "calinski_harabasz": c}
            for k, i, s, d, c in zip(
                self.ks, self.inertia, self.silhouette, self.davies_bouldin, self.calinski_harabasz
            )
        ]

    def best_k(self, criterion: str = "silhouette") -> int:
        """The ``k`` with the best finite score of ``criterion``.

        Parameters
        ----------
        criterion : {"silhouette", "calinski_harabasz", "davies_bouldin"}, default="silhouette"
            Maximised, except ``davies_bouldin``, which is minimised.

        Returns
        -------
        int
        """
        signs = {"silhouette": 1.0, "calinski_harabasz": 1.0, "davies_bouldin": -1.0}
        if criterion not in signs:
            raise DataError(f"criterion must be one of {sorted(signs)}, got {criterion!r}.")
        values = signs[criterion] * np.asarray(getattr(self, criterion), dtype=np.float64)
        if not np.any(np.isfinite(values)):
            raise DataError(f"no k has a finite {criterion}; nothing to choose from.")
        return int(self.ks[int(np.nanargmax(np.where(np.isfinite(values), values, np.nan)))])


def k_sweep(
    X: ArrayLike,
    ks: Iterable[int] = (10, 20, 50, 100, 200, 500, 1024),
    *,
    sample_size: int | None = 10_000,
    random_state: int | None = 0,
    n_init: int = 3,
    minibatch_threshold: int = 20_000,
) -> KSweepResult:
    """Fit k-means for each number of clusters in ``ks`` and score the partitions.

    Used to choose the number of clusters of a post-hoc clustering, or to check how many
    components a representation supports, by the elbow of the inertia curve and the peak of the
    silhouette (see :func:`plot_k_sweep`).

    Each ``k`` is fitted with :class:`sklearn.cluster.KMeans` (k-means++, ``n_init``
    initialisations) when ``n_samples <= minibatch_threshold`` (default 20 000), and with
    :class:`sklearn.cluster.MiniBatchKMeans` (batches of ``max(2048, 2 k)`` samples, same
    ``n_init``) above it, which is much faster on large data at a small cost in inertia. Values of
    ``k`` with ``k >= n_samples`` are skipped and listed in ``skipped`` and ``notes``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The codes.
    ks : iterable of int, default=(10, 20, 50, 100, 200, 500, 1024)
        Numbers of clusters, each at least 1; duplicates are dropped and the order is made
        increasing.
    sample_size : int or None, default=10_000
        Subsample size of the silhouette, see :func:`pyroclust.metrics.silhouette`; the other
        scores use all samples.
    random_state : int or None, default=0
        Seed of k-means and of the silhouette subsample.
    n_init : int, default=3
        Number of k-means initialisations per ``k``.
    minibatch_threshold : int, default=20_000
        Above this many samples, MiniBatchKMeans is used.

    Returns
    -------
    KSweepResult

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> Z, _ = make_blobs(n_samples=300, centers=4, cluster_std=0.5, random_state=0)
    >>> result = k_sweep(Z, ks=(2, 3, 4, 6, 8))
    >>> result.best_k()
    4
    """
    Z = _as_data_matrix(X)
    n = Z.shape[0]
    try:
        ks_list = list(ks)
        requested = sorted({int(k) for k in ks_list})
        exact = all(int(k) == k for k in ks_list)
    except (TypeError, ValueError) as err:
        raise DataError(f"ks must be an iterable of integers, got {ks!r}.") from err
    if not requested or not exact or requested[0] < 1:
        raise DataError(f"ks must be a non-empty iterable of integers >= 1, got {ks!r}.")
    if int(n_init) != n_init or n_init < 1:
        raise DataError(f"n_init must be an integer >= 1, got {n_init!r}.")

    use_minibatch = n > minibatch_threshold
    fitted: list[int] = []
    skipped: list[int] = []
    notes: list[str] = []
    inertia: list[float] = []
    sil: list[float] = []
    dbi: list[float] = []
    chi: list[float] = []
    for k in requested:
        if k >= n:
            skipped.append(k)
            notes.append(f"k={k} skipped: k must be smaller than n_samples={n}.")
            continue
        if use_minibatch:
            km: KMeans | MiniBatchKMeans = MiniBatchKMeans(
                n_clusters=k,
                batch_size=max(2048, 2 * k),
                n_init=int(n_init),
                random_state=random_state,
            )
        else:
            km = KMeans(n_clusters=k, n_init=int(n_init), random_state=random_state)
        labels = km.fit_predict(Z)
        fitted.append(k)
        inertia.append(float(km.inertia_))
        sil.append(silhouette(Z, labels, sample_size=sample_size, random_state=random_state))
        dbi.append(davies_bouldin(Z, labels))
        chi.append(calinski_harabasz(Z, labels))
    return KSweepResult(
        ks=fitted,
        inertia=inertia,
        silhouette=sil,
        davies_bouldin=dbi,
        calinski_harabasz=chi,
        algorithm="MiniBatchKMeans" if use_minibatch else "KMeans",
        n_samples=n,
        skipped=skipped,
        notes=notes,
    )
