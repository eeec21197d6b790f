"""``alerts``: recent alerts from the state database, and a clear answer when there are none."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peaktrade_daemon.alerts.log import format_line
from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.cli.app import main
from peaktrade_daemon.storage.db import open_database
from tests.conftest import cli_command, subprocess_env


def create_empty_database(root: Path) -> None:
    """The state database with its schema and no alerts (what one-shot commands leave)."""

    async def create() -> None:
        database = await open_database(f"sqlite+aiosqlite:///{root / 'state' / 'peaktrade.db'}")
        await database.close()

    asyncio.run(create())


def test_no_database_says_so(project_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(project_root), "alerts"]) == 0
    assert "no alerts recorded yet (no state database" in capsys.readouterr().out
    assert not (project_root / "state" / "peaktrade.db").exists()


def test_empty_database_says_so_but_json_stays_empty(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_empty_database(project_root)
    assert main(["--root", str(project_root), "alerts"]) == 0
    assert capsys.readouterr().out.splitlines() == ["no alerts recorded"]
    assert main(["--root", str(project_root), "alerts", "--level", "critical"]) == 0
    assert capsys.readouterr().out.splitlines() == ["no alerts recorded matching the filters"]
    assert main(["--root", str(project_root), "alerts", "--json"]) == 0
    assert capsys.readouterr().out == ""  # JSON lines consumers get no prose


async def test_follow_prints_new_alerts_filtered_and_across_a_rotation(project_root: Path) -> None:
    """``alerts --follow``: the alerts appended from now on, with the filters, also after the
    log was moved away (logrotate), until Ctrl-C (exit 130, as for any interrupted command)."""
    log = project_root / "logs" / "autonomous_alerts.log"
    proc = await asyncio.create_subprocess_exec(
        *cli_command("--root", str(project_root), "alerts", "--follow", "--level", "critical"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )
    assert proc.stdout is not None

    async def next_line_while_writing(message: str) -> str:
        # Write until the follower shows it: it starts reading at the end of the file, so
        # lines written before it opened the file are (rightly) not shown.
        reader = asyncio.ensure_future(proc.stdout.readline())  # type: ignore[union-attr]
        async with asyncio.timeout(30):
            while True:
                with log.open("a", encoding="utf-8") as handle:
                    handle.write(format_line(alert(AlertLevel.WARNING, "filtered out")))
                    handle.write(format_line(alert(AlertLevel.CRITICAL, message)))
                done, _ = await asyncio.wait({reader}, timeout=0.5)
                if done:
                    return reader.result().decode()

    try:
        async with asyncio.timeout(30):
            assert "no alerts recorded yet" in (await proc.stdout.readline()).decode()
        first = await next_line_while_writing("before rotation")
        assert "[CRITICAL] [test] before rotation" in first
        log.rename(log.with_name(log.name + ".1"))
        second = ""
        while "after rotation" not in second:  # drain what it still read from the old file
            second = await next_line_while_writing("after rotation")
        assert "filtered out" not in first + second
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            assert await proc.wait() == 130


def alert(level: AlertLevel, message: str) -> Alert:
    return Alert(
        timestamp=datetime.now(UTC), level=level, source="test", message=message, context={}
    )
