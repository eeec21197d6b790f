"""Running the daemon itself: ``--once`` or ``--continuous`` (the default)."""

from __future__ import annotations

import argparse

from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.errors import EXIT_OK

WORKFLOW_CHOICES = ("auto", "signal_analysis", "risk_check", "market_scan", "portfolio_analysis")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The global options that shape a daemon run."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run one autonomous cycle, then exit")
    mode.add_argument(
        "--continuous",
        action="store_true",
        help="run until stopped: a cycle every poll interval plus the scheduler (the default)",
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
    parser.add_argument("--no-alerts", action="store_true", help="do not send alerts")
    parser.add_argument(
        "--alert-log", metavar="PATH", help="alert log file (default logs/autonomous_alerts.log)"
    )
    parser.add_argument("--include-tags", metavar="A,B", help="only scheduled jobs with these tags")
    parser.add_argument("--exclude-tags", metavar="C", help="skip scheduled jobs with these tags")
    parser.add_argument("--no-scheduler", action="store_true", help="do not run scheduled jobs")
    parser.add_argument("--tag", metavar="TEXT", help="label recorded on this run")


def handle(args: argparse.Namespace) -> int:
    """Run the daemon. Until the runtime lands this validates the settings and says so."""
    settings = settings_from_args(args)
    print(f"peaktrade-daemon: settings valid for root {settings.root}")
    return EXIT_OK
