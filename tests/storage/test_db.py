"""Schema version stamping, ordered migrations, refusal of a newer schema, retention pruning."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.engine import Connection

from peaktrade_daemon.errors import StateError
from peaktrade_daemon.storage import (  # noqa: F401  (each declares its tables)
    alert_store,
    promotion_progress,
    promotion_store,
    runs,
)
from peaktrade_daemon.storage.db import (
    MIGRATIONS,
    Database,
    Migration,
    open_database,
    opened_database,
    prune_oldest,
)

SCHEMA_V1 = Path(__file__).with_name("schema_v1.sql")


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'test.db'}"


def _statements(text: str) -> dict[str, str]:
    """``-- name`` then its CREATE statement, whitespace-normalised, per table or index."""
    found: dict[str, str] = {}
    for block in text.split(";"):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        names = [line[3:].strip() for line in lines if line.startswith("-- ")]
        sql = " ".join(" ".join(line for line in lines if not line.startswith("--")).split())
        if names and sql:
            found[names[-1]] = sql
    return found


async def test_declared_tables_create_exactly_the_release_1_schema(tmp_path: Path) -> None:
    """Tables and indexes of schema version 1 keep their exact DDL (new tables may be added:
    ``create_all`` creates them on an old database, an existing one it leaves alone)."""
    expected = _statements(SCHEMA_V1.read_text(encoding="utf-8"))
    async with (
        asyncio.timeout(30),
        opened_database(_url(tmp_path)) as database,
        database.transaction() as conn,
    ):
        rows = (await conn.execute(text("SELECT name, sql FROM sqlite_master"))).all()
    created = {name: " ".join(sql.split()) for name, sql in rows if sql}
    assert len(expected) == 25
    assert {name: created.get(name) for name in expected} == expected


async def test_new_database_is_stamped_with_latest_without_running_steps(tmp_path: Path) -> None:
    ran: list[int] = []
    steps = (*MIGRATIONS, Migration(2, "never on a new db", lambda c: ran.append(2)))
    db = await open_database(_url(tmp_path), migrations=steps)
    try:
        assert await db.schema_version() == 2
        assert ran == []
    finally:
        await db.close()


async def test_existing_database_runs_pending_steps_in_order_once(tmp_path: Path) -> None:
    db = await open_database(_url(tmp_path))
    await db.close()

    ran: list[int] = []

    def add_column(conn: Connection) -> None:
        ran.append(2)
        conn.execute(text("ALTER TABLE alerts ADD COLUMN extra TEXT"))

    def backfill(conn: Connection) -> None:
        ran.append(3)

    steps = (*MIGRATIONS, Migration(3, "backfill", backfill), Migration(2, "add", add_column))
    db = await open_database(_url(tmp_path), migrations=steps)
    try:
        assert ran == [2, 3]
        assert await db.schema_version() == 3
        async with db.transaction() as conn:
            cols = [r[1] for r in (await conn.execute(text("PRAGMA table_info(alerts)"))).all()]
        assert "extra" in cols
    finally:
        await db.close()
    db = await open_database(_url(tmp_path), migrations=steps)
    await db.close()
    assert ran == [2, 3]


async def test_failing_step_leaves_old_version(tmp_path: Path) -> None:
    db = await open_database(_url(tmp_path))
    await db.close()

    def broken(conn: Connection) -> None:
        raise RuntimeError("bad migration")

    with pytest.raises(RuntimeError):
        await open_database(_url(tmp_path), migrations=(*MIGRATIONS, Migration(2, "x", broken)))
    db = await open_database(_url(tmp_path))
    try:
        assert await db.schema_version() == 1
    finally:
        await db.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    steps = (*MIGRATIONS, Migration(7, "future", lambda c: None))
    db = await open_database(_url(tmp_path), migrations=steps)
    await db.close()
    with pytest.raises(StateError, match="newer"):
        await open_database(_url(tmp_path))


async def test_prune_oldest_keeps_newest_matching_rows(tmp_path: Path) -> None:
    db = await open_database(_url(tmp_path))
    table = Table(
        "prune_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("kind", Integer),
    )
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(table.create)
        async with db.transaction() as conn:
            await conn.execute(insert(table), [{"id": i, "kind": i % 2} for i in range(1, 21)])
        async with db.transaction() as conn:
            deleted = await prune_oldest(
                conn, table, keep=3, order_by=table.c.id, where=table.c.kind == 1
            )
        assert deleted == 7
        async with db.transaction() as conn:
            ids = [
                r[0] for r in (await conn.execute(select(table.c.id).order_by(table.c.id))).all()
            ]
        odd = [i for i in ids if i % 2]
        even = [i for i in ids if not i % 2]
        assert odd == [15, 17, 19]
        assert even == list(range(2, 21, 2))  # untouched: not matched by `where`
        async with db.transaction() as conn:
            assert await prune_oldest(conn, table, keep=100, order_by=table.c.id) == 0
    finally:
        await db.close()


@pytest.mark.slow
def test_processes_creating_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Regression: two CLI commands on a fresh root raced in create_all ("table ... already
    exists"); schema creation now runs under the database file's sidecar lock."""
    import subprocess
    import sys
    import textwrap

    from tests.conftest import subprocess_env

    url = f"sqlite+aiosqlite:///{tmp_path / 'state' / 'peaktrade.db'}"
    script = textwrap.dedent(
        """
        import sys, uvloop
        from peaktrade_daemon.storage import alert_store, runs, promotion_store  # all tables
        from peaktrade_daemon.storage.db import open_database

        async def main():
            db = await open_database(sys.argv[1])
            await db.close()

        uvloop.run(main())
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url],
            env=subprocess_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, "\n".join(errors)


async def test_opened_database_closes_on_the_way_out_also_when_the_block_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Database] = []
    real_close = Database.close

    async def close(self: Database) -> None:
        closed.append(self)
        await real_close(self)

    monkeypatch.setattr(Database, "close", close)
    async with asyncio.timeout(10):
        async with opened_database(_url(tmp_path)) as database, database.transaction() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        assert closed == [database]
        with pytest.raises(RuntimeError, match="boom"):
            async with opened_database(_url(tmp_path)) as failing:
                raise RuntimeError("boom")
        assert closed == [database, failing]
