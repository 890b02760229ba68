"""Loaders of the named data sets, the :data:`DATASETS` registry and :func:`load_dataset`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from pyroclust.datasets import sources
from pyroclust.datasets.base import Dataset
from pyroclust.datasets.colored import colorize_dataset
from pyroclust.datasets.fetch import fetch_file
from pyroclust.datasets.formats import (
    USER_SUFFIXES,
    Header,
    IndexCol,
    read_idx,
    read_libsvm,
    read_pendigits,
    read_user_file,
)
from pyroclust.datasets.spelling import option
from pyroclust.datasets.svhn import load_svhn
from pyroclust.exceptions import DatasetError

Split = Literal["all", "train", "test"]
PathLike = str | os.PathLike[str]


class Loader(Protocol):
    """The signature every entry of :data:`DATASETS` has."""

    def __call__(
        self, data_dir: PathLike | None = None, *, download: bool = True, split: Split = "all"
    ) -> Dataset: ...


def _parts(split: str, name: str) -> tuple[str, ...]:
    """The parts (train, test) a split is made of, train first."""
    parts = {"all": ("train", "test"), "train": ("train",), "test": ("test",)}
    if split not in parts:
        raise DatasetError(f"{name}: split must be 'all', 'train' or 'test', got {split!r}.")
    return parts[split]


def _fetch(dataset: str, filename: str, data_dir: PathLike | None, download: bool) -> Path:
    """Look the file up in :data:`sources.SOURCES` at call time (tests patch the table)."""
    return fetch_file(sources.SOURCES[dataset][filename], dataset, data_dir, download=download)


def load_digits(
    data_dir: PathLike | None = None, *, download: bool = True, split: Split = "all"
) -> Dataset:
    """The 1,797 8x8 handwritten digits embedded in scikit-learn; no file is needed.

    Parameters
    ----------
    data_dir, download
        Ignored; accepted so every loader has the same signature.
    split : {"all"}
        The data set has no train/test split.

    Returns
    -------
    Dataset
        ``x`` of shape (1797, 64) with values in [0, 1] (pixel counts 0..16 divided by 16),
        ``y`` the digits 0..9, ``image_shape`` (8, 8), support ``"unit"``.
    """
    from sklearn.datasets import load_digits as _sklearn_digits

    if split != "all":
        raise DatasetError(f"digits has no {split!r} split; use split='all'.")
    bunch = _sklearn_digits()
    x = bunch.data.astype(np.float32) / np.float32(16)
    return Dataset(x=x, y=bunch.target, name="digits", image_shape=(8, 8), support="unit")


def _load_idx_pair(dataset: str, data_dir: PathLike | None, download: bool, split: str) -> Dataset:
    """MNIST-format data: images and labels of each part, train then test, scaled to [0, 1]."""
    prefixes = {"train": "train", "test": "t10k"}
    images, labels = [], []
    for part in _parts(split, dataset):
        image_file = _fetch(dataset, f"{prefixes[part]}-images-idx3-ubyte.gz", data_dir, download)
        label_file = _fetch(dataset, f"{prefixes[part]}-labels-idx1-ubyte.gz", data_dir, download)
        image, label = read_idx(image_file), read_idx(label_file)
        if image.ndim != 3 or image.dtype != np.uint8:
            raise DatasetError(
                f"{image_file}: expected uint8 images of shape (n, height, width), got "
                f"{image.dtype} of shape {image.shape}."
            )
        if label.ndim != 1 or len(label) != len(image):
            raise DatasetError(
                f"{label_file}: expected {len(image)} labels to match {image_file}, got shape "
                f"{label.shape}."
            )
        images.append(image)
        labels.append(label)
    image = np.concatenate(images) if len(images) > 1 else images[0]
    x = image.reshape(len(image), -1).astype(np.float32)
    x /= np.float32(255)
    y = np.concatenate(labels) if len(labels) > 1 else labels[0]
    shape = (int(image.shape[1]), int(image.shape[2]))
    return Dataset(x=x, y=y, name=dataset, image_shape=shape, support="unit")


def load_mnist(
    data_dir: PathLike | None = None, *, download: bool = True, split: Split = "all"
) -> Dataset:
    """MNIST (LeCun, Cortes & Burges): 70,000 handwritten digits of 28x28 pixels.

    Reads the four official IDX files ``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` from ``data_dir/mnist/`` (or ``data_dir``), verifying each
    one's sha256.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data directory; see :func:`load_dataset`.
    download : bool
        Download missing files from the official source.
    split : {"all", "train", "test"}
        ``"all"`` (the deep-clustering convention) is the 60,000 training images followed by
        the 10,000 test images.

    Returns
    -------
    Dataset
        ``x`` of shape (n_samples, 784) with values in [0, 1] (bytes divided by 255), ``y``
        the digits 0..9, ``image_shape`` (28, 28), support ``"unit"``.
    """
    return _load_idx_pair("mnist", data_dir, download, split)


def load_fashion_mnist(
    data_dir: PathLike | None = None, *, download: bool = True, split: Split = "all"
) -> Dataset:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 28x28 images of 10 garment types.

    Same IDX format and file names as MNIST, read from ``data_dir/fashion-mnist/`` (or
    ``data_dir``), each verified against the md5 published by Zalando Research.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data directory; see :func:`load_dataset`.
    download : bool
        Download missing files from the official source.
    split : {"all", "train", "test"}
        ``"all"`` is the 60,000 training images followed by the 10,000 test images.

    Returns
    -------
    Dataset
        ``x`` of shape (n_samples, 784) in [0, 1], ``y`` the classes 0..9,
        ``image_shape`` (28, 28), support ``"unit"``.
    """
    return _load_idx_pair("fashion-mnist", data_dir, download, split)


def load_pendigits(
    data_dir: PathLike | None = None, *, download: bool = True, split: Split = "all"
) -> Dataset:
    """UCI Pen-Based Recognition of Handwritten Digits (Alimoglu & Alpaydin): 10,992 samples.

    Each sample is 8 pen positions resampled from a written digit, i.e. 16 integers in
    0..100. Reads ``pendigits.tra`` (7,494 rows) and ``pendigits.tes`` (3,498 rows) from
    ``data_dir/pendigits/`` (or ``data_dir``), verifying each one's sha256.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data directory; see :func:`load_dataset`.
    download : bool
        Download missing files from the UCI repository.
    split : {"all", "train", "test"}
        ``"all"`` is the training rows followed by the test rows.

    Returns
    -------
    Dataset
        ``x`` of shape (n_samples, 16) with values in [0, 1] (divided by 100), ``y`` the
        digits 0..9, no image shape, support ``"unit"``.
    """
    files = {"train": "pendigits.tra", "test": "pendigits.tes"}
    xs, ys = [], []
    for part in _parts(split, "pendigits"):
        x, y = read_pendigits(_fetch("pendigits", files[part], data_dir, download))
        xs.append(x)
        ys.append(y)
    x = np.concatenate(xs).astype(np.float32) / np.float32(100)
    return Dataset(x=x, y=np.concatenate(ys), name="pendigits", support="unit")


def load_usps(
    data_dir: PathLike | None = None, *, download: bool = True, split: Split = "all"
) -> Dataset:
    """USPS handwritten digits (Hull, 1994): 9,298 grey-scale images of 16x16 pixels.

    Reads the LIBSVM copies torchvision uses, ``usps.bz2`` (7,291 rows) and ``usps.t.bz2``
    (2,007 rows), from ``data_dir/usps/`` (or ``data_dir``), verifying each one's md5.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data directory; see :func:`load_dataset`.
    download : bool
        Download missing files from the LIBSVM data page.
    split : {"all", "train", "test"}
        ``"all"`` is the training rows followed by the test rows.

    Returns
    -------
    Dataset
        ``x`` of shape (n_samples, 256) with values in [0, 1] (the file's [-1, 1] mapped by
        (v + 1) / 2), ``y`` the digits 0..9 (the file's labels 1..10 minus one),
        ``image_shape`` (16, 16), support ``"unit"``.
    """
    files = {"train": "usps.bz2", "test": "usps.t.bz2"}
    xs, ys = [], []
    for part in _parts(split, "usps"):
        path = _fetch("usps", files[part], data_dir, download)
        x, y = read_libsvm(path, n_features=256)
        if y.min() < 1 or y.max() > 10:
            raise DatasetError(f"{path}: USPS labels must lie in 1..10, got {y.min()}..{y.max()}.")
        xs.append(x)
        ys.append(y - 1)
    x = np.clip((np.concatenate(xs) + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)
    return Dataset(x=x, y=np.concatenate(ys), name="usps", image_shape=(16, 16), support="unit")


def load_colored_mnist(
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    split: Split = "all",
    seed: int = 0,
) -> Dataset:
    """Coloured MNIST, built from the MNIST files (see :func:`load_mnist`) with no download of
    its own: each digit gets a digit colour and a background colour drawn with ``seed``
    (:func:`pyroclust.datasets.colored.colorize`).

    Returns
    -------
    Dataset
        70,000 (``"all"``), 60,000 or 10,000 RGB images of shape (3, 28, 28), flattened;
        ``y`` the digit, ``labels`` the three partitions ``"digit"``, ``"digit_colour"``
        and ``"background_colour"``.
    """
    return colorize_dataset(load_mnist(data_dir, download=download, split=split), seed=seed)


#: Named data sets: canonical name -> loader. Add an entry to register a data set of your own.
DATASETS: dict[str, Loader] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "colored-mnist": load_colored_mnist,
    "fashion-mnist": load_fashion_mnist,
    "pendigits": load_pendigits,
    "usps": load_usps,
    "svhn": load_svhn,
}


def available_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts, sorted.

    Returns
    -------
    list of str
        The keys of :data:`DATASETS`.
    """
    return sorted(DATASETS)


def _key(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


def _find_loader(name: str) -> tuple[str, Callable[..., Dataset]] | None:
    key = _key(name)
    for canonical, loader in DATASETS.items():
        if _key(canonical) == key:
            return canonical, loader
    return None


def load_dataset(
    name_or_path: str | os.PathLike[str],
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    split: Split = "all",
    header: Header = "auto",
    index_col: IndexCol = None,
) -> Dataset:
    """Load a named data set or a user's file.

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`available_datasets` (case-insensitive; ``-``, ``_`` and spaces are
        ignored, so ``"Fashion_MNIST"`` works), or the path of a ``.npz``, ``.npy`` or ``.csv``
        file (see :func:`~pyroclust.datasets.formats.read_user_file`).
    data_dir : str or path-like, optional
        Where named data sets live, each in its own sub-folder (``data_dir/mnist/``); files
        placed directly in ``data_dir`` are found too. Defaults to the environment variable
        ``PYROCLUST_DATA`` if set, else ``~/.cache/pyroclust``.
    download : bool
        Download a missing file from its official source (to a temporary file, verified,
        then renamed into place). With ``False`` a missing file is an error.
    split : {"all", "train", "test"}
        For data sets with an official train/test split (and ``.npz`` files with
        ``x_train``/``x_test``); ``"all"`` is train followed by test.
    header : {"auto", True, False}
        For a ``.csv`` file: whether its first row names the columns. ``"auto"`` decides only
        unambiguous cases and refuses the others (see
        :func:`~pyroclust.datasets.formats.read_user_file`).
    index_col : int, str, False or None
        For a ``.csv`` file: the column (position or header name) holding row names, dropped;
        ``False`` for none; ``None`` detects (and drops) the 0..n-1 row index pandas'
        ``to_csv()`` writes under an empty header cell, and refuses other unnamed first
        columns.

    Returns
    -------
    Dataset
        Features of shape (n_samples, n_features) as float32, labels of shape (n_samples,)
        or ``None``, and the metadata a model needs to pick its likelihood.

    Raises
    ------
    DatasetError
        For an unknown name, a missing file that could not be downloaded, a file whose
        checksum is not the official one, or malformed contents.

    Examples
    --------
    >>> ds = load_dataset("digits")
    >>> ds.x.shape, ds.image_shape, ds.support
    ((1797, 64), (8, 8), 'unit')
    """
    text = os.fspath(name_or_path)
    found = None if isinstance(name_or_path, os.PathLike) else _find_loader(text)
    if found is not None:
        canonical, loader = found
        if header != "auto" or index_col is not None:
            raise DatasetError(
                f"{canonical}: {option('header')} and {option('index_col')} apply to .csv "
                "files only."
            )
        return loader(data_dir, download=download, split=split)
    path = Path(text).expanduser()
    if path.suffix.lower() in USER_SUFFIXES or path.exists() or os.sep in text or "/" in text:
        return read_user_file(path, split=split, header=header, index_col=index_col)
    raise DatasetError(
        f"unknown data set {text!r}. Known names: {', '.join(available_datasets())}; or give "
        f"the path of a {', '.join(USER_SUFFIXES)} file."
    )
