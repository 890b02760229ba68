"""``python -m pyroclust``: the same command line as ``pyroclust`` (see :mod:`pyroclust.cli`)."""

import sys

from pyroclust.cli import main

if __name__ == "__main__":
    sys.exit(main())
