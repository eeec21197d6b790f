"""History tables: round trips with aware UTC times, last fire time per job, retention."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import StatementError

from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.runs import (
    CycleSummaryRow,
    DecisionRow,
    JobRunRow,
    RunStore,
    WorkflowRunRow,
)

T0 = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunStore]:
    async with asyncio.timeout(30):
        database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'state.db'}")
    yield RunStore(database)
    async with asyncio.timeout(30):
        await database.close()


def run_row(i: int) -> WorkflowRunRow:
    return WorkflowRunRow(
        run_id=f"r{i}",
        name="n",
        workflow_type="market_scan",
        state="completed",
        trigger="cycle",
        parameters={"i": i},
        created_at=T0 + timedelta(minutes=i),
        summary={},
    )


async def test_last_fire_times_per_job(store: RunStore) -> None:
    async with asyncio.timeout(60):
        async with asyncio.timeout(10):
            for job, fire in [("a", T0), ("a", T0 + timedelta(days=1)), ("b", T0), ("c", None)]:
                await store.add(
                    JobRunRow(
                        job_name=job,
                        trigger="scheduler",
                        fire_time=fire,
                        started_at=T0,
                        outcome="completed",
                    )
                )
            last = await store.last_fire_times()
        assert last == {"a": T0 + timedelta(days=1), "b": T0}
        assert all(v.tzinfo is not None for v in last.values())


async def test_runs_newest_first_and_retention(store: RunStore) -> None:
    async with asyncio.timeout(60):
        async with asyncio.timeout(10):
            for i in range(5):
                await store.save_run(run_row(i))
                for row in cycle_rows(i):
                    await store.add(row)
            assert [r.run_id for r in await store.runs(2)] == ["r4", "r3"]
            assert (await store.run("r0")).created_at == T0  # type: ignore[union-attr]
            await store.prune(workflow_runs=3, decisions=2)
            runs = [r.run_id for r in await store.runs()]
            decisions = [d.cycle_id for d in await store.decisions()]
            cycles = [c.cycle_id for c in await store.cycles()]
        assert runs == ["r4", "r3", "r2"] and decisions == ["c3", "c4"]
        # One summary per decision: the cycle table is held to the same limit.
        assert cycles == ["c4", "c3"]
        # After a workflow run only the runs table is pruned; the cycle prunes its own tables.
        assert await store.prune_runs(workflow_runs=1) == 2
        assert [r.run_id for r in await store.runs()] == ["r4"]
        assert [d.cycle_id for d in await store.decisions()] == ["c3", "c4"]


async def test_naive_datetimes_are_refused(store: RunStore) -> None:
    async with asyncio.timeout(60):
        row = dataclasses.replace(run_row(0), created_at=datetime(2026, 3, 2, 8, 15))
        with pytest.raises(StatementError, match="naive datetime"):
            async with asyncio.timeout(10):
                await store.save_run(row)


def cycle_rows(i: int) -> tuple[DecisionRow, CycleSummaryRow]:
    decision = DecisionRow(
        cycle_id=f"c{i}", decided_at=T0, workflow_type="x", action="SKIP", confidence=0.0
    )
    summary = CycleSummaryRow(
        cycle_id=f"c{i}",
        started_at=T0 + timedelta(minutes=i),
        finished_at=T0 + timedelta(minutes=i, seconds=1),
        workflow_type="x",
        selection_reason="requested",
        action="SKIP",
        confidence=0.0,
        executed=False,
        success=True,
    )
    return decision, summary


async def test_record_cycle_stores_both_rows_and_prunes_in_one_transaction(
    store: RunStore,
) -> None:
    async with asyncio.timeout(60):
        deleted = []
        for i in range(4):
            deleted.append(await store.record_cycle(*cycle_rows(i), decisions=2))
        decisions = [d.cycle_id for d in await store.decisions()]
        cycles = [c.cycle_id for c in await store.cycles()]
        assert decisions == ["c2", "c3"] and cycles == ["c3", "c2"]
        assert all(set(d) == {"decisions", "cycle_summaries"} for d in deleted)
        assert [d["decisions"] for d in deleted] == [0, 0, 1, 1]
        assert [d["cycle_summaries"] for d in deleted] == [0, 0, 1, 1]
        # A row the database refuses rolls the whole cycle back: no decision without summary.
        decision, summary = cycle_rows(9)
        # naive: refused by UTCDateTime
        summary = dataclasses.replace(summary, started_at=datetime(2026, 3, 2, 8, 15))
        with pytest.raises(StatementError, match="naive datetime"):
            await store.record_cycle(decision, summary, decisions=2)
        assert [d.cycle_id for d in await store.decisions()] == ["c2", "c3"]
