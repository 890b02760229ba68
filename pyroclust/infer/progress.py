"""Progress bars that behave in a terminal, in a notebook and in a log file.

Every bar of pyroclust is made by :func:`progress_bar`, which picks how to draw it:

- in a Jupyter kernel with ``ipywidgets`` installed (the ``tutorials`` extra has it): tqdm's
  notebook widget, one line that updates in place and leaves one small output in the notebook;
- in a terminal: tqdm's text bar, refreshed up to ten times a second, as wide as the terminal;
- anywhere else (a notebook without ``ipywidgets``, where tqdm falls back to text on stderr and
  warns once that IProgress is missing; output redirected to a file; a CI log): the text bar,
  refreshed at most every :data:`QUIET_INTERVAL_S` seconds, so a long fit writes a few lines
  per minute and a short one only its first and last state, never hundreds of updates.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm as auto_tqdm
from tqdm.notebook import tqdm_notebook

#: Seconds between two refreshes of a text bar that is not drawn on a terminal.
QUIET_INTERVAL_S = 10.0


def uses_widgets() -> bool:
    """Whether bars are notebook widgets here (a Jupyter kernel with ``ipywidgets``)."""
    return issubclass(auto_tqdm, tqdm_notebook)


def _on_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # None (no console), or a closed stream
        return False


def progress_bar(**kwargs: Any) -> auto_tqdm:
    """A ``tqdm.auto`` bar with settings for where it is drawn (see the module's docstring).

    Keyword arguments are tqdm's; the ones chosen here (``dynamic_ncols`` on a terminal,
    ``mininterval`` and ``maxinterval`` off one) can be overridden by passing them.
    """
    if not uses_widgets():
        stream = kwargs.get("file") or sys.stderr
        if _on_terminal(stream):
            kwargs.setdefault("dynamic_ncols", True)
        else:
            # maxinterval too: tqdm's monitor thread would otherwise force a refresh every 10 s
            kwargs.setdefault("mininterval", QUIET_INTERVAL_S)
            kwargs.setdefault("maxinterval", max(QUIET_INTERVAL_S, kwargs["mininterval"]))
    return auto_tqdm(**kwargs)


__all__ = ["QUIET_INTERVAL_S", "progress_bar", "uses_widgets"]
