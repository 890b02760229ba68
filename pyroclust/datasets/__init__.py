"""Data sets for clustering: named benchmarks, users' files, and synthetic mixtures.

>>> from pyroclust.datasets import load_dataset
>>> ds = load_dataset("digits")          # embedded, no file needed
>>> ds.x.shape, ds.support
((1797, 64), 'unit')

``load_dataset("mnist", data_dir)`` reads the official files from ``data_dir/mnist/``,
verifies their checksums, and downloads missing ones from the official source.
"""

from pyroclust.datasets.base import Dataset
from pyroclust.datasets.fetch import fetch_file, file_checksum, get_data_dir, verify_checksum
from pyroclust.datasets.formats import read_user_file
from pyroclust.datasets.registry import (
    DATASETS,
    available_datasets,
    load_colored_mnist,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_pendigits,
    load_usps,
)
from pyroclust.datasets.sources import SOURCES, RemoteFile
from pyroclust.datasets.synthetic import make_zipf_mixture, zipf_weights

__all__ = [
    "DATASETS",
    "SOURCES",
    "Dataset",
    "RemoteFile",
    "available_datasets",
    "fetch_file",
    "file_checksum",
    "get_data_dir",
    "load_colored_mnist",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_pendigits",
    "load_usps",
    "make_zipf_mixture",
    "read_user_file",
    "verify_checksum",
    "zipf_weights",
]
