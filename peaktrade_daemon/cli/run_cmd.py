"""Running the daemon itself: ``--once`` or ``--continuous`` (the default)."""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peaktrade_daemon.runtime import DaemonOptions, Plugins

WORKFLOW_CHOICES = ("auto", "signal_analysis", "risk_check", "market_scan", "portfolio_analysis")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The global options that shape a daemon run."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--once",
        action="store_true",
        help="run one autonomous cycle, then exit 0 if it succeeded, 1 if it failed "
        "(130 when interrupted by Ctrl-C)",
    )
    mode.add_argument(
        "--continuous",
        action="store_true",
        help="run until stopped (the default): a cycle every poll interval plus the scheduler, "
        "monitors and promotion worker. SIGTERM/SIGINT drain running work (daemon.drain_timeout_s) "
        "and exit 0, a second signal forces; SIGHUP reloads every config file (kept unchanged "
        "if any is invalid) and reopens the log files",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between cycles in --continuous mode (default from settings: 300)",
    )
    parser.add_argument(
        "--workflow-type",
        choices=WORKFLOW_CHOICES,
        help="workflow to decide on; auto picks one from the data (default auto)",
    )
    parser.add_argument("--symbol", action="append", metavar="SYMBOL", help="symbol (repeatable)")
    parser.add_argument("--strategy", metavar="NAME", help="restrict signals to one strategy")
    parser.add_argument(
        "--no-alerts",
        action="store_true",
        help="do not deliver alerts to the configured sinks (the alert log and console still "
        "get every alert)",
    )
    parser.add_argument(
        "--alert-log",
        metavar="PATH",
        help="alert log file (default logs/autonomous_alerts.log)",
    )
    parser.add_argument("--include-tags", metavar="A,B", help="only scheduled jobs with these tags")
    parser.add_argument("--exclude-tags", metavar="C", help="skip scheduled jobs with these tags")
    parser.add_argument("--no-scheduler", action="store_true", help="do not run scheduled jobs")
    parser.add_argument("--tag", metavar="TEXT", help="label recorded on this run")


def _tags(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def cli_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Settings the command line overrides (kept for every reload of this process)."""
    overrides: dict[str, dict[str, Any]] = {}
    if getattr(args, "poll_interval", None) is not None:
        overrides.setdefault("daemon", {})["poll_interval_s"] = args.poll_interval
    if getattr(args, "workflow_type", None) is not None:
        overrides.setdefault("daemon", {})["workflow_type"] = args.workflow_type
    if getattr(args, "alert_log", None) is not None:
        overrides.setdefault("paths", {})["alert_log"] = Path(args.alert_log).resolve()
    if getattr(args, "config", None):
        overrides.setdefault("paths", {})["config_file"] = Path(args.config).resolve()
    if getattr(args, "no_scheduler", False):
        overrides.setdefault("scheduler", {})["enabled"] = False
    return overrides


def options_from_args(args: argparse.Namespace) -> DaemonOptions:
    """The daemon options the parsed command line describes."""
    # Imported here, not at the top: the parser (built by every one-shot command) needs only
    # add_run_options, and the daemon's imports are most of the process's memory.
    from peaktrade_daemon.runtime import DaemonOptions
    from peaktrade_daemon.snapshot import SnapshotSpec

    return DaemonOptions(
        spec=SnapshotSpec(root=args.root, cli_overrides=cli_overrides(args)),
        once=bool(args.once),
        dry_run=bool(getattr(args, "dry_run", False)),
        no_alerts=bool(args.no_alerts),
        no_scheduler=bool(args.no_scheduler),
        verbose=bool(getattr(args, "verbose", False)),
        tag=args.tag,
        symbols=tuple(args.symbol or ()),
        strategy=args.strategy,
        include_tags=_tags(args.include_tags),
        exclude_tags=_tags(args.exclude_tags),
    )


def run_daemon(
    args: argparse.Namespace, plugins: Plugins | None = None
) -> Coroutine[Any, Any, int]:
    """The daemon's main coroutine for ``args`` (scripts may pass extra plugins)."""
    from peaktrade_daemon.collector import tune_collector
    from peaktrade_daemon.daemon import Daemon, default_plugins

    tune_collector()
    return Daemon(options_from_args(args), plugins=plugins or default_plugins()).run()


def handle(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Run the daemon; the CLI frame runs the coroutine on uvloop and maps errors to exit codes."""
    return run_daemon(args)
