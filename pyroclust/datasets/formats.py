"""Readers for the file formats behind the named data sets and for users' own files.

Every reader raises :class:`~pyroclust.exceptions.DatasetError` naming the file and what was
expected when the contents are malformed.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import os
import re
import warnings
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pyroclust.datasets.base import Dataset
from pyroclust.datasets.spelling import option
from pyroclust.exceptions import DatasetError
from pyroclust.validation import as_float_array, one_line

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


# --------------------------------------------------------------------------- users' own files

#: ``header=`` values :func:`read_user_file` accepts for a CSV file.
Header = Literal["auto"] | bool
#: ``index_col=`` values: a column position or header name, ``False`` (none), ``None`` (auto).
IndexCol = int | str | Literal[False] | None

_NPZ_LABEL_LIKE = ("labels", "label", "target", "targets", "Y")
_NA_TOKENS = frozenset(
    ["#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"]
    + ["<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # pandas' default missing-value markers (pandas._libs.parsers.STR_NA_VALUES), "" aside
_SNIFF_BYTES = 1 << 16
_NPY_MAGIC = b"\x93NUMPY"


def _as_features(x: np.ndarray, path: Path, key: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Flatten images, scale uint8 by 1/255, check the values, return the image shape if any."""
    if x.dtype.kind not in "biuf":
        what = "complex numbers" if x.dtype.kind == "c" else f"dtype {x.dtype}"
        raise DatasetError(f"{path}: array {key!r} must be numeric, got {what}.")
    if x.ndim < 2:
        raise DatasetError(
            f"{path}: array {key!r} must have shape (n_samples, n_features) or (n_samples, "
            f"height, width), got shape {x.shape}."
        )
    if x.shape[0] == 0:
        raise DatasetError(f"{path}: array {key!r} has no samples (shape {x.shape}).")
    image_shape = None
    if x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 1):
        image_shape = (int(x.shape[1]), int(x.shape[2]))
    flat = x.reshape(len(x), -1)
    if flat.shape[1] == 0:
        raise DatasetError(f"{path}: array {key!r} has 0 features (shape {x.shape}).")
    if x.dtype == np.uint8:
        features = flat.astype(np.float32)
        features /= np.float32(255)
        return features, image_shape
    name = str(path) if path.suffix.lower() == ".csv" else f"{path}: array {key!r}"
    return as_float_array(flat, name=name, error=DatasetError), image_shape


def _npz_member(archive: Any, path: Path, key: str) -> np.ndarray:
    """One array of an open .npz archive; a corrupt or pickled member is a DatasetError."""
    try:
        return archive[key]
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise DatasetError(
                f"{path}: array {key!r} holds Python objects, which are not loaded (loading "
                "them could run code); save a numeric array."
            ) from error
        raise DatasetError(f"{path}: array {key!r} is corrupt: {one_line(error)}") from error
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as error:
        raise DatasetError(f"{path}: array {key!r} is corrupt: {one_line(error)}") from error
    except MemoryError as error:
        raise DatasetError(f"{path}: array {key!r} is too large to load.") from error


