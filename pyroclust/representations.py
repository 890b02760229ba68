r"""Clustering learned representations: the VAE study of Agarap & Azcarraga, and its tools.

Agarap and Azcarraga (2020), "Improved Clustering Performance using Latent Data Representation
from Variational Autoencoder", train a VAE (latent size 10, 60 epochs, batches of 512) on the
MNIST and Fashion-MNIST training images, fit k-means (k-means++, k = 10, 500 iterations) on the
training set, apply it to the test images with Gaussian noise added, and compare three
representations of the test set -- the original pixels, the VAE's reconstructions and the latent
codes -- by the Davies-Bouldin index (DBI, lower is better), the silhouette score (SS, higher is
better) and the Calinski-Harabasz score (CHS, higher is better). The nightingale VaDE report's
baseline is the same VAE without its KL term (``beta = 0``), clustered by k-means over a sweep
of k and by DBSCAN.

* :class:`RepresentationClusterer` -- an estimator: fit a VAE or autoencoder by SVI, then cluster
  its codes post hoc (k-means, Gaussian mixture or DBSCAN), with ``predict`` for new data;
* :func:`representation_study` -- the whole protocol, returning a
  :class:`RepresentationStudy` (table of scores + the three test representations) and saving
  the table and the pictures when ``out`` is given;
* :func:`add_noise` -- the noise of the protocol (Gaussian, clipped to [0, 1] for image data).

Conventions (numbers chosen here, all documented and adjustable):

* **k-means** is :class:`~pyroclust.posthoc.PostHocClustering` ``("kmeans")``: k-means++,
  ``n_init=10``, ``max_iter=500``; fitted on the *training* representation, applied to the test
  one, as in the paper.
* **Silhouette** on more than ``sample_size`` (10,000) points uses a seeded random subsample of
  that size (:func:`pyroclust.metrics.silhouette`); DBI and CHS use every point. On the MNIST
  test set (10,000 images) the silhouette is therefore exact.
* **Noise**: ``x + noise_std * N(0, I)``, default ``noise_std = 0.1``, clipped to [0, 1] when the
  data are in [0, 1] (so a Bernoulli likelihood still applies). The paper adds Gaussian noise to
  the test images without a value we could verify; 0.1 is our choice.
* **t-SNE** (perplexity 50, capped at ``(m - 1) / 3``) is run on a seeded subsample of
  ``tsne_size`` (2,000) test points, the same points for every representation.
* **Voronoi diagram**: each representation is projected to 2-D by PCA (fitted on the training
  representation), k-means is fitted on the projected training points, and its regions are drawn
  with the projected test points on top.
* Data sets without an official split (digits, arrays) are split by a seeded, stratified
  :func:`sklearn.model_selection.train_test_split` with ``test_size`` (0.2).

Examples
--------
>>> from pyroclust.representations import representation_study
>>> study = representation_study("digits", epochs=1, hidden=(32,), tsne=False,
...                              n_train=300, n_test=100, progress=False)
>>> sorted(study.table), study.representations["latent"].shape
(['latent', 'original', 'reconstructed'], (100, 10))
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from pyroclust import zoo
from pyroclust.datasets import Dataset, load_dataset
from pyroclust.estimator import Clusterer
from pyroclust.exceptions import DataError, DatasetError
from pyroclust.infer.elbo import seed_everything
from pyroclust.infer.init import RandomInit
from pyroclust.metrics import clustering_scores
from pyroclust.models.vae import check_kl_weights
from pyroclust.posthoc import KSweepResult, PostHocClustering, dbscan_eps, k_sweep, plot_k_sweep

__all__ = [
    "REPRESENTATIONS",
    "SCORE_COLUMNS",
    "RepresentationClusterer",
    "RepresentationStudy",
    "add_noise",
    "format_table",
    "representation_study",
]

REPRESENTATIONS = ("original", "reconstructed", "latent")
"""The rows of the study's table: test pixels, their reconstructions, their latent codes."""

SCORE_COLUMNS = ("dbi", "silhouette", "chs", "acc", "nmi", "ari")
"""The columns of the study's table (the last three only when labels exist)."""

_FROM_METRICS = {
    "dbi": "davies_bouldin",
    "silhouette": "silhouette",
    "chs": "calinski_harabasz",
    "acc": "acc",
    "nmi": "nmi",
    "ari": "ari",
}
PathLike = str | os.PathLike


# --------------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------------


