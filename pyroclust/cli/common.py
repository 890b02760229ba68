"""What the subcommands share: the program name, the usage error, argparse types, the score
table, label files, the checks of output paths and run folders, and loading data and
checkpoints.

Every check of an argument runs before anything is written: a command that fails leaves the
file system as it found it."""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pyroclust import options
from pyroclust.exceptions import DatasetError, PyroclustError

PROG = "pyroclust"
CONFIG_FILE = "config.json"
TRAIN_CHECKPOINT = "train.ckpt"
MODEL_CHECKPOINT = "model.ckpt"
DEVICES = ("auto", "cpu", "cuda")
#: The weight above which a component counts as in use, in the counts that ``fit``
#: (metrics.json) and ``inspect`` report.
IN_USE = 0.01

#: The files a ``fit`` writes to its run folder; a folder holding any of them is a run.
RUN_FILES = (
    CONFIG_FILE,
    TRAIN_CHECKPOINT,
    MODEL_CHECKPOINT,
    "metrics.json",
    "labels.csv",
    "elbo.png",
    "embedding.png",
    "samples.png",
    "reconstructions.png",
    "style_transfer.png",
    "layer_traversals.png",
)

__all__ = [
    "PROG",
    "LabelWriter",
    "RUN_FILES",
    "RunInterrupted",
    "StreamedData",
    "UsageError",
    "add_csv_arguments",
    "arg_type",
    "check_device",
    "check_output_file",
    "check_run_folder",
    "jsonable",
    "load_data",
    "load_estimator",
    "number_type",
    "open_streamed_data",
    "print_table",
    "read_labels",
    "streams",
    "write_labels",
]


class UsageError(PyroclustError, ValueError):
    """A command-line option that cannot be used (reported as ``pyroclust: error: ...``)."""


class RunInterrupted(PyroclustError):
    """Ctrl-C stopped a command; the message says what was kept and how to go on (exit 130)."""


