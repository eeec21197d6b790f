"""``alerts``: recent alerts from the state database, newest last (§6); ``--follow`` then
prints new alerts as they are appended to the alert log, like ``tail -F`` (read with aiofiles,
§11; a rotated log is reopened at its new inode)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiofiles
from sqlalchemy.engine import make_url

from peaktrade_daemon.alerts.console import format_console
from peaktrade_daemon.alerts.log import format_timestamp, parse_line
from peaktrade_daemon.alerts.model import Alert
from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.errors import EXIT_OK
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.alert_store import AlertStore
from peaktrade_daemon.storage.db import opened_database

#: How often ``--follow`` looks for new lines and for a rotated log.
FOLLOW_POLL_S = 0.25


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
    parser.add_argument(
        "--follow",
        action="store_true",
        help="then keep printing new alerts from the alert log as they come (Ctrl-C stops)",
    )
    parser.set_defaults(handler=list_alerts)


def list_alerts(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    """Print the newest ``--limit`` alerts matching the filters."""
    settings = settings_from_args(args)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Reading must not create a database as a side effect.
        print(f"no alerts recorded yet (no state database at {url.database})")
        return _follow(args, settings) if args.follow else EXIT_OK
    return _print_alerts(args, settings)


def _show(alert: Alert, args: argparse.Namespace, row_id: int | None = None) -> None:
    if args.json:
        record = {
            "id": row_id,
            "timestamp": format_timestamp(alert.timestamp),
            "level": str(alert.level),
            "source": alert.source,
            "message": alert.message,
            "context": alert.context,
        }
        print(json.dumps(record, sort_keys=True, default=str), flush=True)
    else:
        print(format_console(alert), flush=True)


def _wanted(alert: Alert, args: argparse.Namespace) -> bool:
    return (args.level is None or str(alert.level) == args.level) and (
        args.source is None or alert.source == args.source
    )


async def _follow(args: argparse.Namespace, settings: DaemonSettings) -> int:
    """Print alerts appended to the alert log from now on, until interrupted (Ctrl-C)."""
    path = settings.path(settings.paths.alert_log)
    handle: Any = None
    inode, partial, from_start = None, "", False
    try:
        while True:
            if handle is None:
                try:
                    handle = await aiofiles.open(path, encoding="utf-8", errors="replace")
                except FileNotFoundError:  # not written yet: every line it gets is new
                    from_start = True
                    await asyncio.sleep(FOLLOW_POLL_S)
                    continue
                inode = os.fstat(handle.fileno()).st_ino
                if not from_start:
                    await handle.seek(0, os.SEEK_END)  # only what comes from now on
            chunk = await handle.readline()
            if chunk:
                partial += chunk
                if partial.endswith("\n"):
                    _print_line(partial, args)
                    partial = ""
                continue
            await asyncio.sleep(FOLLOW_POLL_S)
            try:
                rotated = os.stat(path).st_ino != inode
            except FileNotFoundError:
                rotated = True
            if rotated:  # logrotate or [logs] max_bytes moved it: read the new file whole
                await handle.close()
                handle, from_start = None, True
    finally:
        if handle is not None:
            await handle.close()


def _print_line(line: str, args: argparse.Namespace) -> None:
    try:
        alert = parse_line(line)
    except ValueError:
        return  # not an alert line: never stop following for one
    if _wanted(alert, args):
        _show(alert, args)


async def _print_alerts(args: argparse.Namespace, settings: DaemonSettings) -> int:
    async with opened_database(settings.database_url) as database:
        rows = await AlertStore(database).recent(
            limit=args.limit, level=args.level, source=args.source
        )
    if not rows and not args.json:
        # An empty answer must not look like a command that printed nothing by mistake.
        print("no alerts recorded" + (" matching the filters" if args.level or args.source else ""))
    for row in reversed(rows):
        _show(row.alert, args, row.id)
    if args.follow:
        return await _follow(args, settings)
    return EXIT_OK
