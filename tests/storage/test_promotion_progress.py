"""The promotion worker's progress tables: created on a database that predates them, watches
judged once and pruned long after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import inspect, text

from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.promotion_progress import ProgressStore

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TABLES = {"promotion_pending_steps", "promotion_watches"}


async def _tables(db_url: str) -> set[str]:
    db = await open_database(db_url)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.close()


async def test_tables_appear_on_an_older_database_and_rows_round_trip(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
    db = await open_database(url)
    try:
        async with db.transaction() as conn:  # as a database from before this release
            for table in TABLES:
                await conn.execute(text(f"DROP TABLE {table}"))
        store = ProgressStore(db)
        await store.ensure_tables()
        record = {"seq": 7, "key": "portfolio.leverage", "before": None, "after": 1.25}
        await store.add_watch(record, {"sharpe_ratio": 1.5}, T0)
        await store.add_watch(record, {"sharpe_ratio": 0.1}, T0)  # idempotent per seq
        [row] = await store.watches(status="watching")
        assert (row.change_seq, row.ends_at, row.baseline_json) == (7, T0, '{"sharpe_ratio": 1.5}')
        await store.update_watch(7, status="passed", health="healthy", reasons=("ok",))
        assert await store.watches(status="watching") == []
        assert await store.forget_judged_before(T0) == 0
        assert await store.forget_judged_before(T0 + timedelta(days=31)) == 1
        await store.replace_pending({"a.b": ("20260301T090000Z-00000000", T0, {"x": 1})}, T0)
        await store.replace_pending({}, T0)
        assert await store.pending() == []
    finally:
        await db.close()
    assert await _tables(url) >= TABLES
