"""History tables of the workflow side: workflow runs, decisions, cycle summaries and job runs.

Everything an operator asks afterwards ("what ran, why, did it work?") is answered from these
rows: ``history`` lists workflow runs, a decision keeps its full criteria breakdown, and the job
runs table remembers the fire time each job last ran for, which is what ``jobs run --due --once``
compares against. Tables live on :data:`~peaktrade_daemon.storage.db.metadata`, so
``open_database`` creates them with everything else. Table names avoid APScheduler's own
(``jobs``, ``schedules``, ``tasks``) because its data store shares the database.

Each table has a frozen record type (``WorkflowRunRow`` ...) with one field per column: what the
store takes to insert and gives back from a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Delete,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection

from peaktrade_daemon.storage.db import Database, UTCDateTime, metadata

workflow_runs_table = Table(
    "workflow_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("workflow_type", String(64), nullable=False, index=True),
    Column("state", String(16), nullable=False, index=True),
    Column("trigger", String(32), nullable=False, default="manual"),
    Column("tag", String(200), nullable=True),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("report_dir", Text, nullable=True),
    Column("summary", JSON, nullable=False, default=dict),
)

decisions_table = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cycle_id", String(64), nullable=False, index=True),
    Column("decided_at", UTCDateTime, nullable=False, index=True),
    Column("workflow_type", String(64), nullable=False),
    Column("symbol", String(64), nullable=True),
    Column("action", String(16), nullable=False, index=True),
    Column("confidence", Float, nullable=False),
    Column("reasoning", JSON, nullable=False, default=list),
    Column("criteria", JSON, nullable=False, default=list),
    Column("details", JSON, nullable=False, default=dict),
)

cycle_summaries_table = Table(
    "cycle_summaries",
    metadata,
    Column("cycle_id", String(64), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False, index=True),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("workflow_type", String(64), nullable=False),
    Column("selection_reason", Text, nullable=False),
    Column("symbol", String(64), nullable=True),
    Column("action", String(16), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("executed", Boolean, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("tag", String(200), nullable=True),
    Column("details", JSON, nullable=False, default=dict),
)

job_runs_table = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_name", String(200), nullable=False, index=True),
    Column("trigger", String(32), nullable=False),
    Column("fire_time", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("error", Text, nullable=True),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowRunRow:
    """One workflow run, from creation to its final state."""

    table: ClassVar[Table] = workflow_runs_table

    run_id: str
    name: str
    workflow_type: str
    state: str
    trigger: str = "manual"
    tag: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    error: str | None = None
    report_dir: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionRow:
    """One decision with every criterion's value, comparison, threshold, weight and outcome
    (``id`` is None until stored)."""

    table: ClassVar[Table] = decisions_table

    id: int | None = None
    cycle_id: str
    decided_at: datetime
    workflow_type: str
    symbol: str | None = None
    action: str
    confidence: float
    reasoning: list[str] = field(default_factory=list)
    criteria: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleSummaryRow:
    """What one autonomous cycle chose, decided and did."""

    table: ClassVar[Table] = cycle_summaries_table

    cycle_id: str
    started_at: datetime
    finished_at: datetime
    workflow_type: str
    selection_reason: str
    symbol: str | None = None
    action: str
    confidence: float
    executed: bool
    success: bool
    run_id: str | None = None
    tag: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRunRow:
    """One run of a scheduled job, with the fire time it ran for (None for ad-hoc runs;
    ``id`` is None until stored)."""

    table: ClassVar[Table] = job_runs_table

    id: int | None = None
    job_name: str
    trigger: str
    fire_time: datetime | None = None
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str
    run_id: str | None = None
    error: str | None = None


def _values(row: WorkflowRunRow | DecisionRow | CycleSummaryRow | JobRunRow) -> dict[str, Any]:
    """The row's columns for an INSERT; an ``id`` not assigned yet is left to the database."""
    values = {f.name: getattr(row, f.name) for f in fields(row)}
    if values.get("id", 0) is None:
        del values["id"]
    return values


