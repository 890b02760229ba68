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

:meth:`pyroclust.estimator.Clusterer.predict` and ``transform`` accept a stream or a
``np.memmap`` and work through it in chunks; ``pyroclust predict`` streams a ``.npy`` file or
a folder of shards to its label file.

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
    "is_streamed",
    "iter_chunks",
    "open_stream",
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

    def open(self) -> np.ndarray:
        """The shard's rows: memory-mapped for ``.npy``, read for ``.npz``."""
        if self.path.suffix.lower() == ".npy":
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        with np.load(self.path, allow_pickle=False) as archive:
            return archive["x"]


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
        self.shards = shards
        self.name = shards[0].path.parent.name if len(shards) > 1 else shards[0].path.stem

    @property
    def n_samples(self) -> int:
        """Rows over all shards."""
        return sum(s.rows for s in self.shards)

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
        return f"ArrayStream({self.name!r}, shape={self.shape}, shards={len(self.shards)})"

    def chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[np.ndarray]:
        """float32 blocks of ``chunk_size`` rows (the last may be shorter), in row order; a
        block never spans two shards, so only the shard being read is open."""
        chunk_size = _check_chunk_size(chunk_size)
        for shard in self.shards:
            for block in shard.blocks(chunk_size):
                yield _features(block)

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
        return _features(self.shards[index].read(start, stop))

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
                out[where[order]] = _features(shard.open()[local[order]])
            start += shard.rows
        return out


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


def iter_chunks(X: Any, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[Any]:
    """Blocks of at most ``chunk_size`` rows of ``X``, in order: an :class:`ArrayStream`'s
    float32 chunks, or slices of an array (of a memory-mapped one, only the slice is read,
    into an array of its own; the map's pages it touched count in the process's resident
    memory until the kernel drops them, so for the smallest footprint open the file with
    :func:`open_stream` instead)."""
    if isinstance(X, ArrayStream):
        yield from X.chunks(chunk_size)
        return
    chunk_size = _check_chunk_size(chunk_size)
    mapped = isinstance(X, np.memmap)
    for start in range(0, len(X), chunk_size):
        block = X[start : start + chunk_size]
        # a memory map's block is read into memory (a writable array of its own, one chunk)
        yield np.array(block) if mapped else block
