"""State hygiene for every test pytest runs here: the suite under ``tests/`` and the
examples in the package's docstrings (``--doctest-modules``, see ``pyproject.toml``)."""

from __future__ import annotations

import os
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


#: Set to 1 to let the whole suite's ``device="auto"`` see a GPU (``benchmarks/gpu_checks.sh
#: suite``, which looks for CUDA bugs through the CPU tests).
SUITE_ON_GPU = "PYROCLUST_SUITE_ON_GPU"


@pytest.fixture(autouse=True)
def _cpu_unless_marked_cuda(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite runs on the CPU on every machine, a GPU one too: its tests hand CPU tensors
    to models and compare results bit for bit, which ``device="auto"`` moving the model to a
    GPU would break. CUDA is hidden from this process (``torch.cuda.is_available``) and from
    the ones it starts (``CUDA_VISIBLE_DEVICES``), except in tests marked ``cuda`` (the
    GPU tests, skipped without one) or under ``PYROCLUST_SUITE_ON_GPU=1``."""
    if request.node.get_closest_marker("cuda") is not None or os.environ.get(SUITE_ON_GPU) == "1":
        return
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
