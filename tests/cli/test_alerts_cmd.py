"""``alerts``: recent alerts from the state database, and a clear answer when there are none."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from peaktrade_daemon.cli.app import main
from peaktrade_daemon.storage.db import open_database


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
