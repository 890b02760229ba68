"""SVHN (Netzer et al., 2011, "Reading Digits in Natural Images with Unsupervised Feature
Learning"): 32x32 colour crops of house numbers, read from the official ``.mat`` files.

The files (``train_32x32.mat``, 73,257 digits; ``test_32x32.mat``, 26,032; ``extra_32x32.mat``,
531,131) come from http://ufldl.stanford.edu/housenumbers/. Each holds ``X`` of shape
(32, 32, 3, n), uint8 pixels, and ``y`` of shape (n, 1) with labels 1..10, where 10 stands for
the digit 0. Official files are verified against their published md5 (the values torchvision
lists in ``SVHN.split_list``) before they are read; :func:`read_svhn_mat` reads a file of
one's own (a subset, a copy converted elsewhere) with no checksum unless one is given.

SVHN is the data set of VLAC (Willetts, Roberts & Holmes, 2019): ``load_dataset("svhn",
data_dir)`` gives its set-up, the digit as ``y``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from pyroclust.datasets.base import Dataset
from pyroclust.datasets.fetch import fetch_file, verify_checksum
from pyroclust.datasets.sources import RemoteFile
from pyroclust.exceptions import DatasetError
from pyroclust.validation import one_line

PathLike = str | os.PathLike[str]

_BASE = "http://ufldl.stanford.edu/housenumbers/"

#: The official files by part, with their published md5 (looked up at call time: tests
#: patch this table).
SVHN_SOURCES: dict[str, RemoteFile] = {
    part: RemoteFile(name, (_BASE + name,), f"md5:{md5}")
    for part, name, md5 in (
        ("train", "train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
        ("test", "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
        ("extra", "extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7"),
    )
}

#: The parts each split is made of, in order.
SPLITS = {"all": ("train", "test"), "train": ("train",), "test": ("test",)}


def read_svhn_mat(path: PathLike, *, checksum: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read one SVHN ``.mat`` file (the official layout).

    Parameters
    ----------
    path : str or path-like
        A file holding ``X`` of shape (H, W, 3, n) with pixels 0..255 and ``y`` of shape
        (n, 1) or (n,) with labels 1..10 (10 for the digit 0).
    checksum : str, optional
        ``"md5:<hex>"`` or ``"sha256:<hex>"`` to verify first; none for a file of one's own.

    Returns
    -------
    x : np.ndarray of shape (n, 3 * H * W), float32 in [0, 1]
        Each image flattened channels first, the layout :class:`~pyroclust.nn.ConvEncoder`
        reads.
    y : np.ndarray of shape (n,), int64
        The digits 0..9.

    Raises
    ------
    DatasetError
        If the checksum differs, or the file is not a MATLAB file of that layout (one line
        saying what is wrong).
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    path = Path(path)
    if checksum is not None:
        verify_checksum(path, checksum)
    try:
        contents = loadmat(path)
    except (MatReadError, OSError, ValueError, TypeError, NotImplementedError) as err:
        raise DatasetError(f"{path}: not a readable MATLAB .mat file ({one_line(err)}).") from err
    if "X" not in contents or "y" not in contents:
        raise DatasetError(f"{path}: an SVHN file holds the arrays X and y; this one does not.")
    images, labels = np.asarray(contents["X"]), np.asarray(contents["y"])
    if images.ndim != 4 or images.shape[2] != 3:
        raise DatasetError(
            f"{path}: X must have shape (height, width, 3, n_images), got {images.shape}."
        )
    labels = labels.reshape(-1)
    if len(labels) != images.shape[3]:
        raise DatasetError(f"{path}: y has {len(labels)} labels for {images.shape[3]} images.")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DatasetError(
            f"{path}: SVHN labels must lie in 1..10, got {labels.min()}..{labels.max()}."
        )
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DatasetError(f"{path}: pixels must lie in 0..255.")
    x = images.transpose(3, 2, 0, 1).reshape(images.shape[3], -1)  # (n, 3, H, W), flattened
    y = np.where(labels == 10, 0, labels).astype(np.int64)
    return (x.astype(np.float32) / np.float32(255)), y


def load_svhn(
    data_dir: PathLike | None = None,
    *,
    download: bool = True,
    split: Literal["all", "train", "test"] = "all",
    extra: bool = False,
) -> Dataset:
    """SVHN from its official ``.mat`` files in ``data_dir/svhn/`` (or ``data_dir``), each
    verified against its published md5; missing files are downloaded when allowed.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The data directory; see :func:`pyroclust.datasets.load_dataset`.
    download : bool
        Download missing files from the official site (the train file is 182 MB).
    split : {"all", "train", "test"}
        ``"all"`` is the training digits followed by the test digits.
    extra : bool
        Append the 531,131 "extra" digits after the training ones (not with ``"test"``).

    Returns
    -------
    Dataset
        ``x`` of shape (n_samples, 3072) in [0, 1], RGB images of shape (3, 32, 32)
        flattened channels first; ``y`` the digits 0..9.
    """
    if split not in SPLITS:
        raise DatasetError(f"svhn: split must be 'all', 'train' or 'test', got {split!r}.")
    parts = list(SPLITS[split])
    if extra:
        if "train" not in parts:
            raise DatasetError(
                "svhn: extra=True adds to the training digits; use split='all' or 'train'."
            )
        parts.insert(1, "extra")
    xs, ys = [], []
    for part in parts:
        path = fetch_file(SVHN_SOURCES[part], "svhn", data_dir, download=download)
        x, y = read_svhn_mat(path)
        xs.append(x)
        ys.append(y)
    return Dataset(
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        name="svhn",
        image_shape=(3, 32, 32),
        support="unit",
    )


__all__ = ["SVHN_SOURCES", "load_svhn", "read_svhn_mat"]
