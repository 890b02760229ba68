"""How a reader's error names the option that is the way out.

A file's layout options are Python arguments of :func:`pyroclust.datasets.load_dataset`
(``header=True``, ``index_col='id'``) and flags of the command line (``--header yes``,
``--index-col id``). A message such as "pass index_col=0 to drop it" is only useful in the
words the user can type, so the readers build every such hint with :func:`option`, and the
command line reads data inside :func:`flags`, which makes the same hints name its flags.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["flags", "option"]

_AS_FLAGS: ContextVar[bool] = ContextVar("pyroclust_options_as_flags", default=False)
#: The command line's words for the values that Python spells as True, False.
_FLAG_WORDS = {"header": {True: "yes", False: "no"}, "index_col": {False: "none"}}
_NO_VALUE = object()


def option(name: str, value: object = _NO_VALUE) -> str:
    """``name=value`` as a Python argument (``index_col=0``, ``index_col='id'``), or the
    command line's flag under :func:`flags` (``--index-col 0``, ``--index-col id``,
    ``--header yes``); without a value, the option alone (``header=`` / ``--header``)."""
    if not _AS_FLAGS.get():
        return f"{name}=" if value is _NO_VALUE else f"{name}={value!r}"
    flag = "--" + name.replace("_", "-")
    if value is _NO_VALUE:
        return flag
    words = _FLAG_WORDS.get(name, {})
    word = words[value] if isinstance(value, bool) and value in words else str(value)
    return f"{flag} {shlex.quote(word)}"


@contextmanager
def flags() -> Iterator[None]:
    """Within this block, :func:`option` names the command line's flags."""
    token = _AS_FLAGS.set(True)
    try:
        yield
    finally:
        _AS_FLAGS.reset(token)
