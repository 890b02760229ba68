"""State hygiene for every test pytest runs here: the suite under ``tests/`` and the
examples in the package's docstrings (``--doctest-modules``, see ``pyproject.toml``)."""

from __future__ import annotations

from collections.abc import Iterator

import pyro
import pytest
import torch


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
    """A fresh Pyro param store, validation on, and a fixed seed in every test and every
    docstring example (as in Pyro): an example's parameters do not leak into the next."""
    pyro.clear_param_store()
    pyro.enable_validation(True)
    pyro.set_rng_seed(0)
    yield
    pyro.clear_param_store()
