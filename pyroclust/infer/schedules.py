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


# ---------------------------------------------------------------------------------------------
# temperature schedules: trainer callbacks ``(trainer, epoch) -> None``
# ---------------------------------------------------------------------------------------------
def set_temperature(value: float, *modules: object) -> int:
    """Set the relaxation temperature of every submodule of ``modules`` that has a
    ``temperature`` buffer (through its ``set_temperature`` method when it has one); return
    how many were set."""
    found = 0
    for root in modules:
        for module in getattr(root, "modules", lambda: ())():
            if "temperature" not in getattr(module, "_buffers", {}):
                continue
            setter = getattr(module, "set_temperature", None)
            if callable(setter):
                setter(value)
            else:
                module._buffers["temperature"].fill_(value)
            found += 1
    return found


@dataclass(frozen=True)
class TemperatureAnnealing:
    r"""Anneal a Gumbel-Softmax temperature from ``start`` to ``end`` over ``epochs`` epochs.

    A trainer callback ``(trainer, epoch) -> None`` (``Clusterer(callbacks=[...])`` or
    ``SVITrainer(callbacks=[...])``): called after each epoch with the number of epochs
    completed e, it sets every ``temperature`` buffer of ``trainer.model`` and
    ``trainer.guide`` to T(e), the temperature of the next epoch:

    .. math:: T(e) = \mathrm{start}\,(\mathrm{end}/\mathrm{start})^{\min(e, E)/E}
              \quad\text{("exponential")}, \qquad
              T(e) = \mathrm{start} + (\mathrm{end} - \mathrm{start})\min(e, E)/E
              \quad\text{("linear")},

    so T(E) = end exactly and T stays there. The exponential form is that of the authors' code
    of "Is Simple Better?" (jariasf/GMVAE: ``max(T0 * exp(-r * (i + 1)), T_min)`` after epoch
    i, with r = 0.00693 ≈ ln 2 / 100), i.e. the paper's "from 1 to 0.5 in the first 100
    epochs"; here r = ln(start / end) / E, so the end is met on time. The first epoch runs at
    the modules' own temperature: build them with ``temperature=start``.

    Parameters
    ----------
    start, end : float
        The temperatures at epoch 0 and from epoch ``epochs`` on (> 0).
    epochs : int
        E, the length of the annealing (0: ``end`` from the first call).
    kind : {"exponential", "linear"}
    strict : bool
        Raise when the trainer's model and guide have no ``temperature`` buffer; with
        ``strict=False`` do nothing then, so that one training recipe serves a relaxed and an
        enumerated model.

    Raises
    ------
    ValueError
        When called (``strict=True``) on a trainer whose model and guide have no
        ``temperature`` buffer.

    Examples
    --------
    >>> schedule = TemperatureAnnealing(1.0, 0.5, 100)
    >>> round(schedule.value(50), 4), schedule.value(100), schedule.value(300)
    (0.7071, 0.5, 0.5)
    >>> TemperatureAnnealing.from_spec("1:0.5:100") == schedule
    True
    """

    start: float = 1.0
    end: float = 0.5
    epochs: int = 100
    kind: str = "exponential"
    strict: bool = True

    @classmethod
    def from_spec(cls, text: str, **options: object) -> TemperatureAnnealing:
        """The schedule ``START:END:EPOCHS`` (the command line's form), e.g. ``"1:0.5:100"``;
        ``options`` are the other fields (``kind``, ``strict``)."""
        parts = str(text).split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            start, end, epochs = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(
                f"expected a temperature schedule START:END:EPOCHS (e.g. 1:0.5:100), got {text!r}"
            ) from None
        return cls(start, end, epochs, **options)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = float(getattr(self, name))
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"the {name} temperature must be finite and > 0, got {value}")
        if int(self.epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.kind not in ("exponential", "linear"):
            raise ValueError(f"kind must be 'exponential' or 'linear', got {self.kind!r}")

    def value(self, epoch: int) -> float:
        """T after ``epoch`` completed epochs."""
        if epoch >= self.epochs:
            return float(self.end)
        t = max(0, int(epoch)) / self.epochs
        if self.kind == "linear":
            return float(self.start + (self.end - self.start) * t)
        return float(self.start * (self.end / self.start) ** t)

    def __call__(self, trainer: object, epoch: int) -> None:  # noqa: D102
        value = self.value(epoch)
        found = set_temperature(
            value, getattr(trainer, "model", None), getattr(trainer, "guide", None)
        )
        if not found and self.strict:
            raise ValueError(
                "TemperatureAnnealing found no 'temperature' buffer in the trainer's model or "
                "guide: it is for relaxed (Gumbel-Softmax) cluster sites"
            )