def arg_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a value parser of :mod:`pyroclust.options`: its ``ValueError``
    becomes an ``ArgumentTypeError`` (a usage error with the parser's message)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (TypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def number_type(kind: type, minimum: float, *, strict: bool) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` (int or float) > ``minimum`` (``strict``) or >= it.

    A bad value is an ``ArgumentTypeError`` (a usage error naming the bound), not a traceback.
    """
    return arg_type(options.number(kind, minimum, strict=strict))


positive_int = arg_type(options.positive_int)
non_negative_int = arg_type(options.non_negative_int)
positive_float = arg_type(options.positive_float)
non_negative_float = arg_type(options.non_negative_float)
seed_type = arg_type(options.seed)
index_col_type = arg_type(options.index_column)


def add_site_argument(parser: Any, what: str) -> None:
    """``--site NAME``: which cluster site of a model with several (a ladder's layers) the
    subcommand ``what`` (e.g. "whose weights to read") works on; the first by default."""
    parser.add_argument(
        "--site",
        metavar="NAME",
        help=f"the cluster site {what}, for a model with several (e.g. VLAC's y2, y3); "
        "default: the first",
    )


def add_csv_arguments(parser: Any) -> None:
    """``--header`` and ``--index-col``: how a ``.csv`` file given as ``--data`` is read."""
    parser.add_argument(
        "--header",
        choices=tuple(options.CSV_HEADERS),
        help="for a .csv file: whether its first row names the columns (default: auto, which "
        "refuses ambiguous files)",
    )
    parser.add_argument(
        "--index-col",
        metavar="N|NAME|none",
        type=index_col_type,
        help="for a .csv file: the column (position or name) of row names, dropped from the "
        "features and written as the label files' index; 'none' for no such column (default: "
        "detect the 0..n-1 index of pandas' to_csv)",
    )


def jsonable(value: Any) -> Any:
    """Plain JSON values; non-finite floats become null."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def print_table(rows: Mapping[str, Any], file: Any = None) -> None:
    """Print ``key  value`` rows, keys left-aligned in one column."""
    file = file or sys.stdout
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {_fmt(value)}", file=file)


class LabelWriter:
    """Write ``index,label`` rows (and ``p0..p{K-1}`` columns with probabilities) as CSV,
    block by block: :meth:`write` appends the next rows, numbered on from the last (or named
    by ``row_names``, a CSV's row-name column), so a file of any length is written in bounded
    memory. Use it as a context manager."""

    def __init__(
        self,
        path: str | os.PathLike,
        n_components: int | None = None,
        row_names: np.ndarray | None = None,
    ) -> None:
        self.path = Path(path)
        self.n_components = n_components
        self.row_names = row_names
        self.rows = 0
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "w", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        header = ["index", "label"]
        if n_components is not None:
            header += [f"p{k}" for k in range(n_components)]
        self._writer.writerow(header)

    def write(self, labels: np.ndarray, proba: np.ndarray | None = None) -> None:
        """Append the rows of ``labels`` (and of ``proba``, shape (rows, n_components), when
        the writer was opened with ``n_components``)."""
        if (proba is None) != (self.n_components is None):
            raise ValueError("give probabilities exactly when the writer has n_components")
        start, stop = self.rows, self.rows + len(labels)
        if self.row_names is not None and len(self.row_names) < stop:
            raise ValueError(f"{len(self.row_names)} row names for at least {stop} rows")
        index = range(start, stop) if self.row_names is None else self.row_names[start:stop]
        if proba is None:
            self._writer.writerows(
                [i, int(label)] for i, label in zip(index, labels.tolist(), strict=True)
            )
        else:
            self._writer.writerows(
                [i, int(label), *(f"{p:.6g}" for p in row)]
                for i, label, row in zip(index, labels.tolist(), proba.tolist(), strict=True)
            )
        self.rows = stop

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def __enter__(self) -> LabelWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_labels(
    path: str | os.PathLike,
    labels: np.ndarray,
    proba: np.ndarray | None = None,
    row_names: np.ndarray | None = None,
) -> Path:
    """Write ``index,label`` rows (and ``p0..p{K-1}`` columns with ``proba``) as CSV; the
    index is the row number, or the row's name where ``row_names`` are given."""
    with LabelWriter(path, None if proba is None else proba.shape[1], row_names) as writer:
        writer.write(np.asarray(labels), proba)
    return writer.path


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """The ``label`` column of a file written by :func:`write_labels`."""
    with open(path, newline="") as handle:
        return np.array([int(row["label"]) for row in csv.DictReader(handle)], dtype=np.int64)


def load_data(
    name: str, data_dir: str | None, header: str | None = None, index_col: Any = None
) -> Any:
    """A named data set or a file (:func:`pyroclust.datasets.load_dataset`); ``header`` is
    ``"auto"``/``"yes"``/``"no"`` (None: auto), ``index_col`` as
    :func:`pyroclust.options.index_column` returns it (None: detect)."""
    from pyroclust.datasets import load_dataset
    from pyroclust.datasets.spelling import flags

    csv = {}
    if header is not None:
        csv["header"] = options.csv_header(header)
    if index_col is not None:
        csv["index_col"] = index_col
    with flags():  # the readers' hints name --header and --index-col
        return load_dataset(name, data_dir=data_dir, **csv)


def streams(data: str | None) -> bool:
    """Whether ``--data`` names a ``.npy`` file or a folder of ``.npy``/``.npz`` shards: data
    read in chunks (:func:`pyroclust.datasets.streaming.open_stream`), never loaded whole."""
    if not data:
        return False
    path = Path(data)
    if path.is_dir():  # a folder of shards, unless it is named like a file (a mistake)
        return path.suffix.lower() not in (".npy", ".npz", ".csv")
    # an empty file is left to the reader, which says so
    return path.suffix.lower() == ".npy" and path.is_file() and path.stat().st_size > 0


@dataclass(frozen=True)
class StreamedData:
    """A data set on disk with what a command reads of a
    :class:`~pyroclust.datasets.Dataset`: ``x`` an
    :class:`~pyroclust.datasets.streaming.ArrayStream` of shape (n_samples, n_features), no
    labels, the image shape of its rows, and their support (``"unit"`` when every value lies
    in [0, 1])."""

    x: Any
    name: str
    image_shape: tuple[int, ...] | None
    support: str
    y: None = None
    labels: None = None

    @property
    def n_samples(self) -> int:
        """Rows over all shards."""
        return int(self.x.n_samples)

    @property
    def n_features(self) -> int:
        """Width of a flattened row."""
        return int(self.x.n_features)

    @property
    def n_classes(self) -> None:
        """None: rows on disk carry no labels here."""
        return None

    @property
    def label_sets(self) -> dict[str, np.ndarray]:
        """No reference partitions."""
        return {}

    def rows(self, max_samples: int | None, random_state: int | None) -> tuple[Any, Any]:
        """An in-memory :class:`~pyroclust.datasets.Dataset` of at most ``max_samples`` rows
        (a sorted seeded subsample, :func:`~pyroclust.datasets.streaming.sample_rows`; every
        row when there are no more) and their row numbers (None: every row, in order)."""
        from pyroclust.datasets import Dataset
        from pyroclust.datasets.streaming import sample_rows

        index = sample_rows(self.n_samples, max_samples, random_state)
        x = self.x.take(np.arange(self.n_samples) if index is None else index)
        return Dataset(x, None, self.name, self.image_shape, self.support), index


def open_streamed_data(path: str | os.PathLike, chunk_size: int | None = None) -> StreamedData:
    """A ``.npy`` file or a folder of shards as :class:`StreamedData`: the headers read, the
    values scanned ``chunk_size`` rows at a time for their range (the likelihood's support).
    Rows as :func:`~pyroclust.datasets.load_dataset` reads the same file: flattened,
    ``uint8`` scaled by 1/255, images of shape (n, height, width) or (n, height, width, 1)."""
    from pyroclust.datasets import streaming

    stream = streaming.open_stream(path)
    shape = stream.shards[0].shape
    if stream.n_samples == 0:  # as load_dataset says it of an empty array
        raise DatasetError(f"{path}: array has no samples (shape {tuple(shape)}).")
    grey = len(shape) == 3 or (len(shape) == 4 and shape[-1] == 1)  # load_dataset's rule
    low, high = streaming.value_range(stream, chunk_size or streaming.DEFAULT_CHUNK_SIZE)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DatasetError(
            f"{path}: the array holds non-finite values (NaN or inf); remove or impute them."
        )
    return StreamedData(
        x=stream,
        name=stream.name,
        image_shape=(int(shape[1]), int(shape[2])) if grey else None,
        support="unit" if 0.0 <= low and high <= 1.0 else "real",
    )


def check_output_file(path: str | os.PathLike, overwrite: bool, option: str = "--out") -> Path:
    """``path`` as a file to write: not a directory, its parent not a file, and, unless
    ``overwrite``, not an existing file. Checked before any work, so nothing is lost."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a directory; give the path of a file")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"{option} {str(path)!r}: {str(parent)!r} is a file, not a folder")
    if path.exists() and not overwrite:
        raise UsageError(
            f"{option} {str(path)!r} exists; pass --overwrite to replace it, or choose another path"
        )
    return path


def run_files(out: Path) -> list[str]:
    """The files of a ``fit`` run (:data:`RUN_FILES`) present in the folder ``out``."""
    return [name for name in RUN_FILES if (out / name).exists()] if out.is_dir() else []


def check_run_folder(out: Path, *, overwrite: bool, resume: bool) -> None:
    """``out`` as the folder of a ``fit`` run: not a file; not another run unless
    ``overwrite`` (a new fit) or ``resume`` (the same one). Writes nothing."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a file, not a folder; give a folder for the run")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder")
    if resume and overwrite:
        raise UsageError("--resume continues the run in --out, --overwrite replaces it: not both")
    found = run_files(out)
    if found and not (overwrite or resume):
        raise UsageError(
            f"--out {str(out)!r} holds a run ({', '.join(found)}); pass --overwrite to replace "
            "it, --resume to continue it, or choose another folder"
        )


def check_device(device: str | None) -> str:
    """``device`` (``"auto"`` when None); a usage error for CUDA where there is none."""
    device = device or "auto"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but CUDA is not available here")
    return device


def load_estimator(path: str, device: str = "auto") -> Any:
    """A fitted :class:`~pyroclust.estimator.Clusterer` from ``model.ckpt``.

    A payload that passed :func:`~pyroclust.infer.checkpoint.load_checkpoint` but cannot be
    rebuilt (a spec of unknown keys or values, say) is a
    :class:`~pyroclust.exceptions.CheckpointError` too.
    """
    from pyroclust.estimator import Clusterer
    from pyroclust.exceptions import CheckpointError
    from pyroclust.validation import one_line

    device = check_device(device)
    try:
        return Clusterer.load(path, device=device)
    except PyroclustError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise CheckpointError(
            f"{str(path)!r} is malformed: its model cannot be rebuilt "
            f"({type(err).__name__}: {one_line(err)[:200]})"
        ) from err
