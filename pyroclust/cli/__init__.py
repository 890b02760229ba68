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

Bad input (any :class:`~pyroclust.exceptions.PyroclustError`: unknown data set, missing or
corrupt file or checkpoint, bad data or options) prints one line ``pyroclust: error: ...`` to
standard error and exits with status 2, without a traceback. Ctrl-C during ``fit`` says where
the checkpoint is and how to resume, and exits with status 130.

Examples
--------
>>> main(["--version"])  # doctest: +SKIP
pyroclust 0.1.0.dev0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pyroclust.cli import fit, inspect, predict, representations
from pyroclust.cli.common import (
    PROG,
    UsageError,
    number_type,
    print_table,
    read_labels,
    write_labels,
)
from pyroclust.cli.fit import FIT_OPTIONS, SCORE_KEYS
from pyroclust.exceptions import PyroclustError

__all__ = [
    "FIT_OPTIONS",
    "PROG",
    "SCORE_KEYS",
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pyroclust`` with one sub-parser per :data:`SUBCOMMANDS` entry."""
    from pyroclust import __version__

    parser = argparse.ArgumentParser(
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

    0 on success, 2 for bad input (one ``pyroclust: error: ...`` line on standard error, or
    argparse's usage message), 130 when a fit is interrupted with Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_:  # --help, --version and usage errors
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    try:
        return int(args._run(args))
    except PyroclustError as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
