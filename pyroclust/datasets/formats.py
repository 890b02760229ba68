"""Readers for the file formats behind the named data sets and for users' own files.

Every reader raises :class:`~pyroclust.exceptions.DatasetError` naming the file and what was
expected when the contents are malformed.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import os
import zipfile
from pathlib import Path

import numpy as np

from pyroclust.datasets.base import Dataset
from pyroclust.exceptions import DatasetError

#: Suffixes :func:`read_user_file` understands.
USER_SUFFIXES = (".npz", ".npy", ".csv")

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_LABEL_COLUMNS = ("label", "y")


def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it when it starts with the gzip or bzip2 magic."""
    with open(path, "rb") as handle:
        head = handle.read(3)
    try:
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        if head == b"BZh":
            with bz2.open(path, "rb") as handle:
                return handle.read()
    except (OSError, EOFError, ValueError) as error:
        raise DatasetError(
            f"{path} could not be decompressed ({error}); the file is truncated or corrupt. "
            "Delete it and fetch it again."
        ) from error
    return path.read_bytes()


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not.

    Parameters
    ----------
    path : str or path-like
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    np.ndarray
        The array with the file's shape and element type, e.g. uint8 of shape
        (n_images, 28, 28) for an image file or (n_labels,) for a label file.

    Raises
    ------
    DatasetError
        If the magic number, dimensions or length are not those of an IDX file.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DatasetError(
            f"{path} is not an IDX file: bad magic number {raw[:4].hex() or '(empty)'}; expected "
            "00 00, a type code and a number of dimensions (e.g. 00000803 for images)."
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated: the IDX header needs {header} bytes.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(
            f"{path} has {len(raw)} bytes but its IDX header (shape {shape}) implies "
            f"{expected}; the file is truncated or corrupt."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read_pendigits(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a UCI Pendigits file (``pendigits.tra`` or ``pendigits.tes``).

    Parameters
    ----------
    path : str or path-like
        The file: comma-separated rows of 16 integers in 0..100 then the digit 0..9.

    Returns
    -------
    x : np.ndarray
        int64 of shape (n_rows, 16), values in 0..100.
    y : np.ndarray
        int64 of shape (n_rows,), values in 0..9.

    Raises
    ------
    DatasetError
        If a row is not 17 integers or a value is out of range.
    """
    path = Path(path)
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise DatasetError(
            f"{path} is not a Pendigits file: {error}. Expected rows of 17 comma-separated "
            "integers."
        ) from error
    if table.shape[1] != 17 or table.shape[0] == 0:
        raise DatasetError(
            f"{path} is not a Pendigits file: got a table of shape {table.shape}, expected "
            "rows of 17 comma-separated integers (16 coordinates, then the label)."
        )
    x, y = table[:, :16], table[:, 16]
    if x.min() < 0 or x.max() > 100 or y.min() < 0 or y.max() > 9:
        raise DatasetError(
            f"{path} is not a Pendigits file: coordinates must lie in 0..100 and labels in 0..9."
        )
    return x, y


def read_libsvm(path: str | os.PathLike[str], n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a dense-ish LIBSVM file (``label index:value ...``), bzip2/gzip-compressed or not.

    Parameters
    ----------
    path : str or path-like
        The file. Indices are 1-based; absent entries are zero.
    n_features : int
        Number of feature columns.

    Returns
    -------
    x : np.ndarray
        float64 of shape (n_rows, n_features).
    y : np.ndarray
        int64 of shape (n_rows,), the labels as written in the file.

    Raises
    ------
    DatasetError
        If a line cannot be parsed or an index is out of range.
    """
    path = Path(path)
    lines = [line.split() for line in _read_bytes(path).decode("ascii", "replace").splitlines()]
    lines = [tokens for tokens in lines if tokens]
    x = np.zeros((len(lines), n_features))
    y = np.empty(len(lines), dtype=np.int64)
    try:
        for row, tokens in enumerate(lines):
            y[row] = int(float(tokens[0]))
            pairs = [token.split(":") for token in tokens[1:]]
            columns = np.array([int(index) for index, _ in pairs], dtype=np.int64) - 1
            if columns.size and (columns.min() < 0 or columns.max() >= n_features):
                raise IndexError(f"feature index out of 1..{n_features}")
            x[row, columns] = [float(value) for _, value in pairs]
    except (ValueError, IndexError) as error:
        raise DatasetError(
            f"{path}, line {row + 1}: not in LIBSVM format ({error}); expected "
            f"'label index:value ...' with indices 1..{n_features}."
        ) from error
    if not lines:
        raise DatasetError(f"{path} is empty; expected LIBSVM lines 'label index:value ...'.")
    return x, y


def _as_features(x: np.ndarray, path: Path, key: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Flatten images, scale uint8 by 1/255, and return the image shape if there is one."""
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: array {key!r} must be numeric, got dtype {x.dtype}.")
    if x.ndim < 2:
        raise DatasetError(
            f"{path}: array {key!r} must have shape (n_samples, n_features) or (n_samples, "
            f"height, width), got shape {x.shape}."
        )
    image_shape = None
    if x.ndim == 3:
        image_shape = (int(x.shape[1]), int(x.shape[2]))
    elif x.ndim == 4 and x.shape[-1] == 1:
        image_shape = (int(x.shape[1]), int(x.shape[2]))
    flat = x.reshape(len(x), -1)
    if x.dtype == np.uint8:
        features = flat.astype(np.float32)
        features /= np.float32(255)
        return features, image_shape
    return flat.astype(np.float32), image_shape


def _read_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Return ``(x, y, key)`` from an .npz file in either layout."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{path} could not be read as an .npz archive: {error}") from error
    with archive:
        keys = set(archive.files)
        if "x" in keys:
            if split != "all":
                raise DatasetError(
                    f"{path} has one array 'x', so it has no {split!r} split; use split='all' "
                    "or store x_train/x_test."
                )
            return archive["x"], archive["y"] if "y" in keys else None, "x"
        parts = {"train": ["train"], "test": ["test"], "all": ["train", "test"]}[split]
        parts = [part for part in parts if f"x_{part}" in keys]
        if not parts:
            raise DatasetError(
                f"{path} has arrays {sorted(keys)}; expected 'x' (and optionally 'y'), or "
                f"'x_train'/'y_train' and 'x_test'/'y_test' (split={split!r})."
            )
        xs = [archive[f"x_{part}"] for part in parts]
        has_y = [f"y_{part}" in keys for part in parts]
        if any(has_y) and not all(has_y):
            raise DatasetError(
                f"{path} has labels for some splits but not others ({sorted(keys)}); give "
                "y_train and y_test together or neither."
            )
        ys = [archive[f"y_{part}"] for part in parts] if all(has_y) else None
    for i, part in enumerate(parts):
        if ys is not None and len(ys[i]) != len(xs[i]):
            raise DatasetError(
                f"{path}: y_{part} has {len(ys[i])} entries but x_{part} has {len(xs[i])} rows."
            )
    if len({x.shape[1:] for x in xs}) != 1:
        raise DatasetError(
            f"{path}: x_train and x_test have different sample shapes {[x.shape[1:] for x in xs]}."
        )
    x = np.concatenate(xs) if len(xs) > 1 else xs[0]
    y = None if ys is None else (np.concatenate(ys) if len(ys) > 1 else ys[0])
    return x, y, "x_" + "/x_".join(parts)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Numeric CSV with an optional header; a column named ``label`` or ``y`` holds labels."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path} is not a text CSV file: {error}") from error
    if not rows:
        raise DatasetError(f"{path} is empty; expected comma-separated numeric rows.")
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip().lower() for cell in rows[0]], rows[1:]
    if not rows:
        raise DatasetError(f"{path} has a header but no data rows.")
    widths = {len(row) for row in rows}
    if len(widths) != 1 or (header is not None and widths != {len(header)}):
        raise DatasetError(
            f"{path}: rows have {sorted(widths)} columns"
            + (f" but the header has {len(header)}" if header is not None else "")
            + "; every row needs the same number of comma-separated values."
        )
    try:
        table = np.array([[float(cell) for cell in row] for row in rows], dtype=np.float64)
    except ValueError as error:
        raise DatasetError(
            f"{path}: non-numeric value ({error}); every cell except the header must be a number."
        ) from error
    label_column = None
    if header is not None:
        matches = [i for i, name in enumerate(header) if name in _LABEL_COLUMNS]
        if len(matches) > 1:
            raise DatasetError(f"{path}: more than one label column ('label' and 'y').")
        label_column = matches[0] if matches else None
    if label_column is None:
        return table, None
    y = table[:, label_column]
    if not np.all(y == np.round(y)):
        raise DatasetError(f"{path}: the label column holds non-integer values.")
    return np.delete(table, label_column, axis=1), y.astype(np.int64)


def read_user_file(path: str | os.PathLike[str], split: str = "all") -> Dataset:
    """Load a user's own ``.npz``, ``.npy`` or ``.csv`` file.

    Parameters
    ----------
    path : str or path-like
        ``.npz`` with an array ``x`` of shape (n_samples, ...) and optionally ``y`` of shape
        (n_samples,), or with ``x_train``/``y_train``/``x_test``/``y_test`` (train then
        test); ``.npy`` holding ``x`` only; ``.csv`` with numeric columns and an optional
        header in which a column named ``label`` or ``y`` holds the labels.
    split : {"all", "train", "test"}
        Which part of an ``.npz`` with train and test arrays to return.

    Returns
    -------
    Dataset
        Images (arrays with more than two dimensions) are flattened, with ``image_shape``
        set for (n_samples, height, width); uint8 values are divided by 255.

    Raises
    ------
    DatasetError
        If the file is missing, of an unknown type, or malformed.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in USER_SUFFIXES:
        raise DatasetError(
            f"{path}: unsupported file type {suffix or '(none)'}; use one of "
            f"{', '.join(USER_SUFFIXES)}."
        )
    if not path.is_file():
        raise DatasetError(f"data file {path} does not exist.")
    if suffix != ".npz" and split != "all":
        raise DatasetError(f"{path}: a {suffix} file has no train/test split; use split='all'.")
    if suffix == ".npz":
        x, y, key = _read_npz(path, split)
    elif suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DatasetError(f"{path} could not be read as an .npy array: {error}") from error
        y, key = None, "x"
    else:
        x, y = _read_csv(path)
        key = "x"
    features, image_shape = _as_features(np.asarray(x), path, key)
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(features):
            raise DatasetError(
                f"{path}: labels have shape {y.shape}, expected ({len(features)},) to match "
                f"the {len(features)} samples."
            )
    return Dataset(x=features, y=y, name=path.stem, image_shape=image_shape)
