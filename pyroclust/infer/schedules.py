"""Learning-rate schedules: picklable callables ``epoch -> multiplier`` of the base rate.

They are used with ``torch.optim.lr_scheduler.LambdaLR``; being plain objects (not lambdas),
they survive ``copy.deepcopy`` and ``sklearn.base.clone``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    """Keep the base rate."""

    def __call__(self, epoch: int) -> float:  # noqa: D102
        return 1.0


@dataclass(frozen=True)
class StepDecay:
    """Multiply the rate by ``factor`` every ``every`` epochs (VaDE: 0.9 every 10)."""

    every: int = 10
    factor: float = 0.9

    def __call__(self, epoch: int) -> float:  # noqa: D102
        return self.factor ** (epoch // max(1, self.every))


@dataclass(frozen=True)
class Cosine:
    """Cosine decay from the base rate to ``final`` times it over ``epochs`` epochs."""

    epochs: int
    final: float = 0.05

    def __call__(self, epoch: int) -> float:  # noqa: D102
        t = min(1.0, epoch / max(1, self.epochs))
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))


@dataclass(frozen=True)
class Warmup:
    """Linear warm-up over ``epochs`` epochs, then ``then`` (constant by default)."""

    epochs: int = 1
    then: object = Constant()

    def __call__(self, epoch: int) -> float:  # noqa: D102
        ramp = min(1.0, (epoch + 1) / max(1, self.epochs))
        return ramp * self.then(epoch)  # type: ignore[operator]