def _read_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Return ``(x, y, key)`` from an .npz file in either layout."""
    with open(path, "rb") as handle:  # closed even when NumPy fails half-way
        magic = handle.read(len(_NPY_MAGIC))
        handle.seek(0)
        if magic == _NPY_MAGIC:
            raise DatasetError(f"{path} holds a single .npy array, not an .npz archive; rename it.")
        try:
            archive = np.load(handle, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise DatasetError(
                f"{path} could not be read as an .npz archive: {one_line(error)}"
            ) from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DatasetError(f"{path} is not an .npz archive (a zip file saved by np.savez).")
        return _read_npz_archive(archive, path, split)


def _read_npz_archive(
    archive: Any, path: Path, split: str
) -> tuple[np.ndarray, np.ndarray | None, str]:
    with archive:
        keys = set(archive.files)
        split_keys = sorted(keys & {"x_train", "x_test", "y_train", "y_test"})
        if "x" in keys and split_keys:
            raise DatasetError(
                f"{path} has both 'x' and {split_keys}, so it is unclear which are the data; keep "
                "one layout: 'x' (and 'y'), or 'x_train'/'y_train' and 'x_test'/'y_test'."
            )
        if "y" not in keys and not split_keys:
            label_like = sorted(keys & set(_NPZ_LABEL_LIKE))
            if label_like:
                raise DatasetError(
                    f"{path} has arrays {sorted(keys)}: labels must be stored as 'y' (not "
                    f"{label_like[0]!r}), or remove {label_like[0]!r} to load the data unlabelled."
                )
        if "x" in keys:
            if split != "all":
                raise DatasetError(
                    f"{path} has one array 'x', so it has no {split!r} split; use split='all' "
                    "or store x_train/x_test."
                )
            y = _npz_member(archive, path, "y") if "y" in keys else None
            return _npz_member(archive, path, "x"), y, "x"
        parts = {"train": ["train"], "test": ["test"], "all": ["train", "test"]}[split]
        parts = [part for part in parts if f"x_{part}" in keys]
        if not parts:
            raise DatasetError(
                f"{path} has arrays {sorted(keys)}; expected 'x' (and optionally 'y'), or "
                f"'x_train'/'y_train' and 'x_test'/'y_test' (split={split!r})."
            )
        xs = [_npz_member(archive, path, f"x_{part}") for part in parts]
        has_y = [f"y_{part}" in keys for part in parts]
        if any(has_y) and not all(has_y):
            raise DatasetError(
                f"{path} has labels for some splits but not others ({sorted(keys)}); give "
                "y_train and y_test together or neither."
            )
        ys = [_npz_member(archive, path, f"y_{part}") for part in parts] if all(has_y) else None
    for i, part in enumerate(parts):
        if xs[i].ndim == 0:
            raise DatasetError(f"{path}: x_{part} is a scalar, not an array of samples.")
        if ys is not None and (ys[i].ndim != 1 or len(ys[i]) != len(xs[i])):
            raise DatasetError(
                f"{path}: y_{part} has shape {ys[i].shape} but x_{part} has {len(xs[i])} rows; "
                f"expected shape ({len(xs[i])},)."
            )
    if len({x.shape[1:] for x in xs}) != 1:
        raise DatasetError(
            f"{path}: x_train and x_test have different sample shapes {[x.shape[1:] for x in xs]}."
        )
    if len({x.dtype for x in xs}) != 1:
        raise DatasetError(
            f"{path}: x_train and x_test have different dtypes {[str(x.dtype) for x in xs]}; "
            "save them with the same one (uint8 images are scaled by 1/255, other types are not)."
        )
    x = np.concatenate(xs) if len(xs) > 1 else xs[0]
    y = None if ys is None else (np.concatenate(ys) if len(ys) > 1 else ys[0])
    return x, y, "x_" + "/x_".join(parts)


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as handle:  # closed even when NumPy fails half-way
        magic = handle.read(len(_NPY_MAGIC))
        handle.seek(0)
        if magic.startswith(b"PK"):
            raise DatasetError(f"{path} is an .npz archive, not an .npy array; rename it to .npz.")
        if magic != _NPY_MAGIC:
            pickled = magic[:1] == b"\x80"
            raise DatasetError(
                f"{path} is not an .npy file"
                + (
                    " but pickled Python data, which is not loaded (loading it could run code)"
                    if pickled
                    else " (it does not start with NumPy's magic bytes)"
                )
                + "; save a numeric array with np.save."
            )
        try:
            return np.load(handle, allow_pickle=False)
        except ValueError as error:
            if "allow_pickle" in str(error):
                raise DatasetError(
                    f"{path} holds Python objects (dtype object), which are not loaded (loading "
                    "them could run code); save a numeric array."
                ) from error
            raise DatasetError(
                f"{path} could not be read as an .npy array: {one_line(error)}"
            ) from error
        except (OSError, EOFError) as error:
            raise DatasetError(
                f"{path} could not be read as an .npy array: {one_line(error)}"
            ) from error
        except MemoryError as error:
            raise DatasetError(
                f"{path} is too large to load (or its header is corrupt)."
            ) from error


def _cell_kind(cell: str) -> str:
    """``"num"`` (a number or a boolean), ``"missing"`` (empty or an NA marker) or ``"text"``."""
    text = cell.strip()
    if not text or text in _NA_TOKENS:
        return "missing"
    if text.lower() in ("true", "false"):
        return "num"
    if "_" in text:  # Python's float() accepts 1_000, pandas (and most tools) do not
        return "text"
    try:
        float(text)
    except ValueError:
        return "text"
    return "num"


def _is_range_header(cells: list[str]) -> bool:
    """Whether the cells are "0", "1", ...: the column names pandas writes for an unnamed frame."""
    return [cell.strip() for cell in cells] == [str(i) for i in range(len(cells))]


def _first_row(path: Path) -> list[str]:
    """The cells of the first non-blank line, parsed by pandas; checks the file is text."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        raise DatasetError(f"{path} is empty; expected comma-separated numeric rows.")
    if b"\x00" in head:
        raise DatasetError(f"{path} is not a text CSV file: it holds binary data (NUL bytes).")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _SNIFF_BYTES)
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path} is not a text CSV file: {one_line(error)} (expected UTF-8 text)."
        ) from error
    try:
        first = pd.read_csv(
            path, header=None, dtype=str, na_filter=False, nrows=1, encoding="utf-8"
        )
    except pd.errors.EmptyDataError as error:
        raise DatasetError(f"{path} is empty; expected comma-separated numeric rows.") from error
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{path} is not a readable CSV file: {one_line(error)}") from error
    return [str(cell) for cell in first.iloc[0].tolist()]


