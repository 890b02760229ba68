"""Exceptions raised by pyroclust for bad input, data and checkpoints.

Each derives from a built-in (``ValueError`` or ``RuntimeError``) so that callers who catch the
built-in keep working, and each message says what was wrong and what to do.
"""

from __future__ import annotations


class PyroclustError(Exception):
    """Base class of every error pyroclust raises on purpose."""


class DataError(PyroclustError, ValueError):
    """Input data of the wrong shape, type, support, or with non-finite values."""


class DataTypeError(DataError, TypeError):
    """Input data whose values are not numbers (a ``TypeError`` too, as in scikit-learn)."""


class DatasetError(PyroclustError, ValueError):
    """A data set that cannot be found, read, verified or downloaded."""


class CheckpointError(PyroclustError, ValueError):
    """A checkpoint that is missing, corrupt, tampered with, or of another model."""


class NonFiniteLossError(PyroclustError, RuntimeError):
    """Training produced a non-finite loss; the last good parameters were kept.

    Attributes ``epoch`` and ``step`` name where it happened.
    """

    def __init__(self, message: str, *, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