class RepresentationClusterer(ClusterMixin, TransformerMixin, BaseEstimator):
    """Fit a representation model by SVI, then cluster its latent codes post hoc.

    ``fit`` trains a deep copy of ``model``/``guide`` with :class:`~pyroclust.estimator.Clusterer`
    (random initialisation, the zoo's one SVI trainer) and fits
    :class:`~pyroclust.posthoc.PostHocClustering` on the codes ``E_q[z | x]`` of the training
    data; ``predict`` encodes new data and labels it with the fitted clusterer. With a
    :class:`~pyroclust.models.VAE` this is the baseline of Agarap & Azcarraga (2020) (k-means
    on VAE codes); with an :class:`~pyroclust.models.Autoencoder` and ``clusterer="gmm"`` it
    is "AE + GMM".

    Parameters
    ----------
    model, guide : PyroModule
        A pair without a cluster site, e.g. from ``zoo.make("vae", ...)`` or
        ``zoo.make("ae", ...)``.
    clusterer : {"kmeans", "gmm", "dbscan"} or object, default="kmeans"
        See :class:`~pyroclust.posthoc.PostHocClustering`.
    n_clusters : int, default=10
    epochs, batch_size, lr, device, progress
        Passed to :class:`~pyroclust.estimator.Clusterer`.
    random_state : int, optional
        Seeds the SVI run and the clusterer.
    clusterer_options : dict, optional
        Extra keyword options of the clusterer (e.g. ``{"eps": 0.5}`` for DBSCAN).

    Attributes
    ----------
    estimator_ : Clusterer
        The fitted representation (``estimator_.transform(X)`` gives the codes).
    posthoc_ : PostHocClustering
        The fitted clusterer of the codes.
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training row (``-1``: DBSCAN noise).
    n_clusters_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from pyroclust import zoo
    >>> X = np.random.default_rng(0).random((60, 16))
    >>> model, guide = zoo.make("vae", n_features=16, latent_dim=2, hidden=(8,))
    >>> rc = RepresentationClusterer(model, guide, n_clusters=3, epochs=1, progress=False,
    ...                              random_state=0).fit(X)
    >>> rc.labels_.shape, rc.transform(X).shape
    ((60,), (60, 2))
    """

    def __init__(
        self,
        model: Any,
        guide: Any,
        *,
        clusterer: str | Any = "kmeans",
        n_clusters: int = 10,
        epochs: int = 60,
        batch_size: int = 512,
        lr: float = 1e-3,
        device: str = "auto",
        random_state: int | None = None,
        progress: bool = True,
        clusterer_options: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.guide = guide
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.clusterer_options = clusterer_options

    def fit(self, X: ArrayLike, y: Any = None) -> RepresentationClusterer:
        """Fit the representation and the clusterer to ``X`` of shape (n_samples, n_features).

        ``y`` is ignored. Returns self.
        """
        check_kl_weights(self.model, self.guide)
        self.estimator_ = Clusterer(
            self.model,
            self.guide,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            init=RandomInit(),
            device=self.device,
            random_state=self.random_state,
            progress=self.progress,
        ).fit(X)
        self.posthoc_ = PostHocClustering(
            self.clusterer,
            n_clusters=self.n_clusters,
            random_state=self.random_state,
            **(self.clusterer_options or {}),
        ).fit(self.estimator_.transform(X))
        self.labels_ = self.posthoc_.labels_
        self.n_clusters_ = self.posthoc_.n_clusters_
        self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Cluster of each row of new data: ndarray of shape (n_samples,)."""
        check_is_fitted(self, "posthoc_")
        return self.posthoc_.predict(self.estimator_.transform(X))

    def fit_predict(self, X: ArrayLike, y: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X).labels_

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Latent codes E_q[z | x]: ndarray of shape (n_samples, latent_dim)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.transform(X)

    def reconstruct(self, X: ArrayLike) -> np.ndarray:
        """Reconstructions E[x | z = E_q[z | x]]: ndarray of shape (n_samples, n_features)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.reconstruct(X)


# --------------------------------------------------------------------------------------------
# the study
# --------------------------------------------------------------------------------------------


@dataclass
class RepresentationStudy:
    """What :func:`representation_study` returns.

    Attributes
    ----------
    table : dict
        ``table[representation][column]``: rows ``"original"``, ``"reconstructed"``,
        ``"latent"``; columns ``dbi``, ``silhouette``, ``chs`` and, with labels, ``acc``,
        ``nmi``, ``ari`` (floats, ``nan`` when undefined).
    representations : dict of ndarray
        The three test representations: ``"original"`` (the test input, noisy when
        ``noise_std > 0``) of shape (n_test, n_features), ``"reconstructed"`` of shape
        (n_test, n_features), ``"latent"`` of shape (n_test, latent_dim).
    labels : dict of ndarray
        k-means clusters of the test points in each representation, shape (n_test,).
    y_test : ndarray of shape (n_test,) or None
        True classes of the test points.
    x_test_clean : ndarray of shape (n_test, n_features)
        The test input before noise.
    estimator : Clusterer
        The fitted model (``estimator.transform``, ``estimator.reconstruct``).
    clusterers : dict of PostHocClustering
        The k-means of each representation, fitted on the training representation.
    settings : dict
        The study's arguments and data sizes (JSON-serialisable).
    fit_seconds : float
        Wall time of the SVI fit.
    k_sweep : KSweepResult or None
        k-means over ``k_sweep`` values on the test latent codes, when asked for.
    dbscan : dict or None
        DBSCAN on the test latent codes (``eps``, ``n_clusters``, ``noise_fraction`` and the
        scores), when asked for.
    files : list of str
        Files written under ``out``.
    """

    table: dict[str, dict[str, float]]
    representations: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    y_test: np.ndarray | None
    x_test_clean: np.ndarray
    estimator: Clusterer
    clusterers: dict[str, PostHocClustering]
    settings: dict[str, Any]
    fit_seconds: float
    k_sweep: KSweepResult | None = None
    dbscan: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """The table of scores as a markdown table."""
        return format_table(self.table)

    def to_dict(self) -> dict[str, Any]:
        """Table, settings, timing, DBSCAN and k-sweep results as JSON-serialisable values."""
        out: dict[str, Any] = {
            "table": self.table,
            "settings": self.settings,
            "fit_seconds": self.fit_seconds,
        }
        if self.dbscan is not None:
            out["dbscan"] = self.dbscan
        if self.k_sweep is not None:
            ks = self.k_sweep
            out["k_sweep"] = {"k": ks.ks, "inertia": ks.inertia, "silhouette": ks.silhouette}
        return out


def format_table(table: dict[str, dict[str, float]], *, digits: int = 4) -> str:
    """A markdown table of ``table[row][column]`` with the columns of :data:`SCORE_COLUMNS`.

    Columns absent from every row (no labels: ``acc``, ``nmi``, ``ari``) are left out.
    """
    cols = [c for c in SCORE_COLUMNS if any(c in row for row in table.values())]
    arrows = {"dbi": " (lower better)", "silhouette": " (higher)", "chs": " (higher)"}
    lines = [
        "| representation | " + " | ".join(c.upper() + arrows.get(c, "") for c in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name, row in table.items():
        cells = [_fmt(row.get(c, float("nan")), digits) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "nan"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def add_noise(
    x: ArrayLike, noise_std: float, *, clip: bool = True, random_state: int | None = 0
) -> np.ndarray:
    """``x + noise_std * N(0, I)``, clipped to [0, 1] when ``clip``: float32, shape of ``x``.

    ``noise_std = 0`` returns a copy of ``x``. Raises ``ValueError`` for a negative or
    non-finite ``noise_std``.
    """
    std = float(noise_std)
    if not (std >= 0.0 and math.isfinite(std)):
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
    arr = np.array(x, dtype=np.float32, copy=True)
    if std > 0:
        rng = np.random.default_rng(random_state)
        arr += (std * rng.standard_normal(arr.shape)).astype(np.float32)
        if clip:
            np.clip(arr, 0.0, 1.0, out=arr)
    return arr


def _as_dataset(data: Any, name: str) -> Dataset:
    if isinstance(data, Dataset):
        return data
    return Dataset(x=np.asarray(data), y=None, name=name)


def _train_test(
    data: Any,
    *,
    data_dir: PathLike | None,
    download: bool,
    test_size: float,
    random_state: int | None,
) -> tuple[Dataset, Dataset]:
    """(train, test): the official split when the data set has one, else a seeded split."""
    if isinstance(data, tuple) and len(data) == 2:
        return _as_dataset(data[0], "train"), _as_dataset(data[1], "test")
    if isinstance(data, (str, os.PathLike)):
        try:
            train = load_dataset(data, data_dir, download=download, split="train")
            test = load_dataset(data, data_dir, download=download, split="test")
            return train, test
        except DatasetError:  # no official split: load everything, split below
            data = load_dataset(data, data_dir, download=download, split="all")
    ds = _as_dataset(data, "data")
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(ds.x))
    stratify = ds.y if ds.y is not None and np.min(np.bincount(_codes_of(ds.y))) >= 2 else None
    tr, te = train_test_split(
        idx, test_size=test_size, random_state=random_state, stratify=stratify
    )

    def part(rows: np.ndarray, suffix: str) -> Dataset:
        y = None if ds.y is None else ds.y[rows]
        return Dataset(ds.x[rows], y, f"{ds.name}-{suffix}", ds.image_shape, ds.support)

    return part(tr, "train"), part(te, "test")


def _codes_of(y: np.ndarray) -> np.ndarray:
    return np.unique(y, return_inverse=True)[1]


def _subsample(ds: Dataset, n: int | None, seed: int | None) -> Dataset:
    if n is None or n >= len(ds.x):
        return ds
    if int(n) < 2:
        raise DataError(f"need at least 2 rows, got n={n}")
    rows = np.sort(np.random.default_rng(seed).permutation(len(ds.x))[: int(n)])
    y = None if ds.y is None else ds.y[rows]
    return Dataset(ds.x[rows], y, ds.name, ds.image_shape, ds.support)


def representation_study(
    data: str | os.PathLike | Dataset | tuple[Any, Any] | ArrayLike,
    *,
    data_dir: PathLike | None = None,
    download: bool = True,
    model: str = "vae",
    latent_dim: int = 10,
    beta: float = 1.0,
    hidden: Sequence[int] = (500, 500, 2000),
    epochs: int = 60,
    batch_size: int = 512,
    lr: float = 1e-3,
    n_clusters: int = 10,
    n_init: int = 10,
    noise_std: float = 0.1,
    sample_size: int | None = 10_000,
    tsne: bool = True,
    tsne_size: int = 2000,
    perplexity: float = 50.0,
    k_sweep_ks: Sequence[int] | None = None,
    dbscan: bool = False,
    test_size: float = 0.2,
    n_train: int | None = None,
    n_test: int | None = None,
    out: PathLike | None = None,
    device: str = "auto",
    random_state: int | None = 0,
    progress: bool = True,
) -> RepresentationStudy:
    """The representation study of Agarap & Azcarraga (2020), on any data set.

    1. Fit ``model`` (``"vae"``, ``"ae"`` or another zoo name without a cluster site) on the
       training set by SVI (``epochs``, ``batch_size``, ``lr``; random initialisation).
    2. Add Gaussian noise (``noise_std``) to the test set only (:func:`add_noise`).
    3. Build three representations of train (clean) and test (noisy): the pixels
       (``"original"``), the model's reconstructions E[x | z = E_q[z | x]]
       (``"reconstructed"``), the codes E_q[z | x] (``"latent"``).
    4. For each, fit k-means (k-means++, ``n_init``, 500 iterations, ``n_clusters``) on the
       training representation and label the test one; score DBI, silhouette (on at most
       ``sample_size`` points) and CHS on the test representation, and ACC, NMI, ARI
       against the test labels when there are labels.
    5. Optionally: a k-means sweep over ``k_sweep_ks`` and DBSCAN (``eps`` by
       :func:`~pyroclust.posthoc.dbscan_eps`, the knee of the 5-distance curve) on the test
       codes -- the nightingale report's baselines (with ``beta=0``).
    6. With ``out``, write ``scores.md``, ``scores.json``, ``scores.csv`` and the pictures
       (``tsne_2d.png``, ``tsne_3d.png``, ``voronoi.png``, ``noisy_vs_reconstructed.png`` for
       image data, ``k_sweep.png``).

    Parameters
    ----------
    data : str, path, Dataset, (train, test) pair or array of shape (n_samples, n_features)
        A name for :func:`~pyroclust.datasets.load_dataset` (its official train/test split
        when it has one, e.g. MNIST's 60,000/10,000), a data set, an explicit pair of data
        sets/arrays, or an array; without an official split a seeded stratified split with
        ``test_size`` is used.
    data_dir, download
        Passed to :func:`~pyroclust.datasets.load_dataset`.
    model : str
        A key of :data:`pyroclust.zoo.ZOO` without a cluster site: ``"vae"`` or ``"ae"``.
    latent_dim, beta, hidden
        The zoo builder's options (``beta`` only for ``"vae"``; ``beta=0`` is "VAE without
        KL").
    epochs, batch_size, lr : training (60, 512, 1e-3 as in the paper).
    n_clusters, n_init : k-means (k = 10 and 10 initialisations).
    noise_std : float
        Standard deviation of the test noise (0: none).
    sample_size : int or None
        Silhouette subsample size (None: all points).
    tsne, tsne_size, perplexity
        t-SNE pictures (2-D and 3-D) on ``tsne_size`` test points; only with ``out``.
    k_sweep_ks : sequence of int, optional
        Numbers of clusters of a k-means sweep on the test codes (e.g. up to 1,024).
    dbscan : bool
        Run DBSCAN on the test codes.
    test_size : float
        Test fraction of the seeded split (data without an official split).
    n_train, n_test : int, optional
        Use a seeded random subset of that many training / test rows (quick runs).
    out : path, optional
        Folder for the table and pictures (created); nothing is written without it.
    device, random_state, progress
        As for :class:`~pyroclust.estimator.Clusterer`.

    Returns
    -------
    RepresentationStudy
    """
    if model not in zoo.ZOO:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(zoo.ZOO)}")
    train, test = _train_test(
        data, data_dir=data_dir, download=download, test_size=test_size, random_state=random_state
    )
    train = _subsample(train, n_train, random_state)
    test = _subsample(test, n_test, None if random_state is None else random_state + 1)
    if train.x.shape[1] != test.x.shape[1]:
        raise DataError(
            f"train has {train.x.shape[1]} features but test has {test.x.shape[1]}; they must agree"
        )
    n_features = train.x.shape[1]
    unit = train.support == "unit" and test.support == "unit"
    options: dict[str, Any] = {
        "latent_dim": int(latent_dim),
        "likelihood": "bernoulli" if unit else "gaussian",
        "hidden": [int(h) for h in hidden],
    }
    if model == "vae":
        options["beta"] = float(beta)
    seed_everything(random_state)  # the networks' initial weights too: a repeatable study
    prototype, guide = zoo.make(model, n_features, **options)
    if getattr(prototype, "n_components", None) is not None:
        raise ValueError(f"{model!r} has a cluster site; the study is for representation models")

    start = time.perf_counter()
    est = Clusterer(
        prototype,
        guide,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        init=RandomInit(),
        device=device,
        random_state=random_state,
        progress=progress,
    ).fit(train.x)
    fit_seconds = time.perf_counter() - start

    noise_seed = None if random_state is None else random_state + 2
    x_test = add_noise(test.x, noise_std, clip=unit, random_state=noise_seed)
    train_reps = {
        "original": train.x,
        "reconstructed": est.reconstruct(train.x).astype(np.float32),
        "latent": est.transform(train.x).astype(np.float32),
    }
    test_reps = {
        "original": x_test,
        "reconstructed": est.reconstruct(x_test).astype(np.float32),
        "latent": est.transform(x_test).astype(np.float32),
    }
    table: dict[str, dict[str, float]] = {}
    labels: dict[str, np.ndarray] = {}
    clusterers: dict[str, PostHocClustering] = {}
    for name in REPRESENTATIONS:
        km = PostHocClustering(
            "kmeans", n_clusters=n_clusters, random_state=random_state, n_init=n_init
        ).fit(train_reps[name])
        pred = km.predict(test_reps[name])
        scores = clustering_scores(
            test_reps[name], pred, test.y, sample_size=sample_size, random_state=random_state
        )
        table[name] = {
            col: float(scores[key]) for col, key in _FROM_METRICS.items() if key in scores
        }
        labels[name], clusterers[name] = pred, km

    sweep = None
    if k_sweep_ks is not None:
        sweep = k_sweep(
            test_reps["latent"], ks=k_sweep_ks, sample_size=sample_size, random_state=random_state
        )
    db_result = None
    if dbscan:
        db_result = _dbscan_on(test_reps["latent"], test.y, sample_size, random_state)

    settings = {
        "data": data if isinstance(data, str) else getattr(data, "name", type(data).__name__),
        "model": model,
        **options,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "n_clusters": int(n_clusters),
        "n_init": int(n_init),
        "noise_std": float(noise_std),
        "sample_size": sample_size,
        "n_train": len(train.x),
        "n_test": len(test.x),
        "random_state": random_state,
    }
    study = RepresentationStudy(
        table=table,
        representations=test_reps,
        labels=labels,
        y_test=test.y,
        x_test_clean=test.x,
        estimator=est,
        clusterers=clusterers,
        settings=settings,
        fit_seconds=fit_seconds,
        k_sweep=sweep,
        dbscan=db_result,
    )
    if out is not None:
        study.files = _write_outputs(
            study,
            train_reps,
            Path(out),
            image_shape=test.image_shape,
            tsne=tsne,
            tsne_size=tsne_size,
            perplexity=perplexity,
            n_clusters=n_clusters,
            n_init=n_init,
            random_state=random_state,
        )
    return study


def _dbscan_on(
    codes: np.ndarray, y: np.ndarray | None, sample_size: int | None, random_state: int | None
) -> dict[str, Any]:
    """DBSCAN (min_samples 5, eps at the knee of the 5-distance curve) on the codes."""
    eps = dbscan_eps(codes, min_samples=5)
    db = PostHocClustering("dbscan", eps=eps, min_samples=5).fit(codes)
    scores = clustering_scores(codes, db.labels_, y, sample_size=sample_size, random_state=0)
    row = {col: float(scores[key]) for col, key in _FROM_METRICS.items() if key in scores}
    return {
        "eps": float(eps),
        "n_clusters": int(db.n_clusters_),
        "noise_fraction": float(np.mean(db.labels_ == -1)),
        **row,
    }


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------


def _cmap_for(n_labels: int) -> Any:
    return colormaps["tab10" if n_labels <= 10 else "tab20"]


def _colours(labels: np.ndarray) -> tuple[np.ndarray, Any, int]:
    codes = _codes_of(labels)
    n = int(codes.max()) + 1 if len(codes) else 1
    return codes, _cmap_for(n), n


def _tsne(rep: np.ndarray, dims: int, perplexity: float, random_state: int | None) -> np.ndarray:
    from sklearn.manifold import TSNE

    perp = float(min(perplexity, max(1.0, (len(rep) - 1) / 3 - 1e-6)))
    method = "exact" if len(rep) <= 500 else "barnes_hut"  # exact is much faster on small sets
    tsne = TSNE(
        n_components=dims, perplexity=perp, init="pca", method=method, random_state=random_state
    )
    return tsne.fit_transform(rep.astype(np.float64))


def _write_outputs(
    study: RepresentationStudy,
    train_reps: dict[str, np.ndarray],
    out: Path,
    *,
    image_shape: tuple[int, int] | None,
    tsne: bool,
    tsne_size: int,
    perplexity: float,
    n_clusters: int,
    n_init: int,
    random_state: int | None,
) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    files = []

    def keep(path: Path) -> None:
        files.append(str(path))

    md = out / "scores.md"
    md.write_text(study.to_markdown() + "\n")
    keep(md)
    js = out / "scores.json"
    js.write_text(json.dumps(study.to_dict(), indent=2, default=_json_default) + "\n")
    keep(js)
    csv = out / "scores.csv"
    cols = [c for c in SCORE_COLUMNS if any(c in r for r in study.table.values())]
    rows = ["representation," + ",".join(cols)]
    rows += [
        f"{n}," + ",".join(repr(r.get(c, float("nan"))) for c in cols)
        for n, r in study.table.items()
    ]
    csv.write_text("\n".join(rows) + "\n")
    keep(csv)

    n_test = len(study.x_test_clean)
    rng = np.random.default_rng(random_state)
    sub = np.sort(rng.permutation(n_test)[: min(int(tsne_size), n_test)])
    truth = study.y_test[sub] if study.y_test is not None else None
    if tsne and len(sub) >= 5:
        embeddings = {
            dims: {
                name: _tsne(study.representations[name][sub], dims, perplexity, random_state)
                for name in REPRESENTATIONS
            }
            for dims in (2, 3)
        }
        for dims in (2, 3):
            path = out / f"tsne_{dims}d.png"
            _plot_tsne(
                embeddings[dims], truth, {n: study.labels[n][sub] for n in REPRESENTATIONS}, dims
            ).savefig(path, dpi=90)
            keep(path)
    path = out / "voronoi.png"
    _plot_voronoi(study, train_reps, sub, n_clusters, n_init, random_state).savefig(path, dpi=90)
    keep(path)
    if image_shape is not None:
        from pyroclust.plots import plot_image_grid

        m = min(10, n_test)
        rows_img = []
        for start in range(0, 3 * m, m):
            idx = np.arange(start, min(start + m, n_test))
            if len(idx) == 0:
                break
            rows_img += [
                study.representations["original"][idx],
                study.representations["reconstructed"][idx],
            ]
        path = out / "noisy_vs_reconstructed.png"
        plot_image_grid(
            np.concatenate(rows_img),
            image_shape,
            path,
            n_cols=m,
            title="rows in pairs: noisy test input, then its reconstruction",
        )
        keep(path)
    if study.k_sweep is not None:
        path = out / "k_sweep.png"
        plot_k_sweep(study.k_sweep, path)
        keep(path)
    return files


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _plot_tsne(
    emb: dict[str, np.ndarray], truth: np.ndarray | None, clusters: dict[str, np.ndarray], dims: int
) -> Figure:
    colourings = ([("true class", truth)] if truth is not None else []) + [
        ("k-means cluster", None)
    ]
    fig = Figure(figsize=(4.2 * len(REPRESENTATIONS), 3.8 * len(colourings)), layout="constrained")
    kw = {"projection": "3d"} if dims == 3 else {}
    for r, (what, lab) in enumerate(colourings):
        for c, name in enumerate(REPRESENTATIONS):
            ax = fig.add_subplot(
                len(colourings), len(REPRESENTATIONS), r * len(REPRESENTATIONS) + c + 1, **kw
            )
            colour, cmap, n = _colours(lab if lab is not None else clusters[name])
            pts = emb[name]
            ax.scatter(
                *pts.T[:dims], c=colour, cmap=cmap, vmin=0, vmax=max(n - 1, 1), s=3, linewidths=0
            )
            ax.set_title(f"{name}: {what}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if dims == 3:
                ax.set_zticks([])
    fig.suptitle(f"t-SNE ({dims}-D) of {len(next(iter(emb.values())))} test points")
    return fig


def _plot_voronoi(
    study: RepresentationStudy,
    train_reps: dict[str, np.ndarray],
    sub: np.ndarray,
    n_clusters: int,
    n_init: int,
    random_state: int | None,
) -> Figure:
    """k-means regions on a 2-D PCA projection of each representation."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    fig = Figure(figsize=(4.4 * len(REPRESENTATIONS), 4.2), layout="constrained")
    axes = fig.subplots(1, len(REPRESENTATIONS))
    rng = np.random.default_rng(random_state)
    for ax, name in zip(axes, REPRESENTATIONS):
        tr = train_reps[name]
        tr = tr[rng.permutation(len(tr))[: min(len(tr), 10_000)]]
        pca = PCA(n_components=2, random_state=random_state).fit(tr)
        tr2 = pca.transform(tr)
        te2 = pca.transform(study.representations[name][sub])
        k = min(n_clusters, len(tr2))
        km = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(tr2)
        both = np.vstack([tr2, te2])
        lo, hi = both.min(0), both.max(0)
        pad = 0.05 * (hi - lo + 1e-9)
        gx, gy = np.meshgrid(
            np.linspace(lo[0] - pad[0], hi[0] + pad[0], 300),
            np.linspace(lo[1] - pad[1], hi[1] + pad[1], 300),
        )
        regions = km.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
        cmap = _cmap_for(k)
        ax.imshow(
            regions,
            origin="lower",
            cmap=cmap,
            vmin=0,
            vmax=max(k - 1, 1),
            alpha=0.25,
            extent=(gx.min(), gx.max(), gy.min(), gy.max()),
            aspect="auto",
            interpolation="nearest",
        )
        colour_by = study.y_test[sub] if study.y_test is not None else km.predict(te2)
        colour, pcmap, n = _colours(colour_by)
        ax.scatter(
            te2[:, 0],
            te2[:, 1],
            c=colour,
            cmap=pcmap,
            vmin=0,
            vmax=max(n - 1, 1),
            s=3,
            linewidths=0,
        )
        ax.scatter(*km.cluster_centers_.T, marker="x", c="black", s=40)
        ax.set_title(f"{name}: k-means regions (PCA 2-D)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "k-means Voronoi regions; points are test items coloured by "
        + ("true class" if study.y_test is not None else "cluster")
    )
    return fig


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


REPRESENTATIONS_EPILOG = """\
examples:
  pyroclust representations                           # digits, the paper's VAE and k-means
  pyroclust representations --data mnist --data-dir ~/data --out runs/representations
  pyroclust representations --data fashion-mnist --data-dir ~/data --noise-std 0.2
  pyroclust representations --beta 0 --k-sweep 10,20,50,100,200 --dbscan --out runs/no-kl

Fits a VAE (or an autoencoder, --model ae; --beta 0 drops the KL term) on the training set,
adds Gaussian noise to the test set only, clusters the three test representations (original
pixels, reconstructions, latent codes) with k-means fitted on the training ones, and prints the
table of DBI (lower is better), silhouette and CHS (higher is better), with ACC, NMI and ARI
when the data have labels. With --out: scores.md/.json/.csv, tsne_2d.png, tsne_3d.png,
voronoi.png, noisy_vs_reconstructed.png (images) and k_sweep.png (with --k-sweep).
"""


def _positive_int_list(text: str) -> str:
    """An argparse type: comma-separated positive integers, returned as given."""
    try:
        values = _int_list(text) or []
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 10,20,50, got {text!r}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``pyroclust representations`` to ``parser`` and return it.

    Every option has a help line with its default; values are checked while parsing, so a bad
    one is a usage error rather than a traceback.
    """
    from pyroclust.cli import number_type  # the CLI's one checked-number argparse type

    positive_int = number_type(int, 0, strict=True)
    non_negative_int = number_type(int, 0, strict=False)
    positive_float = number_type(float, 0.0, strict=True)
    non_negative_float = number_type(float, 0.0, strict=False)
    parser.description = (
        "The representation study of Agarap & Azcarraga (2020): cluster the original,\n"
        "reconstructed and latent representations of noisy test data."
    )
    parser.epilog = REPRESENTATIONS_EPILOG
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data", metavar="NAME|PATH", default="digits", help="data set name or file (digits)"
    )
    data.add_argument("--data-dir", metavar="DIR", help="folder of the named data sets")
    data.add_argument("--no-download", action="store_true", help="never download data")
    data.add_argument(
        "--n-train", metavar="N", type=positive_int, help="use N training rows (default: all)"
    )
    data.add_argument(
        "--n-test", metavar="N", type=positive_int, help="use N test rows (default: all)"
    )
    data.add_argument(
        "--noise-std",
        metavar="SD",
        type=non_negative_float,
        default=0.1,
        help="std of the Gaussian noise added to the test set, 0 for none (0.1)",
    )
    mdl = parser.add_argument_group("model and training")
    mdl.add_argument(
        "--model", default="vae", choices=["vae", "ae"], help="VAE or autoencoder (vae)"
    )
    mdl.add_argument(
        "--latent-dim", metavar="D", type=positive_int, default=10, help="latent size (10)"
    )
    mdl.add_argument(
        "--beta",
        metavar="B",
        type=non_negative_float,
        default=1.0,
        help="KL weight of the VAE, 0 for the no-KL variant (1)",
    )
    mdl.add_argument(
        "--hidden",
        metavar="W1,W2,..",
        type=_positive_int_list,
        default="500,500,2000",
        help="encoder layer widths, decoder mirrored (500,500,2000)",
    )
    mdl.add_argument(
        "--epochs", metavar="N", type=non_negative_int, default=60, help="SVI epochs (60)"
    )
    mdl.add_argument(
        "--batch-size", metavar="B", type=positive_int, default=512, help="mini-batch size (512)"
    )
    mdl.add_argument(
        "--lr", metavar="LR", type=positive_float, default=1e-3, help="Adam learning rate (1e-3)"
    )
    mdl.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to train (auto)"
    )
    clu = parser.add_argument_group("clustering and pictures")
    clu.add_argument(
        "--n-clusters", metavar="K", type=positive_int, default=10, help="k of k-means (10)"
    )
    clu.add_argument(
        "--n-init", metavar="N", type=positive_int, default=10, help="k-means restarts (10)"
    )
    clu.add_argument(
        "--sample-size",
        metavar="N",
        type=positive_int,
        default=10_000,
        help="silhouette on a seeded subsample of N points when there are more (10000)",
    )
    clu.add_argument("--no-tsne", action="store_true", help="skip the t-SNE pictures")
    clu.add_argument(
        "--tsne-size",
        metavar="N",
        type=positive_int,
        default=2000,
        help="t-SNE on a seeded subsample of N test points (2000)",
    )
    clu.add_argument(
        "--k-sweep",
        metavar="K1,K2,..",
        type=_positive_int_list,
        help="also sweep k-means over these k on the codes (silhouette, inertia, elbow plot)",
    )
    clu.add_argument(
        "--dbscan",
        action="store_true",
        help="also run DBSCAN on the codes (eps: knee of the 5-distance curve)",
    )
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="write the table and pictures there")
    run.add_argument("--seed", metavar="S", type=int, default=0, help="random seed (0)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _int_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    return [int(v) for v in str(text).replace(" ", "").split(",") if v]


def run_from_args(args: argparse.Namespace) -> RepresentationStudy:
    """Run :func:`representation_study` from parsed :func:`add_arguments` options; print the
    table (and DBSCAN's row and the files written)."""
    study = representation_study(
        args.data,
        data_dir=args.data_dir,
        download=not args.no_download,
        model=args.model,
        latent_dim=args.latent_dim,
        beta=args.beta,
        hidden=_int_list(args.hidden) or (),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        n_clusters=args.n_clusters,
        n_init=args.n_init,
        noise_std=args.noise_std,
        sample_size=args.sample_size,
        tsne=not args.no_tsne,
        tsne_size=args.tsne_size,
        k_sweep_ks=_int_list(args.k_sweep),
        dbscan=args.dbscan,
        n_train=args.n_train,
        n_test=args.n_test,
        out=args.out,
        device=args.device,
        random_state=args.seed,
        progress=not args.no_progress,
    )
    print(study.to_markdown())
    print(
        f"\nfit: {study.fit_seconds:.1f} s ({args.epochs} epochs, {study.settings['n_train']} rows)"
    )
    if study.dbscan is not None:
        print(f"DBSCAN on the codes: {json.dumps(study.dbscan)}")
    for path in study.files:
        print(f"wrote {path}")
    return study


def run(args: argparse.Namespace) -> int:
    """Cluster original / reconstructed / latent representations (Agarap & Azcarraga, 2020).

    The ``run`` of the ``pyroclust representations`` subcommand; returns the exit status 0.
    """
    run_from_args(args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pyroclust.representations``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m pyroclust.representations",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser = add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
