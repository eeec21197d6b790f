"""``history``: recent workflow runs from the state database (§3.2)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.errors import EXIT_OK, UsageError
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.db import database_missing as sqlite_file_missing
from peaktrade_daemon.storage.db import opened_database
from peaktrade_daemon.storage.runs import RunStore, WorkflowRunRow
from peaktrade_daemon.workflows.reports import to_jsonable


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``history``."""
    history = subparsers.add_parser(
        "history",
        parents=[common],
        help="recent workflow runs (state, duration, error, report directory)",
    )
    history.add_argument("--limit", type=int, default=20, metavar="N", help="rows (default 20)")
    # Not dest="workflow_type": settings_from_args reads that name as the daemon's own
    # --workflow-type flag and would validate a custom type against the built-in choices.
    history.add_argument("--type", dest="run_type", metavar="TYPE", help="only this type")
    history.add_argument("--json", action="store_true", help="one JSON object per line")
    history.set_defaults(handler=show_history)


def database_missing(settings: DaemonSettings) -> bool:
    """True when the state database is a SQLite file that does not exist yet."""
    return sqlite_file_missing(settings.database_url)


async def _rows(
    settings: DaemonSettings, limit: int, workflow_type: str | None
) -> list[WorkflowRunRow]:
    async with opened_database(settings.database_url) as database:
        return list(await RunStore(database).runs(limit, workflow_type=workflow_type))


async def _show(args: argparse.Namespace, settings: DaemonSettings) -> int:
    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: must be >= 0")
    limit = args.limit
    # Reading history must not create a database where none exists.
    missing = database_missing(settings)
    rows = [] if missing else await _rows(settings, limit, args.run_type or None)
    if not rows:
        print("no workflow runs recorded")
        return EXIT_OK
    for row in rows:
        if args.json:
            print(json.dumps(to_jsonable(dataclasses.asdict(row)), sort_keys=True))
            continue
        started = f"{row.started_at:%Y-%m-%d %H:%M:%S}" if row.started_at else "-"
        duration = f"{row.duration_s:.1f}s" if row.duration_s is not None else "-"
        error = f"  {row.error}" if row.error else ""
        print(
            f"{started}  {row.run_id}  {row.workflow_type:<18} {row.state:<9} "
            f"{duration:>8}  {row.trigger}{error}"
        )
    return EXIT_OK


def show_history(args: argparse.Namespace) -> object:
    """Print recent workflow runs, newest first."""
    return _show(args, settings_from_args(args))
