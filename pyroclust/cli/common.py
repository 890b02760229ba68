"""What the subcommands share: the program name, the usage error, argparse types, the score
table, label files, and loading data and checkpoints."""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pyroclust import options
from pyroclust.exceptions import PyroclustError

PROG = "pyroclust"
CONFIG_FILE = "config.json"
TRAIN_CHECKPOINT = "train.ckpt"
MODEL_CHECKPOINT = "model.ckpt"
DEVICES = ("auto", "cpu", "cuda")

__all__ = [
    "PROG",
    "UsageError",
    "arg_type",
    "check_device",
    "jsonable",
    "load_data",
    "load_estimator",
    "number_type",
    "print_table",
    "read_labels",
    "write_labels",
]


class UsageError(PyroclustError, ValueError):
    """A command-line option that cannot be used (reported as ``pyroclust: error: ...``)."""


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


def write_labels(
    path: str | os.PathLike, labels: np.ndarray, proba: np.ndarray | None = None
) -> Path:
    """Write ``index,label`` rows (and ``p0..p{K-1}`` columns with ``proba``) as CSV."""
    path = Path(path)
    if path.parent != Path():
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        header = ["index", "label"]
        if proba is not None:
            header += [f"p{k}" for k in range(proba.shape[1])]
        writer.writerow(header)
        for i, label in enumerate(labels):
            row = [i, int(label)]
            if proba is not None:
                row += [f"{p:.6g}" for p in proba[i]]
            writer.writerow(row)
    return path


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """The ``label`` column of a file written by :func:`write_labels`."""
    with open(path, newline="") as handle:
        return np.array([int(row["label"]) for row in csv.DictReader(handle)], dtype=np.int64)


def load_data(name: str, data_dir: str | None) -> Any:
    """A named data set or a file (:func:`pyroclust.datasets.load_dataset`)."""
    from pyroclust.datasets import load_dataset

    return load_dataset(name, data_dir=data_dir)


def check_device(device: str | None) -> str:
    """``device`` (``"auto"`` when None); a usage error for CUDA where there is none."""
    device = device or "auto"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but CUDA is not available here")
    return device


def load_estimator(path: str, device: str = "auto") -> Any:
    """A fitted :class:`~pyroclust.estimator.Clusterer` from ``model.ckpt``."""
    from pyroclust.estimator import Clusterer

    return Clusterer.load(path, device=check_device(device))
