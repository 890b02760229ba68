"""Data larger than memory: rows read chunk by chunk from arrays on disk, never loaded whole.

An :class:`ArrayStream` is a ``.npy`` file, or a folder of ``.npy`` / ``.npz``
shards taken in name order (each ``.npz`` holding its rows as ``x``, and optionally labels as
``y``), seen as one array of shape (n_samples, n_features). Only the headers are read when it
is opened; :meth:`ArrayStream.chunks` then yields float32 blocks of at most ``chunk_size``
rows, with the conventions of :func:`pyroclust.datasets.load_dataset` (images flattened,
``uint8`` scaled by 1/255). A ``.npy`` shard is read block by block from the file (not
memory-mapped: a map's pages stay in the process's resident memory once read), so a chunk
costs its own rows; an ``.npz`` member is compressed or zipped and is read whole, so each
``.npz`` shard must fit in memory (split larger data into several shards, or save ``.npy``).

:class:`MappedArray` is the same reader over a memory-mapped array (``np.load(path,
mmap_mode="r")`` or a ``np.memmap``): its rows are sliced from the map a chunk at a time and
converted as in-memory data are (to float32, without the ``uint8`` scaling), and the map's
pages are released after each read, so they do not pile up in the process's resident memory.
:func:`as_stream` turns either, or a path, into a stream.

:meth:`pyroclust.estimator.Clusterer.fit` trains on a stream or a ``np.memmap`` chunk by chunk
(its initialisation on a random subsample of at most ``init_max_samples`` rows), and
``predict``, ``predict_proba``, ``transform``, ``reconstruct`` and ``score`` work through one
in chunks; the trainer (:class:`~pyroclust.infer.SVITrainer`) reads one
``chunk_size`` rows at a time; ``pyroclust predict`` streams a ``.npy`` file or a folder of
shards to its label file.

Examples
--------
>>> import numpy as np, tempfile, os
>>> folder = tempfile.mkdtemp()
>>> np.save(os.path.join(folder, "a.npy"), np.zeros((5, 3), np.float32))
>>> np.savez(os.path.join(folder, "b.npz"), x=np.ones((2, 3), np.float32))
>>> stream = open_stream(folder)
>>> stream.shape, [len(c) for c in stream.chunks(4)]
((7, 3), [4, 1, 2])
"""

from __future__ import annotations

import mmap
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pyroclust.exceptions import DatasetError

#: Rows per chunk by default: a multiple of the 4,096-row batches of
#: :mod:`pyroclust.predictive`, so chunked predictions equal whole-array ones exactly.
DEFAULT_CHUNK_SIZE = 65_536

SHARD_SUFFIXES = (".npy", ".npz")

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ArrayStream",
    "MappedArray",
    "as_stream",
    "is_streamed",
    "iter_chunks",
    "open_stream",
    "sample_rows",
    "value_range",
]