def _has_header(path: Path, first: list[str], header: Header) -> bool:
    """Decide whether the first row names the columns (see :func:`read_user_file`)."""
    if header is not True and header is not False:
        if header != "auto":
            raise DatasetError(f"header must be 'auto', True or False, got {header!r}.")
        kinds = [_cell_kind(cell) for cell in first]
        shown = ",".join(first)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        if all(kind == "num" for kind in kinds):
            if _is_range_header(first):
                raise DatasetError(
                    f"{path}: the first row is {shown!r}, the column names pandas writes for "
                    f"a DataFrame without names, or data; pass {option('header', True)} to skip it "
                    f"or {option('header', False)} to keep it as data."
                )
            return False
        pandas_index = first[0].strip() == "" and all(kind != "missing" for kind in kinds[1:])
        if pandas_index and (
            all(kind == "text" for kind in kinds[1:]) or _is_range_header(first[1:])
        ):
            return True
        if all(kind == "text" for kind in kinds):
            return True
        if "text" not in kinds:
            return False  # numbers and missing values: a data row (its gaps are reported later)
        raise DatasetError(
            f"{path}: the first row {shown!r} mixes column names with numbers or empty cells, "
            f"so it is unclear whether it is a header; pass {option('header', True)} (it names "
            f"the columns) or {option('header', False)} (it is data)."
        )
    return header


def _resolve_index(
    path: Path, names: list[str] | None, width: int, index_col: IndexCol
) -> tuple[int | None, bool]:
    """``(position, explicit)`` of the row-index column, ``(None, False)`` for none."""
    if index_col is None:
        if names is not None and re.fullmatch(r"(Unnamed: 0)?", names[0].strip()):
            return 0, False  # an unnamed first column: checked against 0..n-1 after reading
        return (0, False) if names is None else (None, False)
    if index_col is False:
        return None, True
    if isinstance(index_col, bool):
        raise DatasetError("index_col must be a column position, a column name, False or None.")
    if isinstance(index_col, (int, np.integer)):
        if not 0 <= index_col < width:
            raise DatasetError(
                f"{path}: {option('index_col', index_col)} is out of range; the file has "
                f"{width} columns (positions 0..{width - 1})."
            )
        return int(index_col), True
    if isinstance(index_col, str):
        if names is None:
            raise DatasetError(
                f"{path}: {option('index_col', index_col)} names a column, but the file has no "
                f"header; pass its position (e.g. {option('index_col', 0)})."
            )
        matches = [i for i, name in enumerate(names) if name.strip() == index_col]
        if len(matches) != 1:
            raise DatasetError(
                f"{path}: {option('index_col', index_col)} matches {len(matches)} columns of "
                f"the header {[name.strip() for name in names]}; expected exactly one."
            )
        return matches[0], True
    raise DatasetError(
        f"index_col must be a column position, a column name, False or None, got {index_col!r}."
    )


def _header_name(j: int, names: list[str] | None) -> str | None:
    """Column ``j``'s name in the header, or None where there is no header or it is blank."""
    return (names[j].strip() or None) if names is not None else None


def _column_name(j: int, names: list[str] | None) -> str:
    name = _header_name(j, names)
    return f"column {j + 1} ({name!r})" if name else f"column {j + 1}"


