"""The ``pyroclust`` command line: a thin layer over :mod:`pyroclust.zoo`,
:class:`~pyroclust.estimator.Clusterer`, :mod:`pyroclust.datasets` and :mod:`pyroclust.metrics`.

One module per subcommand (:mod:`~pyroclust.cli.fit`, :mod:`~pyroclust.cli.predict`,
:mod:`~pyroclust.cli.inspect`, :mod:`~pyroclust.cli.representations`), each with
``add_arguments(parser)`` (the options of its ``argparse`` sub-parser, with its
``description`` / ``epilog``) and ``run(args) -> int`` (the work; the exit status), the first
line of ``run``'s docstring being the one-line help; :mod:`~pyroclust.cli.common` holds what
they share. The explicit registry :data:`SUBCOMMANDS` (name -> ``(add_arguments, run)``) drives
the parser: adding a subcommand is a module and one line. Library modules never import this
package.

Errors have one edge, :func:`main`: an expected failure (a
:class:`~pyroclust.exceptions.PyroclustError`, such as an unknown data set, a missing or
corrupt file or checkpoint, bad data or options, a diverging fit; or a ``ValueError`` or
``OSError`` from a library underneath) prints one line ``pyroclust: error: ...`` to standard
error and exits with status 2, without a traceback; so does a usage error of the parser. Any
other exception is a bug and keeps its traceback. Ctrl-C prints one line (for ``fit``: where
the checkpoint is and how to ``--resume``) and exits with status 130. The subcommands check
every argument before they create or replace a file.

Examples
--------
>>> main(["--version"])  # doctest: +SKIP
pyroclust 0.1.0.dev0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from pyroclust.cli import fit, inspect, predict, representations
from pyroclust.cli.common import (
    PROG,
    RunInterrupted,
    UsageError,
    number_type,
    print_table,
    read_labels,
    write_labels,
)
from pyroclust.cli.fit import FIT_OPTIONS, SCORE_KEYS
from pyroclust.cli.suggest import unrecognized
from pyroclust.exceptions import PyroclustError
from pyroclust.validation import one_line

__all__ = [
    "FIT_OPTIONS",
    "PROG",
    "SCORE_KEYS",
    "ArgumentParser",
    "SUBCOMMANDS",
    "UsageError",
    "build_parser",
    "main",
    "number_type",
    "print_table",
    "read_labels",
    "write_labels",
]

Subcommand = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

#: The subcommands: name -> (add_arguments, run). Register a new one with one line here.
SUBCOMMANDS: dict[str, Subcommand] = {
    "fit": (fit.add_arguments, fit.run),
    "predict": (predict.add_arguments, predict.run),
    "inspect": (inspect.add_arguments, inspect.run),
    "representations": (representations.add_arguments, representations.run),
}

# the former names of the subcommands' functions, kept for callers of pyroclust.cli
run_fit, run_predict, run_inspect = fit.run, predict.run, inspect.run
run_representations = representations.run

MAIN_EPILOG = """\
examples:
  pyroclust fit vade                                  # VaDE on the embedded digits data
  pyroclust fit vade --data mnist --data-dir ~/data --epochs 50 --out runs/mnist
  pyroclust predict runs/mnist/model.ckpt --data new.npz --out labels.csv
  pyroclust inspect runs/mnist/model.ckpt
  pyroclust representations --data mnist --data-dir ~/data --out runs/representations
  pyroclust fit --help                                # the architectures of the zoo
  pyroclust SUBCOMMAND --help                         # the options of one subcommand
"""


#: The namespace attribute naming the sub-parser that unknown arguments were given to.
_OWNER = "_pyroclust_unrecognized_by"


class ArgumentParser(argparse.ArgumentParser):
    """``argparse``'s parser whose usage errors are one line, ``pyroclust: error: ...``, naming
    the subcommand's ``--help`` (its sub-parsers are of this class too)."""

    def error(self, message: str) -> NoReturn:  # noqa: D102
        self.exit(2, f"{PROG}: error: {one_line(message)} (see: {self.prog} --help)\n")

    def parse_known_args(  # type: ignore[override]  # noqa: D102
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and getattr(namespace, _OWNER, None) is None:
            setattr(namespace, _OWNER, self)  # the innermost sub-parser that was left extras
        return namespace, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """argparse's, but unknown options are reported by the sub-parser they were given to
        (its ``--help``), with the flag each most likely meant (:mod:`.suggest`)."""
        namespace, extras = self.parse_known_args(args, namespace)
        owner = vars(namespace).pop(_OWNER, self)
        if extras:
            options = [flag for action in owner._actions for flag in action.option_strings]
            owner.error(unrecognized(extras, options))
        return namespace


def _error_line(err: BaseException) -> str:
    """The one line of an expected failure: its message, flattened; an OSError's reason and
    file when it has them."""
    if isinstance(err, OSError) and err.strerror:
        where = f": {err.filename}" if err.filename is not None else ""
        return f"{err.strerror}{where}"
    return one_line(err) or type(err).__name__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pyroclust`` with one sub-parser per :data:`SUBCOMMANDS` entry."""
    from pyroclust import __version__

    parser = ArgumentParser(
        prog=PROG,
        description="Deep generative clustering with Pyro: fit a model of the zoo, apply it,\n"
        "inspect its mixture weights.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    for name, (add_arguments, run) in SUBCOMMANDS.items():
        doc = (run.__doc__ or "").strip().splitlines()
        child = sub.add_parser(
            name,
            help=doc[0] if doc else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(child)
        child.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default); return the exit status.

    0 on success; 2 for bad input or an expected failure (one ``pyroclust: error: ...`` line
    on standard error, no traceback); 130 when interrupted with Ctrl-C (one line). Any other
    exception is a bug and propagates with its traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_:  # --help, --version and usage errors
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    try:
        return int(args._run(args))
    except RunInterrupted as err:
        print(f"\n{PROG}: {one_line(err)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except (PyroclustError, ValueError, OSError) as err:
        print(f"{PROG}: error: {_error_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
