"""``python -m pyroclust.representations``: the same as ``pyroclust representations``."""

import sys

from pyroclust.cli.representations import main

if __name__ == "__main__":
    sys.exit(main())