def _diagnose_csv(
    path: Path, has_header: bool, width: int, names: list[str] | None, skip: set[int]
) -> str | None:
    """The first malformed line of a CSV pandas refused, in words; ``None`` if none is found."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        seen_first = False
        try:
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if not seen_first:
                    seen_first = True
                    if has_header:
                        continue
                if len(row) != width:
                    against = "the header has" if has_header else "the first row has"
                    return (
                        f"line {line} has {len(row)} values but {against} {width}; every row "
                        "needs the same number of comma-separated values"
                    )
                for j, cell in enumerate(row):
                    if j in skip:
                        continue
                    kind = _cell_kind(cell)
                    where = f"line {line}, {_column_name(j, names)}"
                    if kind == "missing":
                        return (
                            f"missing value ({cell.strip()!r}) at {where}; fill or drop it, "
                            "every cell must be a number"
                        )
                    if kind == "text":
                        hint = ""
                        if not has_header and line == 1:
                            header = option("header", True)
                            hint = f"; pass {header} if the first row names the columns"
                        elif any(sep in cell for sep in ";\t|"):
                            hint = "; the file must be comma-separated"
                        else:
                            name = _header_name(j, names)
                            column = option("index_col", name if name else j)
                            hint = f"; pass {column} if that column holds row names"
                        return f"non-numeric value {cell.strip()[:40]!r} at {where}{hint}"
        except csv.Error as error:
            return f"line {reader.line_num}: {one_line(error)}"
    return None


def _read_csv(
    path: Path, header: Header = "auto", index_col: IndexCol = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A numeric CSV read by pandas under the explicit header and index rules of
    :func:`read_user_file`: (features, labels, row names). A column named ``label`` or ``y``
    holds labels; the index column, when there is one, the row names (as strings)."""
    first = _first_row(path)
    width = len(first)
    has_header = _has_header(path, first, header)
    names = first if has_header else None
    index, explicit = _resolve_index(path, names, width, index_col)
    dtypes: dict[int, Any] = defaultdict(lambda: np.float64)
    if index is not None and (explicit or names is not None):
        dtypes[index] = object
    skip = {index} if index is not None and dtypes[index] is object else set()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                header=0 if has_header else None,
                names=list(range(width)),
                index_col=False,
                dtype=dtypes,
                skip_blank_lines=True,
                encoding="utf-8",
            )
        table = frame.drop(columns=list(skip)).to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as err:
        problem = _diagnose_csv(path, has_header, width, names, skip)
        raise DatasetError(
            f"{path}: {problem}." if problem else f"{path} is not a numeric CSV: {one_line(err)}"
        ) from err
    if len(frame) == 0:
        raise DatasetError(f"{path} has a header but no data rows.")
    if np.isnan(table).any():
        problem = _diagnose_csv(path, has_header, width, names, skip)
        rows = np.flatnonzero(np.isnan(table).any(1))[:5].tolist()
        raise DatasetError(
            f"{path}: {problem}."
            if problem
            else f"{path} has missing values (first data rows: {rows}); fill or drop them."
        )
    kept = [j for j in range(width) if j not in skip]
    if index is not None and not explicit:
        numbers = pd.to_numeric(frame[index], errors="coerce").to_numpy(dtype=np.float64)
        is_range = np.array_equal(numbers, np.arange(len(frame)))
        if names is not None and not is_range:
            raise DatasetError(
                f"{path}: the first column has no name in the header, as the row index that "
                "pandas' to_csv() or R's write.csv() writes, but its values are not 0..n-1; "
                f"pass {option('index_col', 0)} to drop it, or name it to keep it as a feature."
            )
        if names is None and is_range and len(frame) >= 2:
            raise DatasetError(
                f"{path}: the first column holds exactly the row numbers 0..{len(frame) - 1}, "
                "like the index pandas' to_csv(header=False) writes; pass "
                f"{option('index_col', 0)} to drop it, or {option('index_col', False)} to keep "
                "it as a feature."
            )
    row_names = None
    if skip:
        row_names = frame[index].astype(str).str.strip().to_numpy(dtype=str)
    label_column = None
    if names is not None:
        lowered = [names[j].strip().lower() for j in kept]
        matches = [i for i, name in enumerate(lowered) if name in _LABEL_COLUMNS]
        if len(matches) > 1:
            raise DatasetError(f"{path}: more than one label column ('label' and 'y').")
        label_column = matches[0] if matches else None
    if label_column is None:
        return table, None, row_names
    y = table[:, label_column]
    if not np.all(y == np.round(y)):
        line = int(np.flatnonzero(y != np.round(y))[0])
        raise DatasetError(
            f"{path}: the label column {names[kept[label_column]].strip()!r} holds non-integer "
            f"values (first at data row {line}); labels must be integers."
        )
    return np.delete(table, label_column, axis=1), y, row_names


