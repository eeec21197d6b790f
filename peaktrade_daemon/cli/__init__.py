"""The ``peaktrade-daemon`` command line: argument parsing and mapping errors to exit codes.

This package module stays light: :func:`main` is the console script's entry point and holds
SIGTERM/SIGINT/SIGHUP (:mod:`peaktrade_daemon.early_signals`) before the CLI's imports run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from peaktrade_daemon import early_signals

if TYPE_CHECKING:
    from peaktrade_daemon.cli.app import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``peaktrade-daemon`` and ``python -m peaktrade_daemon``."""
    early_signals.hold()
    try:
        from peaktrade_daemon.cli.app import main as run

        return run(argv)
    finally:
        early_signals.release()


def __getattr__(name: str) -> Any:
    if name == "build_parser":
        from peaktrade_daemon.cli.app import build_parser

        return build_parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
