"""Fixtures shared by the suite: tiny data sets and models (the clean Pyro state of every
test is the repository root's ``conftest.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyroclust import zoo

# tests/conftest.py -> the repository root is one level up; `shared/` lies beside it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The project's shared data folder (``../shared/data`` beside the repository); skipped
    when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


def blobs(n: int = 48, n_features: int = 12, *, seed: int = 0) -> np.ndarray:
    """``n`` rows in [0, 1] from three well-separated prototypes: float32 (n, n_features)."""
    rng = np.random.default_rng(seed)
    protos = rng.random((3, n_features)) > 0.5
    labels = np.arange(n) % 3
    x = np.where(protos[labels], 0.85, 0.15) + rng.normal(0, 0.05, (n, n_features))
    return np.clip(x, 0.0, 1.0).astype(np.float32)


@pytest.fixture
def x_small() -> np.ndarray:
    """48 rows, 12 features in [0, 1], three clusters."""
    return blobs()


@pytest.fixture
def tiny_vade() -> Callable[..., tuple[Any, Any]]:
    """Factory of a tiny VaDE (12 features, 3 components, 2-D latent, one hidden layer of 8)."""

    def make(**kwargs: Any) -> tuple[Any, Any]:
        options = {"n_features": 12, "n_components": 3, "latent_dim": 2, "hidden": (8,)}
        options.update(kwargs)
        return zoo.make("vade", **options)

    return make


@pytest.fixture
def make_blobs() -> Callable[..., np.ndarray]:
    """The :func:`blobs` generator, for tests that need other sizes."""
    return blobs


@pytest.fixture
def interrupt_at_epoch(monkeypatch) -> Callable[[int], Any]:
    """``with interrupt_at_epoch(k): ...``: every SVI stage stops with a KeyboardInterrupt
    (a Ctrl-C) as its epoch ``k`` ends, before that epoch is saved."""
    from pyroclust.infer import SVITrainer

    original = SVITrainer._early_stopping

    @contextlib.contextmanager
    def interrupt(epoch: int) -> Iterator[None]:
        def early_stopping(self: SVITrainer, elbo: float) -> None:
            if self.epoch == epoch:
                raise KeyboardInterrupt
            original(self, elbo)

        with monkeypatch.context() as patch:
            patch.setattr(SVITrainer, "_early_stopping", early_stopping)
            yield

    return interrupt