class RunStore:
    """Reads and writes the history tables through one :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def save_run(self, row: WorkflowRunRow) -> None:
        """Insert or update a workflow run (keyed by run id)."""
        values = _values(row)
        # Update first: a run is saved when created and again at every state change, so most
        # saves find their row (SQLite counts the rows matched, also with unchanged values).
        async with self.database.transaction() as conn:
            changed = await conn.execute(
                update(workflow_runs_table)
                .where(workflow_runs_table.c.run_id == row.run_id)
                .values(values)
            )
            if not _count(changed):
                await conn.execute(insert(workflow_runs_table).values(values))

    async def add(self, row: DecisionRow | CycleSummaryRow | JobRunRow) -> None:
        """Insert one decision, cycle summary or job run."""
        async with self.database.transaction() as conn:
            await conn.execute(insert(row.table), _values(row))

    async def runs(
        self, limit: int | None = None, *, workflow_type: str | None = None
    ) -> Sequence[WorkflowRunRow]:
        """Workflow runs, newest first, optionally of one type only."""
        query = select(workflow_runs_table).order_by(workflow_runs_table.c.created_at.desc())
        if workflow_type is not None:
            query = query.where(workflow_runs_table.c.workflow_type == workflow_type)
        if limit is not None:
            query = query.limit(limit)
        async with self.database.transaction() as conn:
            return [WorkflowRunRow(**r._mapping) for r in await conn.execute(query)]

    async def run(self, run_id: str) -> WorkflowRunRow | None:
        """One workflow run by id."""
        query = select(workflow_runs_table).where(workflow_runs_table.c.run_id == run_id)
        async with self.database.transaction() as conn:
            found = (await conn.execute(query)).first()
        return None if found is None else WorkflowRunRow(**found._mapping)

    async def decisions(self, cycle_id: str | None = None) -> Sequence[DecisionRow]:
        """Decisions, oldest first, optionally of one cycle."""
        query = select(decisions_table).order_by(decisions_table.c.id)
        if cycle_id is not None:
            query = query.where(decisions_table.c.cycle_id == cycle_id)
        async with self.database.transaction() as conn:
            return [DecisionRow(**r._mapping) for r in await conn.execute(query)]

    async def cycles(self, limit: int | None = None) -> Sequence[CycleSummaryRow]:
        """Cycle summaries, newest first."""
        query = select(cycle_summaries_table).order_by(cycle_summaries_table.c.started_at.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self.database.transaction() as conn:
            return [CycleSummaryRow(**r._mapping) for r in await conn.execute(query)]

    async def job_runs(self, job_name: str | None = None) -> Sequence[JobRunRow]:
        """Job runs, oldest first, optionally of one job."""
        query = select(job_runs_table).order_by(job_runs_table.c.id)
        if job_name is not None:
            query = query.where(job_runs_table.c.job_name == job_name)
        async with self.database.transaction() as conn:
            return [JobRunRow(**r._mapping) for r in await conn.execute(query)]

    async def last_fire_times(self) -> dict[str, datetime]:
        """Per job, the latest fire time it ran for (scheduled or ``--due`` runs)."""
        query = (
            select(job_runs_table.c.job_name, func.max(job_runs_table.c.fire_time))
            .where(job_runs_table.c.fire_time.is_not(None))
            .group_by(job_runs_table.c.job_name)
        )
        async with self.database.transaction() as conn:
            rows = (await conn.execute(query)).all()
        # func.max bypasses the column type, so SQLite hands back a naive value or a string.
        result: dict[str, datetime] = {}
        for name, value in rows:
            if value is None:
                continue
            when = datetime.fromisoformat(value) if isinstance(value, str) else value
            result[name] = when if when.tzinfo else when.replace(tzinfo=UTC)
        return result

    async def mark_interrupted(self, reason: str, now: datetime) -> list[str]:
        """Runs still ``pending`` or ``running`` (their process was killed) become ``failed``
        with ``reason``; returns their ids. Called once at daemon start-up, before anything
        runs, so no run of this process can be caught."""
        unfinished = workflow_runs_table.c.state.in_(("pending", "running"))
        async with self.database.transaction() as conn:
            ids = list(
                (await conn.scalars(select(workflow_runs_table.c.run_id).where(unfinished))).all()
            )
            if ids:
                await conn.execute(
                    update(workflow_runs_table)
                    .where(workflow_runs_table.c.run_id.in_(ids))
                    .values(state="failed", error=reason, finished_at=now)
                )
        return ids

    async def record_cycle(
        self, *rows: DecisionRow | CycleSummaryRow, decisions: int
    ) -> dict[str, int]:
        """Insert one cycle's rows and apply the retention limit of the tables they went to
        (decisions and cycle summaries keep ``decisions`` rows each), in one transaction: one
        commit per cycle instead of one per row and one for the prune. Returns the rows deleted
        per table, as :meth:`prune` does."""
        async with self.database.transaction() as conn:
            for row in rows:
                await conn.execute(insert(row.table), _values(row))
            return await _prune(conn, {row.table.name: decisions for row in rows})

    async def prune(self, *, workflow_runs: int, decisions: int) -> dict[str, int]:
        """Keep only the newest ``workflow_runs`` runs and ``decisions`` decisions, and as many
        cycle summaries (every cycle stores one decision and one summary); returns the rows
        deleted per table."""
        limits = {
            "workflow_runs": workflow_runs,
            "decisions": decisions,
            "cycle_summaries": decisions,
        }
        async with self.database.transaction() as conn:
            return await _prune(conn, limits)

    async def prune_runs(self, *, workflow_runs: int) -> int:
        """Keep only the newest ``workflow_runs`` workflow runs (after storing one: the other
        history tables grow with cycles, which prune their own); returns the rows deleted."""
        async with self.database.transaction() as conn:
            deleted = await _prune(conn, {"workflow_runs": workflow_runs})
        return deleted["workflow_runs"]


def _prune_statements() -> dict[str, tuple[Delete, str, int]]:
    """Per history table: the DELETE of its oldest rows, the name of its limit parameter and
    what to add to the number of rows kept to get that parameter. Built once: the prune runs
    after every cycle, and building and cache-keying three statements with subqueries each time
    was a good part of the cycle's database CPU.

    Each cut-off is a subquery; one the subquery cannot find (fewer rows than the limit) is NULL,
    and ``x < NULL`` deletes nothing.
    """
    runs, decided, cycles = workflow_runs_table.c, decisions_table.c, cycle_summaries_table.c
    oldest_run = (
        select(runs.created_at)
        .order_by(runs.created_at.desc())
        .offset(bindparam("runs_offset"))
        .limit(1)
        .scalar_subquery()
    )
    newest_decision = select(func.max(decided.id)).scalar_subquery()
    oldest_cycle = (
        select(cycles.started_at)
        .order_by(cycles.started_at.desc())
        .offset(bindparam("cycles_offset"))
        .limit(1)
        .scalar_subquery()
    )
    keep_decisions = bindparam("keep_decisions", type_=Integer)
    return {
        "workflow_runs": (
            delete(workflow_runs_table).where(runs.created_at < oldest_run),
            "runs_offset",
            -1,  # the offset of the oldest row kept
        ),
        "decisions": (
            delete(decisions_table).where(decided.id <= newest_decision - keep_decisions),
            "keep_decisions",
            0,
        ),
        "cycle_summaries": (
            delete(cycle_summaries_table).where(cycles.started_at < oldest_cycle),
            "cycles_offset",
            -1,
        ),
    }


_PRUNE = _prune_statements()


async def _prune(conn: AsyncConnection, keep: dict[str, int]) -> dict[str, int]:
    """Inside an open transaction, one DELETE per table named in ``keep`` (table name -> rows
    to keep); returns the rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, rows in keep.items():
        stmt, param, shift = _PRUNE[table]
        deleted[table] = _count(await conn.execute(stmt, {param: rows + shift}))
    return deleted


def _count(result: Result[Any]) -> int:
    """Rows a statement changed (``rowcount``; -1 from a driver that cannot tell counts as 0)."""
    return max(0, int(getattr(result, "rowcount", 0) or 0))
