"""``python -m peaktrade_daemon``: the same entry point as the console script."""

import sys

from peaktrade_daemon.cli import main

if __name__ == "__main__":
    sys.exit(main())
