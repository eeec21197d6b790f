"""The ``peaktrade-daemon`` command line: argument parsing and mapping errors to exit codes."""

from peaktrade_daemon.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
