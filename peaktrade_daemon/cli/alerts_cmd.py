"""``alerts``: recent alerts from the state database, newest last (§6)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from peaktrade_daemon.alerts.console import format_console
from peaktrade_daemon.alerts.log import format_timestamp
from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.errors import EXIT_OK
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.db import opened_database


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``alerts``."""
    parser = subparsers.add_parser(
        "alerts",
        parents=[common],
        help="list recent alerts recorded by the daemon",
        description=(
            "List recent alerts from the state database (the same alerts as "
            "logs/autonomous_alerts.log, minus repeats suppressed by de-duplication), oldest "
            "first, as `[ts] [LEVEL] [source] message`."
        ),
    )
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="how many (default 50)")
    parser.add_argument("--level", choices=("info", "warning", "critical"), help="only this level")
    parser.add_argument("--source", metavar="NAME", help="only alerts from this source")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=list_alerts)


def list_alerts(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    """Print the newest ``--limit`` alerts matching the filters."""
    settings = settings_from_args(args)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Reading must not create a database as a side effect.
        print(f"no alerts recorded yet (no state database at {url.database})")
        return EXIT_OK
    return _print_alerts(args, settings)


async def _print_alerts(args: argparse.Namespace, settings: DaemonSettings) -> int:
    async with opened_database(settings.database_url) as database:
        rows = await AlertStore(database).recent(
            limit=args.limit, level=args.level, source=args.source
        )
    if not rows and not args.json:
        # An empty answer must not look like a command that printed nothing by mistake.
        print("no alerts recorded" + (" matching the filters" if args.level or args.source else ""))
    for row in reversed(rows):
        a = row.alert
        if args.json:
            record = {
                "id": row.id,
                "timestamp": format_timestamp(a.timestamp),
                "level": str(a.level),
                "source": a.source,
                "message": a.message,
                "context": a.context,
            }
            print(json.dumps(record, sort_keys=True, default=str))
        else:
            print(format_console(a))
    return EXIT_OK
