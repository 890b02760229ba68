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

* :func:`study_representations` -- the protocol on any fitted estimator with ``transform`` and
  ``reconstruct`` (a :class:`~pyroclust.estimator.Clusterer`, a
  :class:`~pyroclust.representations.RepresentationClusterer`...), returning a
  :class:`RepresentationStudy` (table of scores + the three test representations) and saving
  the table and the pictures (drawn by :mod:`pyroclust.plots`) when ``out`` is given;
* :func:`representation_study` -- the whole study from a data set name: split, fit a VAE or an
  autoencoder (:func:`~pyroclust.representations.fit_representation`), then
  :func:`study_representations`;
* :func:`add_noise` -- the noise of the protocol (Gaussian, clipped to [0, 1] for image data).

The command line ``pyroclust representations`` is :mod:`pyroclust.cli.representations`.

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
* **Data larger than memory**: the training and test sets may be on disk (a memory-mapped
  ``.npy``, ``np.load(path, mmap_mode="r")``, or an
  :class:`~pyroclust.datasets.streaming.ArrayStream` of shards). The representation is then
  fitted on the training rows streamed from disk (:class:`~pyroclust.estimator.Clusterer`
  reads them ``chunk_size`` rows at a time); the study keeps at most ``max_samples`` rows of
  each set (a seeded uniform subsample read from disk, or every row read chunk by chunk when
  ``max_samples`` is None), and the codes and reconstructions of every set, on disk or not,
  are computed ``chunk_size`` rows at a time, so the model's activations stay bounded too.

Examples
--------
>>> from pyroclust.representations import representation_study
>>> study = representation_study("digits", epochs=1, hidden=(32,), tsne=False,
...                              n_train=300, n_test=100, progress=False)
>>> sorted(study.table), study.representations["latent"].shape
(['latent', 'original', 'reconstructed'], (100, 10))
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pyroclust import plots, zoo
from pyroclust.datasets import Dataset, load_dataset, streaming
from pyroclust.exceptions import DataError, DatasetError
from pyroclust.infer.elbo import seed_everything
from pyroclust.metrics import clustering_scores
from pyroclust.posthoc import KSweepResult, PostHocClustering, dbscan_eps, k_sweep
from pyroclust.representations.clusterer import fit_representation

