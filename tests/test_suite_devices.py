"""The suite's device rule (the root ``conftest.py``): CUDA hidden outside the tests marked
``cuda``, so a machine with a GPU runs the CPU suite as a CPU-only machine does."""

from __future__ import annotations

import os

import pytest
import torch

from pyroclust.infer import resolve_device

#: ``torch.cuda.is_available`` as imported, before any test's fixture replaced it.
REAL_IS_AVAILABLE = torch.cuda.is_available


@pytest.mark.skipif(os.environ.get("PYROCLUST_SUITE_ON_GPU") == "1", reason="asked to see the GPU")
def test_an_unmarked_test_sees_no_cuda_here_or_in_its_children() -> None:
    assert torch.cuda.is_available() is False
    assert resolve_device("auto") == torch.device("cpu")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.cuda
def test_a_cuda_test_sees_the_machine_as_it_is() -> None:
    assert torch.cuda.is_available is REAL_IS_AVAILABLE
    want = "cuda" if REAL_IS_AVAILABLE() else "cpu"
    assert resolve_device("auto").type == want
