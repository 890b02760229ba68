"""The README's snippet that composes a model from parts runs and gives a finite ELBO."""

from __future__ import annotations

import re
from pathlib import Path

import pyro
import torch

from pyroclust.infer.elbo import local_params

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_compose_the_parts_snippet_builds_a_working_pair() -> None:
    (block,) = [b for b in _python_blocks() if "models.VaDE(" in b]
    namespace: dict = {}
    with local_params():
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
        model, guide = namespace["model"], namespace["guide"]
        x = torch.rand(8, 64).round()
        loss = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1).differentiable_loss(model, guide, x)
    assert torch.isfinite(loss)


def test_the_quick_start_is_exactly_two_commands() -> None:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("##", 1)[0]
    (commands,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    lines = [line for line in commands.splitlines() if line.strip()]
    assert lines == [
        "pip install -e . && pyroclust fit vade",
        'pip install -e ".[test]" && python -m pytest -q',
    ]
