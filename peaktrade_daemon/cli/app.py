"""Parse the command line, dispatch to one handler, map errors to exit codes (§3.2).

Global options come before the subcommand (``peaktrade-daemon --root /srv/pt config show``).
With no subcommand the daemon runs (``--continuous`` unless ``--once``). Each subcommand lives in
its own module with a ``register(subparsers, common)`` function, imported only when that command
runs (see :mod:`peaktrade_daemon.cli.subcommands`); handlers take the parsed arguments and return
an exit code (or a coroutine that does, run on uvloop).

Errors print one line, ``peaktrade-daemon: error: ...``, never a traceback unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import errno
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import uvloop

from peaktrade_daemon import early_signals, journal, logline
from peaktrade_daemon.cli import run_cmd
from peaktrade_daemon.cli.subcommands import LazySubcommands
from peaktrade_daemon.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PeakTradeError,
)

PROG = "peaktrade-daemon"

# (command, module whose register() adds it). Order is the order in --help. A module is
# imported only when its command runs: the daemon and each one-shot command load what they use.
COMMAND_MODULES: tuple[tuple[str, str], ...] = (
    ("config", "peaktrade_daemon.cli.config_cmd"),
    ("overrides", "peaktrade_daemon.cli.overrides_cmd"),
    ("jobs", "peaktrade_daemon.cli.jobs_cmd"),
    ("history", "peaktrade_daemon.cli.history_cmd"),
    ("learn", "peaktrade_daemon.cli.learn_cmd"),
    ("promote", "peaktrade_daemon.cli.promote_cmd"),
    ("proposals", "peaktrade_daemon.cli.proposals_cmd"),
    ("replay", "peaktrade_daemon.cli.replay_cmd"),
    ("alerts", "peaktrade_daemon.cli.alerts_cmd"),
    ("health", "peaktrade_daemon.cli.health_cmd"),
)

EPILOG = """\
exit codes:
  0    success (also a daemon stopped by SIGTERM/SIGINT)
  1    the work ran and failed (a workflow failed, a check found a problem)
  2    usage or configuration error (nothing written)
  3    refused for safety (policy missing or invalid, lock held, global promotion lock)
  130  a one-shot command interrupted by Ctrl-C

Paths resolve against --root (default: $PEAKTRADE_ROOT, else the current directory).
Settings come from <root>/config/daemon.toml, overridable as PEAKTRADE_<SECTION>__<KEY>.
"""


class _VersionAction(argparse.Action):
    """``--version``: print ``peaktrade-daemon <version>`` and exit 0. The version is looked up
    only when the option is given (argparse's own ``version`` action wants it at parser build
    time, which would cost every command the metadata lookup)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from peaktrade_daemon.version import installed_version

        print(f"{PROG} {installed_version()}", flush=True)  # stdout, as argparse's own does
        parser.exit()


def common_options() -> argparse.ArgumentParser:
    """Options accepted both before and after a subcommand (after wins)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dry-run",
        action="store_true",
        default=argparse.SUPPRESS,
        help="write nothing outside logs/; print what would be done",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="more detail (each monitor, criteria breakdown); tracebacks on errors",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full parser; each subcommand's module is imported when that command is looked up."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Autonomous operations daemon for a trading desk: watches markets, signals and "
            "portfolio performance, decides with explainable weighted criteria, runs analysis "
            "workflows on a schedule, and promotes learned config changes to live overrides "
            "through a fail-closed governance policy."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the installed version and exit"
    )
    parser.add_argument(
        "--root", metavar="DIR", help="root directory (default $PEAKTRADE_ROOT or .)"
    )
    parser.add_argument(
        "--config", metavar="PATH", help="trading config file (default <root>/config/config.toml)"
    )
    parser.add_argument("--dry-run", action="store_true", help="write nothing outside logs/")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail; tracebacks")
    run_cmd.add_run_options(parser)
    parser.set_defaults(handler=run_cmd.handle)

    subparsers = cast(
        LazySubcommands,
        parser.add_subparsers(title="commands", metavar="COMMAND", action=LazySubcommands),
    )
    common = common_options()
    for name, module in COMMAND_MODULES:
        subparsers.add_lazy(name, module, common)
    return parser


def _error(text: str) -> None:
    """One error line on stderr (priority ``err`` when stderr is the journal)."""
    print(journal.prefix(sys.stderr, journal.ERROR) + logline.one_line(text), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    handler: Callable[[argparse.Namespace], Any] = args.handler
    try:
        if not logging.getLogger().handlers:
            logline.configure_stderr(verbose=verbose)
        if handler is not run_cmd.handle:
            # Only the daemon acts on signals held since the entry point (it releases them once
            # its loop handlers are in place); every other command gets the default behaviour.
            early_signals.release()
        result = handler(args)
        if inspect.iscoroutine(result):
            result = uvloop.run(result)
        return int(result or 0)
    except KeyboardInterrupt:
        _error(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except PeakTradeError as exc:
        if verbose:
            traceback.print_exc()
        _error(f"{PROG}: error: {exc}")
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (``history | head -1``): stop quietly, as a SIGPIPE'd tool does.
        # Standard output is pointed at /dev/null so the interpreter's final flush is quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # an unexpected failure still gets one clear line
        problem = _bad_path(exc)
        if problem is not None:  # every path comes from the operator (a flag or a setting)
            _error(f"{PROG}: error: {problem}")
            return EXIT_USAGE
        if verbose:
            traceback.print_exc()
        _error(
            f"{PROG}: error: unexpected {type(exc).__name__}: {exc} (run with --verbose for details)"
        )
        return EXIT_FAILED


def _bad_path(exc: Exception) -> str | None:
    """What is wrong with a path the OS refused by its form (not by its state), if that was it."""
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return f"file name too long: {str(exc.filename or '')[:100]}..."
    if isinstance(exc, FileExistsError | NotADirectoryError) and exc.filename:
        where = Path(str(exc.filename))
        if isinstance(exc, NotADirectoryError) or (where.exists() and not where.is_dir()):
            return f"{where}: a file is where a directory must be (state/, logs/, reports/...)"
    if isinstance(exc, ValueError) and "embedded null byte" in str(exc):
        return "a path contains a NUL byte"
    return None


def usage_error(message: str) -> int:
    """Print a usage error the same way argparse does and return exit code 2."""
    _error(f"{PROG}: error: {message}")
    return EXIT_USAGE
