"""Fixtures for the data-set tests: the shared real data, fake official files, no network."""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pyroclust.datasets import fetch

# tests/datasets/conftest.py -> the repository root is two levels up; `shared/` lies beside it.
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep every test off the network and out of the user's real data directory.

    Only ``file://`` URLs may be downloaded (pooch gets a local-copy downloader for them); any
    other URL fails as an unreachable host would.
    """
    real_downloader = fetch._downloader

    def local_only(url: str):
        if not url.startswith("file:"):

            def refuse(url: str, output_file: str, pooch: object, check_only: bool = False):
                raise urllib.error.URLError(f"network disabled in tests: {url}")

            return refuse
        return real_downloader(url)

    monkeypatch.setattr(fetch, "_downloader", local_only)
    monkeypatch.setenv(fetch.DATA_ENV_VAR, os.fspath(tmp_path / "default-data-dir"))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The project's shared data folder (``../shared/data`` beside the repository)."""
    if not (SHARED_DATA / "mnist").is_dir() or not (SHARED_DATA / "pendigits").is_dir():
        pytest.skip(
            f"shared real data not found at {SHARED_DATA} (expected mnist/ and pendigits/ "
            "there, beside the repository clone)"
        )
    return SHARED_DATA


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.fixture
def write_idx() -> Callable[[Path, np.ndarray], Path]:
    """Write a uint8 array as a gzip-compressed IDX file, as the MNIST files are."""

    def write(path: Path, array: np.ndarray) -> Path:
        array = np.asarray(array, dtype=np.uint8)
        header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb") as handle:
            handle.write(header + array.tobytes())
        return path

    return write


@pytest.fixture
def checksum_of() -> Callable[[Path, str], str]:
    """``checksum_of(path, "sha256" | "md5")`` in the ``"<algorithm>:<hex>"`` form."""

    def checksum(path: Path, algorithm: str = "sha256") -> str:
        return _md5(path) if algorithm == "md5" else _sha256(path)

    return checksum