__all__ = [
    "REPRESENTATIONS",
    "SCORE_COLUMNS",
    "RepresentationStudy",
    "add_noise",
    "format_table",
    "representation_study",
    "study_representations",
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
    estimator : object
        The fitted model (``estimator.transform``, ``estimator.reconstruct``).
    clusterers : dict of PostHocClustering
        The k-means of each representation, fitted on the training representation.
    settings : dict
        The study's arguments and data sizes (JSON-serialisable).
    fit_seconds : float
        Wall time of the SVI fit (``nan`` when the estimator came fitted).
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
    estimator: Any
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


def _rows_on_disk(X: Any, n: int | None, seed: int | None) -> Any:
    """A set of a pair given on disk: as a stream, or the seeded random subset of ``n`` rows
    read into memory (the rows :func:`_subsample` keeps); a set in memory as float32."""
    if not streaming.is_streamed(X):
        return _subsample(_as_dataset(X, "set"), n, seed).x.astype(np.float32, copy=False)
    stream = streaming.as_stream(X)
    if n is None or n >= len(stream):
        return stream
    if int(n) < 2:
        raise DataError(f"need at least 2 rows, got n={n}")
    return stream.take(np.sort(np.random.default_rng(seed).permutation(len(stream))[: int(n)]))


def _in_unit_range(X: Any, chunk_size: int) -> bool:
    """Whether every value of ``X`` (on disk: read chunk by chunk) lies in [0, 1]."""
    chunks = streaming.iter_chunks(X, chunk_size) if streaming.is_streamed(X) else [X]
    return all(c.size and c.min() >= 0.0 and c.max() <= 1.0 for c in map(np.asarray, chunks))


def _subsample(ds: Dataset, n: int | None, seed: int | None) -> Dataset:
    if n is None or n >= len(ds.x):
        return ds
    if int(n) < 2:
        raise DataError(f"need at least 2 rows, got n={n}")
    rows = np.sort(np.random.default_rng(seed).permutation(len(ds.x))[: int(n)])
    y = None if ds.y is None else ds.y[rows]
    return Dataset(ds.x[rows], y, ds.name, ds.image_shape, ds.support)


def _study_rows(
    X: Any, max_samples: int | None, seed: int | None, chunk_size: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows of ``X`` the study keeps, as float32 (m, n_features), and their index (None:
    every row, in order): a sorted seeded subsample of ``max_samples`` rows when there are
    more. Rows on disk are read chunk by chunk, or only the subsample's."""
    n = len(X)
    subset = None
    if max_samples is not None and n > int(max_samples):
        if int(max_samples) < 2:
            raise DataError(f"max_samples must be at least 2, got {max_samples}")
        subset = np.sort(np.random.default_rng(seed).choice(n, int(max_samples), replace=False))
    if streaming.is_streamed(X):
        stream = streaming.as_stream(X)
        if subset is not None:
            return stream.take(subset), subset
        chunks = list(stream.chunks(chunk_size))
        return (np.concatenate(chunks) if chunks else np.empty((0, stream.n_features))), None
    x = np.asarray(X, dtype=np.float32)
    return (x if subset is None else x[subset]), subset


def _in_chunks(fn: Any, x: np.ndarray, chunk_size: int) -> np.ndarray:
    """``fn(x)`` computed ``chunk_size`` rows at a time, joined, as float32."""
    parts = [
        np.asarray(fn(x[start : start + chunk_size]), dtype=np.float32)
        for start in range(0, len(x), chunk_size)
    ]
    return np.concatenate(parts) if parts else np.asarray(fn(x), dtype=np.float32)


def study_representations(
    estimator: Any,
    x_train: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike | None = None,
    *,
    n_clusters: int = 10,
    n_init: int = 10,
    noise_std: float = 0.1,
    clip: bool | None = None,
    sample_size: int | None = 10_000,
    k_sweep_ks: Sequence[int] | None = None,
    dbscan: bool = False,
    out: PathLike | None = None,
    image_shape: Sequence[int] | None = None,
    tsne: bool = True,
    tsne_size: int = 2000,
    perplexity: float = 50.0,
    random_state: int | None = 0,
    fit_seconds: float = float("nan"),
    settings: dict[str, Any] | None = None,
    max_samples: int | None = None,
    chunk_size: int | None = None,
) -> RepresentationStudy:
    """The representation study of Agarap & Azcarraga (2020) on a fitted estimator.

    1. Add Gaussian noise (``noise_std``) to the test set only (:func:`add_noise`).
    2. Build three representations of train (clean) and test (noisy): the input
       (``"original"``), the estimator's reconstructions ``estimator.reconstruct(X)``
       (``"reconstructed"``), its codes ``estimator.transform(X)`` (``"latent"``).
    3. For each, fit k-means (k-means++, ``n_init``, 500 iterations, ``n_clusters``) on the
       training representation and label the test one; score DBI, silhouette (on at most
       ``sample_size`` points) and CHS on the test representation, and ACC, NMI, ARI
       against ``y_test`` when given.
    4. Optionally: a k-means sweep over ``k_sweep_ks`` and DBSCAN (``eps`` by
       :func:`~pyroclust.posthoc.dbscan_eps`, the knee of the 5-distance curve) on the test
       codes -- the nightingale report's baselines (with a VAE of ``beta=0``).
    5. With ``out``, write ``scores.md``, ``scores.json``, ``scores.csv`` and the pictures
       (``tsne_2d.png``, ``tsne_3d.png``, ``voronoi.png``, ``noisy_vs_reconstructed.png``
       with ``image_shape``, ``k_sweep.png``).

    Parameters
    ----------
    estimator : object
        Fitted, with ``transform(X)`` (codes of shape (n_samples, latent_dim)) and
        ``reconstruct(X)`` (shape (n_samples, n_features)): a
        :class:`~pyroclust.estimator.Clusterer` of any architecture, a
        :class:`~pyroclust.representations.RepresentationClusterer`...
    x_train : array-like of shape (n_train, n_features)
        The data k-means is fitted on (in each representation). May be on disk: a memory
        map or an :class:`~pyroclust.datasets.streaming.ArrayStream`, read in chunks.
    x_test : array-like of shape (n_test, n_features)
        The clean test data; the noise is added here. May be on disk too.
    y_test : array-like of shape (n_test,), optional
        True classes of the test rows (ACC, NMI, ARI).
    n_clusters, n_init : k-means (k = 10 and 10 initialisations).
    noise_std : float
        Standard deviation of the test noise (0: none).
    clip : bool, optional
        Clip the noisy data to [0, 1]; by default when both sets lie in [0, 1].
    sample_size : int or None
        Silhouette subsample size (None: all points).
    k_sweep_ks : sequence of int, optional
        Numbers of clusters of a k-means sweep on the test codes (e.g. up to 1,024).
    dbscan : bool
        Run DBSCAN on the test codes.
    out : path, optional
        Folder for the table and pictures (created); nothing is written without it.
    image_shape : (height, width), optional
        The rows are flattened images: also draw ``noisy_vs_reconstructed.png``.
    tsne, tsne_size, perplexity
        t-SNE pictures (2-D and 3-D) on ``tsne_size`` test points; only with ``out``.
    random_state : int or None
        Seeds k-means, the noise, the subsamples and the pictures.
    fit_seconds : float
        Wall time of the estimator's fit, reported in the study.
    settings : dict, optional
        How the estimator was made (JSON-serialisable), reported first in ``settings``.
    max_samples : int, optional
        Keep at most this many rows of each set (a seeded uniform subsample, the labels
        with the test rows): what bounds the study's memory on data larger than memory.
        None: every row.
    chunk_size : int, optional
        Rows read from disk, and given to ``estimator.reconstruct``/``transform``, at a time
        (:data:`~pyroclust.datasets.streaming.DEFAULT_CHUNK_SIZE`, 65,536, by default).

    Returns
    -------
    RepresentationStudy
    """
    chunk = streaming.DEFAULT_CHUNK_SIZE if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    seeds = (None, None) if random_state is None else (random_state + 3, random_state + 4)
    x_train, _ = _study_rows(x_train, max_samples, seeds[0], chunk)
    x_test_clean, test_rows = _study_rows(x_test, max_samples, seeds[1], chunk)
    if y_test is not None and test_rows is not None:
        y_test = np.asarray(y_test)[test_rows]
    if x_train.ndim != 2 or x_test_clean.ndim != 2 or x_train.shape[1] != x_test_clean.shape[1]:
        raise DataError(
            f"x_train {x_train.shape} and x_test {x_test_clean.shape} must be 2-D with the same "
            "number of features"
        )
    y = None if y_test is None else np.asarray(y_test)
    if clip is None:
        both = (x_train, x_test_clean)
        clip = all(a.size and a.min() >= 0.0 and a.max() <= 1.0 for a in both)
    noise_seed = None if random_state is None else random_state + 2
    x_noisy = add_noise(x_test_clean, noise_std, clip=bool(clip), random_state=noise_seed)
    train_reps = {
        "original": x_train,
        "reconstructed": _in_chunks(estimator.reconstruct, x_train, chunk),
        "latent": _in_chunks(estimator.transform, x_train, chunk),
    }
    test_reps = {
        "original": x_noisy,
        "reconstructed": _in_chunks(estimator.reconstruct, x_noisy, chunk),
        "latent": _in_chunks(estimator.transform, x_noisy, chunk),
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
            test_reps[name], pred, y, sample_size=sample_size, random_state=random_state
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
        db_result = _dbscan_on(test_reps["latent"], y, sample_size, random_state)

    study = RepresentationStudy(
        table=table,
        representations=test_reps,
        labels=labels,
        y_test=y,
        x_test_clean=x_test_clean,
        estimator=estimator,
        clusterers=clusterers,
        settings={
            **(settings or {}),
            "n_clusters": int(n_clusters),
            "n_init": int(n_init),
            "noise_std": float(noise_std),
            "sample_size": sample_size,
            "n_train": len(x_train),
            "n_test": len(x_test_clean),
            "max_samples": max_samples,
            "random_state": random_state,
        },
        fit_seconds=float(fit_seconds),
        k_sweep=sweep,
        dbscan=db_result,
    )
    if out is not None:
        study.files = _write_outputs(
            study,
            train_reps,
            Path(out),
            image_shape=None if image_shape is None else (int(image_shape[0]), int(image_shape[1])),
            tsne=tsne,
            tsne_size=tsne_size,
            perplexity=perplexity,
            n_clusters=n_clusters,
            n_init=n_init,
            random_state=random_state,
        )
    return study


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
    max_samples: int | None = None,
    chunk_size: int | None = None,
) -> RepresentationStudy:
    """The representation study of Agarap & Azcarraga (2020), from a data set to the table.

    Split the data, fit ``model`` (``"vae"``, ``"ae"`` or another zoo name without a cluster
    site) on the training set by SVI from its random start
    (:func:`~pyroclust.representations.fit_representation`: ``epochs``, ``batch_size``,
    ``lr``), then run :func:`study_representations` on the fitted model.

    Parameters
    ----------
    data : str, path, Dataset, (train, test) pair or array of shape (n_samples, n_features)
        A name for :func:`~pyroclust.datasets.load_dataset` (its official train/test split
        when it has one, e.g. MNIST's 60,000/10,000), a data set, an explicit pair of data
        sets/arrays, or an array; without an official split a seeded stratified split with
        ``test_size`` is used. Either set of a pair may be on disk (a memory map or an
        :class:`~pyroclust.datasets.streaming.ArrayStream`; no labels): the training set is
        then fitted chunk by chunk, never loaded whole (see the module's notes).
    data_dir, download
        Passed to :func:`~pyroclust.datasets.load_dataset`.
    model : str
        A key of :data:`pyroclust.zoo.ZOO` without a cluster site: ``"vae"`` or ``"ae"``.
    latent_dim, beta, hidden
        The zoo builder's options, each passed when the builder takes it (``beta``: the
        VAE's; ``beta=0`` is "VAE without KL").
    epochs, batch_size, lr : training (60, 512, 1e-3 as in the paper).
    n_clusters, n_init, noise_std, sample_size, tsne, tsne_size, perplexity, k_sweep_ks, dbscan
        See :func:`study_representations`.
    test_size : float
        Test fraction of the seeded split (data without an official split).
    n_train, n_test : int, optional
        Use a seeded random subset of that many training / test rows (quick runs).
    out : path, optional
        Folder for the table and pictures (created); nothing is written without it.
    device, random_state, progress
        As for :class:`~pyroclust.estimator.Clusterer`.
    max_samples, chunk_size
        See :func:`study_representations`; ``chunk_size`` is also the rows the fit reads from
        disk at a time.

    Returns
    -------
    RepresentationStudy
    """
    if model not in zoo.ZOO:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(zoo.ZOO)}")
    entry = zoo.ZOO[model]
    test_seed = None if random_state is None else random_state + 1
    if isinstance(data, tuple) and len(data) == 2 and any(map(streaming.is_streamed, data)):
        train_x = _rows_on_disk(data[0], n_train, random_state)
        test_x = _rows_on_disk(data[1], n_test, test_seed)
        test_y, image_shape = None, None
        chunk = streaming.DEFAULT_CHUNK_SIZE if chunk_size is None else int(chunk_size)
        unit = _in_unit_range(train_x, chunk) and _in_unit_range(test_x, chunk)
    else:
        train, test = _train_test(
            data,
            data_dir=data_dir,
            download=download,
            test_size=test_size,
            random_state=random_state,
        )
        train = _subsample(train, n_train, random_state)
        test = _subsample(test, n_test, test_seed)
        train_x, test_x, test_y, image_shape = train.x, test.x, test.y, test.image_shape
        unit = train.support == "unit" and test.support == "unit"
    if train_x.shape[1] != test_x.shape[1]:
        raise DataError(
            f"train has {train_x.shape[1]} features but test has {test_x.shape[1]}; they must agree"
        )
    given = {
        "latent_dim": int(latent_dim),
        "likelihood": "bernoulli" if unit else "gaussian",
        "hidden": [int(h) for h in hidden],
        "beta": float(beta),
    }
    options = {key: value for key, value in given.items() if entry.accepts(key)}
    seed_everything(random_state)  # the networks' initial weights too: a repeatable study
    prototype, guide = zoo.make(model, train_x.shape[1], **options)
    if getattr(prototype, "n_components", None) is not None:
        raise ValueError(f"{model!r} has a cluster site; the study is for representation models")

    start = time.perf_counter()
    est = fit_representation(
        prototype,
        guide,
        train_x,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
        random_state=random_state,
        progress=progress,
        chunk_size=chunk_size,
    )
    fit_seconds = time.perf_counter() - start
    settings = {
        "data": data if isinstance(data, str) else getattr(data, "name", type(data).__name__),
        "model": model,
        **options,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
    }
    return study_representations(
        est,
        train_x,
        test_x,
        test_y,
        n_clusters=n_clusters,
        n_init=n_init,
        noise_std=noise_std,
        clip=unit,
        sample_size=sample_size,
        k_sweep_ks=k_sweep_ks,
        dbscan=dbscan,
        out=out,
        image_shape=image_shape,
        tsne=tsne,
        tsne_size=tsne_size,
        perplexity=perplexity,
        random_state=random_state,
        fit_seconds=fit_seconds,
        settings=settings,
        max_samples=max_samples,
        chunk_size=chunk_size,
    )


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
        colourings: dict[str, Any] = {} if truth is None else {"true class": truth}
        colourings["k-means cluster"] = {n: study.labels[n][sub] for n in REPRESENTATIONS}
        for dims in (2, 3):
            path = out / f"tsne_{dims}d.png"
            plots.plot_embedding_panels(
                embeddings[dims],
                colourings,
                path,
                title=f"t-SNE ({dims}-D) of {len(sub)} test points",
            )
            keep(path)
    path = out / "voronoi.png"
    plots.plot_voronoi(
        train_reps,
        {name: study.representations[name][sub] for name in REPRESENTATIONS},
        n_clusters,
        path,
        colour_by=truth,
        n_init=n_init,
        random_state=random_state,
    )
    keep(path)
    if image_shape is not None:
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
        plots.plot_image_grid(
            np.concatenate(rows_img),
            image_shape,
            path,
            n_cols=m,
            title="rows in pairs: noisy test input, then its reconstruction",
        )
        keep(path)
    if study.k_sweep is not None:
        path = out / "k_sweep.png"
        plots.plot_k_sweep(study.k_sweep, path)
        keep(path)
    return files


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
