"""The start that keeps the constructor's random values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pyroclust.infer.session import FitSession


@dataclass
class RandomInit:
    """Keep the random initial values the model was constructed with (no pretraining)."""

    def __call__(  # noqa: D102
        self,
        model: Any,
        guide: Any,
        x: torch.Tensor,
        *,
        random_state: int | None = None,
        progress: bool = False,
        session: FitSession | None = None,
        **kwargs: Any,
    ) -> None:
        return None