def read_user_file(
    path: str | os.PathLike[str],
    split: str = "all",
    *,
    header: Header = "auto",
    index_col: IndexCol = None,
) -> Dataset:
    """Load a user's own ``.npz``, ``.npy`` or ``.csv`` file.

    Parameters
    ----------
    path : str or path-like
        ``.npz`` with an array ``x`` of shape (n_samples, ...) and optionally ``y`` of shape
        (n_samples,), or with ``x_train``/``y_train``/``x_test``/``y_test`` (train then
        test), never both layouts; ``.npy`` holding ``x`` only; ``.csv`` with comma-separated
        numeric columns (read by pandas), an optional header, and optionally a column named
        ``label`` or ``y`` (any case) holding integer labels.
    split : {"all", "train", "test"}
        Which part of an ``.npz`` with train and test arrays to return.
    header : {"auto", True, False}
        CSV only. Whether the first non-blank row names the columns. ``"auto"`` decides only
        when the row is unambiguous: it is a header when every cell is text (not a number,
        not empty), or when its first cell is empty and the others are names (the header
        pandas' ``to_csv()`` writes with its row index); it is data when every cell is a
        number, or numbers and empty cells (the gaps are then reported as missing values).
        Any other mix, and a first row ``0,1,2,...`` (pandas' names for unnamed columns, or
        data), are refused: pass ``True`` or ``False``.
    index_col : int, str, False or None
        CSV only. A column holding row names rather than a feature, given by position or
        header name, to be dropped; ``False`` for none. ``None`` (the default) detects the
        row index pandas' ``to_csv()`` writes: a first column with an empty (or
        ``"Unnamed: 0"``) header cell is dropped when its values are exactly 0..n-1 and
        refused otherwise, and a header-less file whose first column is exactly 0..n-1
        (n >= 2) is refused; pass ``index_col=0`` or ``index_col=False`` to decide. (A
        header-less single row cannot tell an index from a feature; it is read as data.)

    Returns
    -------
    Dataset
        Images (arrays with more than two dimensions) are flattened, with ``image_shape``
        set for (n_samples, height, width); uint8 values are divided by 255. Every row of the
        file is kept, in order, with its label.

    Raises
    ------
    DatasetError
        If the file is missing, a directory, empty, of an unknown type, or malformed: a
        binary or ragged CSV, a non-numeric or missing cell (the line and column are named),
        an ambiguous header or index, an array that is empty, not numeric, or holds NaN,
        infinity or values beyond float32's range. The message is one line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> _ = path.write_text(",a,b,label\\n0,0.5,1.0,1\\n1,0.25,0.0,0\\n")  # pandas' to_csv()
    >>> ds = read_user_file(path)
    >>> ds.x.tolist(), ds.y.tolist()
    ([[0.5, 1.0], [0.25, 0.0]], [1, 0])
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in USER_SUFFIXES:
        raise DatasetError(
            f"{path}: unsupported file type {suffix or '(none)'}; use one of "
            f"{', '.join(USER_SUFFIXES)}."
        )
    if path.is_dir():
        raise DatasetError(f"{path} is a directory, not a {suffix} file.")
    if not path.exists():
        raise DatasetError(f"data file {path} does not exist.")
    if not path.is_file():
        raise DatasetError(f"{path} is not a regular file.")
    if suffix != ".csv" and (header != "auto" or index_col is not None):
        raise DatasetError(
            f"{path}: {option('header')} and {option('index_col')} apply to .csv files only."
        )
    if suffix != ".npz" and split != "all":
        raise DatasetError(f"{path}: a {suffix} file has no train/test split; use split='all'.")
    if suffix != ".csv" and path.stat().st_size == 0:
        raise DatasetError(f"{path} is empty (0 bytes); expected a {suffix} file saved by NumPy.")
    row_names = None  # a CSV's row-name column only
    try:
        if suffix == ".npz":
            x, y, key = _read_npz(path, split)
        elif suffix == ".npy":
            x, y, key = _read_npy(path), None, "x"
        else:
            x, y, row_names = _read_csv(path, header, index_col)
            key = "x"
    except PermissionError as error:
        raise DatasetError(f"{path} cannot be read: permission denied.") from error
    features, image_shape = _as_features(np.asarray(x), path, key)
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(features):
            raise DatasetError(
                f"{path}: labels have shape {y.shape}, expected ({len(features)},) to match "
                f"the {len(features)} samples."
            )
    return Dataset(x=features, y=y, name=path.stem, image_shape=image_shape, row_names=row_names)
