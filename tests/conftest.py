"""Fixtures shared by the whole suite: a clean Pyro state in every test, tiny data sets."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import pytest
import torch

from pyroclust import zoo

# tests/conftest.py -> the repository root is one level up; `shared/` lies beside it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    """One intra-op thread: the suite's tensors are tiny, and on a shared machine extra
    threads only wait for each other (a tenfold slowdown measured on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _fresh_pyro() -> Iterator[None]:
    """A fresh Pyro param store, validation on, and a fixed seed in every test (as in Pyro)."""
    pyro.clear_param_store()
    pyro.enable_validation(True)
    pyro.set_rng_seed(0)
    yield
    pyro.clear_param_store()


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