@dataclass(frozen=True)
class _Shard:
    path: Path
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int | None = None  # where the rows of a C-ordered .npy start: read, not mapped

    @property
    def rows(self) -> int:
        return int(self.shape[0])

    def blocks(self, chunk_size: int) -> Iterator[np.ndarray]:
        """The rows ``chunk_size`` at a time. A C-ordered ``.npy`` is read block by block
        from the file (no memory map, whose pages would stay resident); others are opened."""
        if self.offset is None:
            rows = self.open()
            for start in range(0, len(rows), chunk_size):
                yield rows[start : start + chunk_size]
            return
        with open(self.path, "rb") as handle:
            for start in range(0, self.rows, chunk_size):
                yield self._read(handle, start, min(start + chunk_size, self.rows))

    def _read(self, handle: Any, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of a C-ordered ``.npy`` read from its open file."""
        width = int(np.prod(self.shape[1:]))
        n = stop - start
        handle.seek(self.offset + start * width * self.dtype.itemsize)
        block = np.fromfile(handle, dtype=self.dtype, count=n * width)
        if len(block) != n * width:
            raise DatasetError(f"{self.path} is truncated: fewer rows than its header")
        return block.reshape(n, *self.shape[1:])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (a C-ordered ``.npy`` reads only them)."""
        if self.offset is None:
            return np.asarray(self.open()[start:stop])
        with open(self.path, "rb") as handle:
            return self._read(handle, start, stop)

    def take(self, index: np.ndarray) -> np.ndarray:
        """The rows ``index`` (sorted, as a memory map reads them best)."""
        if self.offset is None:  # an .npz member, or a Fortran-ordered .npy
            return np.asarray(self.open()[index])
        return take_rows(self.open(), index)

    def open(self) -> np.ndarray:
        """The shard's rows: memory-mapped for ``.npy``, read for ``.npz``."""
        if self.path.suffix.lower() == ".npy":
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        with np.load(self.path, allow_pickle=False) as archive:
            return archive["x"]


def release_pages(array: np.ndarray) -> None:
    """Drop the pages of a read-only memory map (``np.load(path, mmap_mode="r")``) from this
    process's resident memory; they stay in the page cache and are read again when touched.
    A no-op for other arrays (a writable map keeps its pages: they may hold changes)."""
    handle = getattr(array, "_mmap", None)  # where np.memmap keeps its mmap object
    if (
        isinstance(array, np.memmap)
        and getattr(array, "mode", None) == "r"
        and handle is not None
        and hasattr(handle, "madvise")
        and hasattr(mmap, "MADV_DONTNEED")
    ):
        handle.madvise(mmap.MADV_DONTNEED)


#: The most bytes of a memory map read between two releases of its pages.
RELEASE_BYTES = 32 * 2**20


def _rows_per_release(array: np.ndarray) -> int:
    row = int(np.prod(array.shape[1:])) * array.dtype.itemsize
    return max(1, RELEASE_BYTES // max(1, row))


def read_rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``array`` as an array of its own. From a read-only memory map
    they are copied a few megabytes at a time, its pages released after each
    (:func:`release_pages`), so that no more than that stays resident beside the copy."""
    out = np.empty((max(0, stop - start), *array.shape[1:]), array.dtype)
    step = _rows_per_release(array)
    for first in range(start, stop, step):
        last = min(first + step, stop)
        out[first - start : last - start] = array[first:last]
        release_pages(array)
    return out


def take_rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The rows ``index`` (sorted) of ``array``, a few megabytes of the map at a time as in
    :func:`read_rows`: a random subsample touches pages all over a file, and each read of a
    page brings its neighbours in too (the kernel's read-ahead)."""
    index = np.asarray(index, dtype=np.int64)
    out = np.empty((len(index), *array.shape[1:]), array.dtype)
    step = _rows_per_release(array)
    bounds = np.searchsorted(index, np.arange(0, len(array) + step, step))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            out[lo:hi] = array[index[lo:hi]]
            release_pages(array)
    return out


@dataclass(frozen=True, eq=False)
class _ArrayShard:
    """An array (a memory map) as a shard: rows sliced from it, the map's pages released."""

    array: np.ndarray

    @property
    def path(self) -> Path:
        return Path(getattr(self.array, "filename", None) or "memmap")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def rows(self) -> int:
        return int(self.array.shape[0])

    def blocks(self, chunk_size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.rows, chunk_size):
            yield self.read(start, min(start + chunk_size, self.rows))

    def read(self, start: int, stop: int) -> np.ndarray:
        return read_rows(self.array, start, stop)  # an array of its own, not a view of the map

    def take(self, index: np.ndarray) -> np.ndarray:
        return take_rows(self.array, index)

    def open(self) -> np.ndarray:
        return self.array


def _npy_header(handle: Any, path: Path) -> tuple[tuple[int, ...], np.dtype, bool]:
    try:
        version = np.lib.format.read_magic(handle)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(handle)
    except ValueError as error:
        raise DatasetError(f"{path} is not a NumPy array file ({error})") from error
    if dtype.hasobject:
        raise DatasetError(f"{path} holds Python objects (dtype object); save a numeric array")
    return tuple(int(s) for s in shape), dtype, bool(fortran)


def _read_shard(path: Path) -> _Shard:
    """The shape and dtype of a ``.npy`` or ``.npz`` shard (its rows ``x``), from headers."""
    if path.suffix.lower() == ".npy":
        with open(path, "rb") as handle:
            shape, dtype, fortran = _npy_header(handle, path)
            offset = None if fortran else handle.tell()
        return _Shard(path, shape, dtype, offset)
    try:
        with zipfile.ZipFile(path) as archive:
            if "x.npy" not in archive.namelist():
                raise DatasetError(f"{path} has no array 'x' (the rows of a shard)")
            with archive.open("x.npy") as handle:
                shape, dtype, _ = _npy_header(handle, path)
    except zipfile.BadZipFile as error:
        raise DatasetError(f"{path} is not an .npz archive (a zip file of np.savez)") from error
    return _Shard(path, shape, dtype)


def _features(block: np.ndarray) -> np.ndarray:
    """A block of rows as float32 (n, n_features): flattened, uint8 scaled by 1/255."""
    flat = np.asarray(block).reshape(len(block), -1)
    if flat.dtype == np.uint8:
        out = flat.astype(np.float32)
        out /= np.float32(255)
        return out
    if flat.dtype == np.float32 and flat.flags.writeable and flat.flags.c_contiguous:
        return flat  # a block read from the file: already an array of its own
    return np.array(flat, dtype=np.float32)  # its own writable copy, never a memory map


class ArrayStream:
    """Rows of arrays on disk seen as one array of shape (n_samples, n_features), read in
    chunks (see the module docstring).

    Parameters
    ----------
    paths : sequence of paths
        ``.npy`` and ``.npz`` shards, in row order, of numbers, all with the same number of
        features once flattened.

    Raises
    ------
    DatasetError
        For no shards, a file of another format, non-numeric data, fewer than two dimensions
        or rows of different widths.
    """

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        shards = [_read_shard(Path(p)) for p in paths]
        if not shards:
            raise DatasetError("no .npy or .npz shards to stream")
        self._set_shards(shards)
        self.name = shards[0].path.parent.name if len(shards) > 1 else shards[0].path.stem

    def _set_shards(self, shards: Sequence[Any]) -> None:
        for shard in shards:
            if shard.dtype.kind not in "biuf":
                raise DatasetError(f"{shard.path}: rows must be numeric, got {shard.dtype}")
            if len(shard.shape) < 2:
                raise DatasetError(
                    f"{shard.path}: rows must have shape (n_samples, n_features...), got "
                    f"{shard.shape}"
                )
            width, first = int(np.prod(shard.shape[1:])), int(np.prod(shards[0].shape[1:]))
            if width != first:
                raise DatasetError(
                    f"{shard.path}: rows of {width} features (shape {shard.shape[1:]}), but "
                    f"{shards[0].path.name} has {first}"
                )
        self.shards = list(shards)

    @staticmethod
    def _convert(block: np.ndarray) -> np.ndarray:
        """A block of rows as float32 (n, n_features), as :func:`load_dataset` reads files."""
        return _features(block)

    @property
    def n_samples(self) -> int:
        """Rows over all shards."""
        return sum(s.rows for s in self.shards)

    @property
    def offsets(self) -> list[int]:
        """The index of each shard's first row among all rows."""
        return np.cumsum([0] + [s.rows for s in self.shards[:-1]]).tolist()

    @property
    def n_features(self) -> int:
        """Width of a flattened row."""
        return int(np.prod(self.shards[0].shape[1:]))

    @property
    def shape(self) -> tuple[int, int]:
        """(n_samples, n_features)."""
        return self.n_samples, self.n_features

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}({self.name!r}, shape={self.shape}, shards={len(self.shards)})"

    def chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[np.ndarray]:
        """float32 blocks of ``chunk_size`` rows (the last may be shorter), in row order; a
        block never spans two shards, so only the shard being read is open."""
        chunk_size = _check_chunk_size(chunk_size)
        for shard in self.shards:
            # map holds no block while the caller works: one chunk read at a time
            yield from map(self._convert, shard.blocks(chunk_size))

    def spans(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[tuple[int, int, int]]:
        """The chunks :meth:`chunks` yields, as ``(shard, start, stop)`` row ranges, for
        reading them in another order with :meth:`read` (a shuffled epoch)."""
        chunk_size = _check_chunk_size(chunk_size)
        return [
            (i, start, min(start + chunk_size, shard.rows))
            for i, shard in enumerate(self.shards)
            for start in range(0, shard.rows, chunk_size)
        ]

    def read(self, span: tuple[int, int, int]) -> np.ndarray:
        """The rows of one of :meth:`spans` as float32 (rows, n_features)."""
        index, start, stop = span
        return self._convert(self.shards[index].read(start, stop))

    def take(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """The rows ``index`` (any order) as float32 (len(index), n_features): for
        subsamples, such as an initialisation's, without reading the rest."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.n_samples):
            raise IndexError(f"row index out of range for {self.n_samples} rows")
        out = np.empty((len(index), self.n_features), np.float32)
        start = 0
        for shard in self.shards:
            (where,) = np.nonzero((index >= start) & (index < start + shard.rows))
            if where.size:
                local = index[where] - start
                order = np.argsort(local, kind="stable")  # a memory map reads rows in order
                out[where[order]] = self._convert(shard.take(local[order]))
            start += shard.rows
        return out


class MappedArray(ArrayStream):
    """A memory-mapped array (``np.load(path, mmap_mode="r")``, a ``np.memmap``) seen as a
    stream of shape (n_samples, n_features): rows sliced from the map ``chunk_size`` at a time.

    Rows are converted as in-memory data are (flattened, float32; ``uint8`` values are not
    scaled, unlike :class:`ArrayStream`'s files), so a fit or a prediction on the map equals
    one on the array loaded whole. After each read the map's pages are released
    (:func:`release_pages`, for a read-only map), so they do not accumulate in the process's
    resident memory.

    Raises
    ------
    DatasetError
        For non-numeric data or fewer than two dimensions.
    """

    def __init__(self, array: np.ndarray) -> None:
        self._set_shards([_ArrayShard(array)])
        self.name = self.shards[0].path.stem

    @staticmethod
    def _convert(block: np.ndarray) -> np.ndarray:
        """A block of rows as float32 (n, n_features), its values unchanged."""
        flat = np.asarray(block).reshape(len(block), -1)
        if flat.dtype == np.float32 and flat.flags.writeable and flat.flags.c_contiguous:
            return flat
        return np.array(flat, dtype=np.float32)


def _check_chunk_size(chunk_size: int) -> int:
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    return int(chunk_size)


def open_stream(path: str | os.PathLike) -> ArrayStream:
    """An :class:`ArrayStream` over a ``.npy`` file (read block by block), an ``.npz`` file, or a
    folder of ``.npy``/``.npz`` shards (in name order)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SHARD_SUFFIXES)
        if not files:
            raise DatasetError(f"{path} holds no .npy or .npz shards")
        return ArrayStream(files)
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    if path.suffix.lower() not in SHARD_SUFFIXES:
        raise DatasetError(f"{path}: only .npy and .npz files (or a folder of them) stream")
    return ArrayStream([path])


def is_streamed(X: Any) -> bool:
    """Whether ``X`` lives on disk and should be read in chunks: an :class:`ArrayStream` or a
    memory-mapped NumPy array."""
    return isinstance(X, ArrayStream | np.memmap)


def as_stream(X: Any) -> ArrayStream:
    """``X`` as a stream: an :class:`ArrayStream` as it is, a memory-mapped array as a
    :class:`MappedArray`, a path (a ``.npy``/``.npz`` file or a folder of shards) opened with
    :func:`open_stream`."""
    if isinstance(X, ArrayStream):
        return X
    if isinstance(X, np.memmap):
        return MappedArray(X)
    if isinstance(X, str | os.PathLike):
        return open_stream(X)
    raise TypeError(
        f"a stream is an ArrayStream, a memory-mapped array or a path, not {type(X).__name__}"
    )


def iter_chunks(X: Any, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[Any]:
    """Blocks of at most ``chunk_size`` rows of ``X``, in order: an :class:`ArrayStream`'s
    float32 chunks, a memory-mapped array's as a :class:`MappedArray` (each block read into
    an array of its own, the map's pages released), or slices of an in-memory array."""
    if is_streamed(X):
        yield from as_stream(X).chunks(chunk_size)
        return
    chunk_size = _check_chunk_size(chunk_size)
    for start in range(0, len(X), chunk_size):
        yield X[start : start + chunk_size]


def sample_rows(n: int, max_samples: int | None, random_state: int | None) -> np.ndarray | None:
    """A uniform random subset of ``max_samples`` of the row numbers ``0..n-1``, sorted (a
    memory map or a file reads rows best in order), drawn without replacement with
    ``np.random.default_rng(random_state)``; None (every row) when ``max_samples`` is None
    or not below ``n``. The same seed gives the same rows.

    >>> sample_rows(10, 4, 0).tolist(), sample_rows(10, 10, 0)
    ([2, 4, 5, 7], None)
    """
    if max_samples is None or n <= int(max_samples):
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, int(max_samples), replace=False)).astype(np.int64)


def value_range(X: Any, chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[float, float]:
    """The smallest and largest value of ``X`` (a stream or memory map read ``chunk_size``
    rows at a time, or an array), NaN where a value is not a number: for choosing a
    likelihood (values in [0, 1] or not) without loading the data."""
    low, high = np.inf, -np.inf
    for chunk in iter_chunks(X, chunk_size):
        chunk = np.asarray(chunk)
        if chunk.size:
            smallest, largest = float(chunk.min()), float(chunk.max())
            if np.isnan(smallest) or np.isnan(largest):
                return float("nan"), float("nan")
            low, high = min(low, smallest), max(high, largest)
    return float(low), float(high)
