"""Typed options of the zoo's builders: the :class:`Option` record and its value parsers.

A registry entry (:class:`pyroclust.zoo.Architecture`) lists the keyword options of its builder
that a user may set from text (the command line, a config file): each is an :class:`Option`
with a parser that turns the text into a checked value or raises ``ValueError`` with a message
that says what was expected. The command line (:mod:`pyroclust.cli`) generates one flag per
option from these records, so it never names an architecture's options itself.

Examples
--------
>>> positive_int("3"), layer_widths("500, 500,2000")
(3, [500, 500, 2000])
>>> positive_int("0")
Traceback (most recent call last):
...
ValueError: expected an integer > 0, got '0'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CSV_HEADERS",
    "MAX_SEED",
    "OPTION_TARGETS",
    "Option",
    "csv_header",
    "index_column",
    "layer_widths",
    "non_negative_float",
    "non_negative_int",
    "number",
    "positive_float",
    "positive_int",
    "seed",
]


def number(kind: type, minimum: float, *, strict: bool) -> Callable[[str], Any]:
    """A parser of a finite ``kind`` (int or float) > ``minimum`` (``strict``) or >= it.

    Parameters
    ----------
    kind : type
        ``int`` or ``float``.
    minimum : float
        The bound.
    strict : bool
        Whether the bound itself is excluded.

    Returns
    -------
    callable
        ``parse(text) -> value``; a bad value raises ``ValueError`` naming the bound.
    """

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            value = None
        if (
            value is None
            or not math.isfinite(value)
            or value < minimum
            or (strict and value == minimum)
        ):
            bound = f"{'>' if strict else '>='} {minimum:g}"
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"expected {what} {bound}, got {text!r}")
        return value

    parse.__name__ = f"{kind.__name__}_{'gt' if strict else 'ge'}_{minimum:g}"
    return parse


positive_int = number(int, 0, strict=True)
non_negative_int = number(int, 0, strict=False)
positive_float = number(float, 0.0, strict=True)
non_negative_float = number(float, 0.0, strict=False)

#: The largest random seed NumPy accepts (seeds are unsigned 32-bit integers).
MAX_SEED = 2**32 - 1


def seed(text: str) -> int:
    """A random seed: an integer from 0 to 2**32 - 1 (what NumPy and PyTorch both accept).

    >>> seed("7")
    7
    >>> seed("-1")
    Traceback (most recent call last):
    ...
    ValueError: expected an integer from 0 to 4294967295, got '-1'
    """
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise ValueError(f"expected an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


#: The values of a CSV ``header`` option as text, and what :func:`csv_header` makes of them.
CSV_HEADERS: dict[str, str | bool] = {"auto": "auto", "yes": True, "no": False}


def csv_header(text: str) -> str | bool:
    """``"auto"``, ``"yes"`` or ``"no"`` -> the ``header=`` of
    :func:`pyroclust.datasets.load_dataset` (``"auto"``, ``True``, ``False``).

    >>> csv_header("yes"), csv_header("auto")
    (True, 'auto')
    """
    key = str(text).strip().lower()
    if key not in CSV_HEADERS:
        raise ValueError(f"expected one of {', '.join(CSV_HEADERS)}, got {text!r}")
    return CSV_HEADERS[key]


def index_column(text: str) -> int | str | bool:
    """The ``index_col=`` of :func:`pyroclust.datasets.load_dataset` from text: a column
    position (``"0"``), a header name (``"id"``), or ``"none"`` (``False``: no index column).

    >>> index_column("0"), index_column("id"), index_column("none")
    (0, 'id', False)
    """
    value = str(text).strip()
    if not value:
        raise ValueError("expected a column position, a column name or 'none', got ''")
    if value.lower() == "none":
        return False
    try:
        position = int(value)
    except ValueError:
        return value
    if position < 0:
        raise ValueError(f"expected a column position >= 0, a column name or 'none', got {text!r}")
    return position


def layer_widths(text: str) -> list[int]:
    """Comma-separated positive layer widths such as ``"500,500,2000"`` -> ``[500, 500, 2000]``."""
    try:
        sizes = [int(part) for part in str(text).replace(" ", "").split(",") if part]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(
            f"expected comma-separated positive layer widths such as 500,500,2000, got {text!r}"
        )
    return sizes


@dataclass(frozen=True)
class Option:
    """A keyword option of a builder or of a training recipe, settable from text.

    Parameters
    ----------
    name : str
        The keyword (``"n_components"``); the command line offers it as ``--n-components``.
    parse : callable
        ``parse(text) -> value``, raising ``ValueError`` with a readable message for bad text.
        The value is plain JSON (it is saved in a run's ``config.json``).
    help : str
        One line for ``--help``; the default is appended by the command line.
    metavar : str
        The value's name in ``--help`` (``"K"``).
    target : {"model", "training"}
        Whose keyword it is: the entry's builder (``"model"``, the default) or its training
        recipe (``"training"``, e.g. GMVAE's temperature schedule).
    switches : tuple of (str, value) pairs
        Value-less flags that set the option, e.g. ``(("relaxed", "relaxed"),
        ("enumerated", "enumerate"))`` gives ``--relaxed`` and ``--enumerated`` beside
        ``--cluster MODE``; the three exclude one another.
    implies : callable, optional
        For a ``"training"`` option, ``implies(value) -> dict`` of builder options its value
        fixes too (a temperature schedule fixes the modules' initial temperature).
    """

    name: str
    parse: Callable[[str], Any]
    help: str
    metavar: str = "VALUE"
    target: str = "model"
    switches: tuple[tuple[str, Any], ...] = ()
    implies: Callable[[Any], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.target not in OPTION_TARGETS:
            raise ValueError(f"Option target must be one of {OPTION_TARGETS}, got {self.target!r}")

    @property
    def flag(self) -> str:
        """The command-line flag, ``--`` and the name with dashes (``"--n-components"``)."""
        return "--" + self.name.replace("_", "-")


#: Whose keyword an :class:`Option` is: the builder's or the training recipe's.
OPTION_TARGETS = ("model", "training")
