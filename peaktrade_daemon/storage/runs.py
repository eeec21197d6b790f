"""History tables of the workflow side: workflow runs, decisions, cycle summaries and job runs.

Everything an operator asks afterwards ("what ran, why, did it work?") is answered from these
rows: ``history`` lists workflow runs, a decision keeps its full criteria breakdown, and the job
runs table remembers the fire time each job last ran for, which is what ``jobs run --due --once``
compares against. Tables live on :class:`~peaktrade_daemon.storage.db.Base`, so
``open_database`` creates them with everything else. Table names avoid APScheduler's own
(``jobs``, ``schedules``, ``tasks``) because its data store shares the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from peaktrade_daemon.storage.db import Base, Database


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Aware in, naive UTC to the database; a naive value is refused, never guessed."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Naive UTC from the database, aware UTC out."""
        return None if value is None else value.replace(tzinfo=UTC)


class WorkflowRunRow(Base):
    """One workflow run, from creation to its final state."""

    __tablename__ = "workflow_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    workflow_type: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    trigger: Mapped[str] = mapped_column(String(32), default="manual")
    tag: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    report_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DecisionRow(Base):
    """One decision with every criterion's value, comparison, threshold, weight and outcome."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cycle_id: Mapped[str] = mapped_column(String(64), index=True)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    workflow_type: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(16), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    reasoning: Mapped[list[str]] = mapped_column(JSON, default=list)
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CycleSummaryRow(Base):
    """What one autonomous cycle chose, decided and did."""

    __tablename__ = "cycle_summaries"

    cycle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    workflow_type: Mapped[str] = mapped_column(String(64))
    selection_reason: Mapped[str] = mapped_column(Text)
    symbol: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    executed: Mapped[bool] = mapped_column(Boolean)
    success: Mapped[bool] = mapped_column(Boolean)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tag: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class JobRunRow(Base):
    """One run of a scheduled job, with the fire time it ran for (None for ad-hoc runs)."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_name: Mapped[str] = mapped_column(String(200), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    fire_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunStore:
    """Reads and writes the history tables through one :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def save_run(self, row: WorkflowRunRow) -> None:
        """Insert or update a workflow run (keyed by run id)."""
        async with self.database.session() as session:
            await session.merge(row)

    async def add(self, row: DecisionRow | CycleSummaryRow | JobRunRow) -> None:
        """Insert one decision, cycle summary or job run."""
        async with self.database.session() as session:
            session.add(row)

    async def runs(
        self, limit: int | None = None, *, workflow_type: str | None = None
    ) -> Sequence[WorkflowRunRow]:
        """Workflow runs, newest first, optionally of one type only."""
        query = select(WorkflowRunRow).order_by(WorkflowRunRow.created_at.desc())
        if workflow_type is not None:
            query = query.where(WorkflowRunRow.workflow_type == workflow_type)
        if limit is not None:
            query = query.limit(limit)
        async with self.database.session() as session:
            return (await session.scalars(query)).all()

    async def run(self, run_id: str) -> WorkflowRunRow | None:
        """One workflow run by id."""
        async with self.database.session() as session:
            return await session.get(WorkflowRunRow, run_id)

    async def decisions(self, cycle_id: str | None = None) -> Sequence[DecisionRow]:
        """Decisions, oldest first, optionally of one cycle."""
        query = select(DecisionRow).order_by(DecisionRow.id)
        if cycle_id is not None:
            query = query.where(DecisionRow.cycle_id == cycle_id)
        async with self.database.session() as session:
            return (await session.scalars(query)).all()

    async def cycles(self, limit: int | None = None) -> Sequence[CycleSummaryRow]:
        """Cycle summaries, newest first."""
        query = select(CycleSummaryRow).order_by(CycleSummaryRow.started_at.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self.database.session() as session:
            return (await session.scalars(query)).all()

    async def job_runs(self, job_name: str | None = None) -> Sequence[JobRunRow]:
        """Job runs, oldest first, optionally of one job."""
        query = select(JobRunRow).order_by(JobRunRow.id)
        if job_name is not None:
            query = query.where(JobRunRow.job_name == job_name)
        async with self.database.session() as session:
            return (await session.scalars(query)).all()

    async def last_fire_times(self) -> dict[str, datetime]:
        """Per job, the latest fire time it ran for (scheduled or ``--due`` runs)."""
        query = (
            select(JobRunRow.job_name, func.max(JobRunRow.fire_time))
            .where(JobRunRow.fire_time.is_not(None))
            .group_by(JobRunRow.job_name)
        )
        async with self.database.session() as session:
            rows = (await session.execute(query)).all()
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
        unfinished = WorkflowRunRow.state.in_(("pending", "running"))
        async with self.database.session() as session:
            ids = list(
                (await session.scalars(select(WorkflowRunRow.run_id).where(unfinished))).all()
            )
            if ids:
                await session.execute(
                    update(WorkflowRunRow)
                    .where(WorkflowRunRow.run_id.in_(ids))
                    .values(state="failed", error=reason, finished_at=now)
                )
        return ids

    async def record_cycle(
        self, *rows: DecisionRow | CycleSummaryRow, workflow_runs: int, decisions: int
    ) -> dict[str, int]:
        """Insert one cycle's rows and apply the retention limits, in one transaction (one
        commit per cycle instead of one per row and one for the prune); returns the rows
        deleted per table, as :meth:`prune` does."""
        async with self.database.session() as session:
            session.add_all(rows)
            await session.flush()
            return await _prune(session, workflow_runs=workflow_runs, decisions=decisions)

    async def prune(self, *, workflow_runs: int, decisions: int) -> dict[str, int]:
        """Keep only the newest ``workflow_runs`` runs and ``decisions`` decisions, and as many
        cycle summaries (every cycle stores one decision and one summary); returns the rows
        deleted per table."""
        async with self.database.session() as session:
            return await _prune(session, workflow_runs=workflow_runs, decisions=decisions)


async def _prune(session: AsyncSession, *, workflow_runs: int, decisions: int) -> dict[str, int]:
    """:meth:`RunStore.prune` inside an open transaction: one DELETE per table, each with its
    cut-off as a subquery (it runs after every cycle, so statements count). A cut-off the
    subquery cannot find (fewer rows than the limit) is NULL, and ``x < NULL`` deletes nothing.
    """
    oldest_run = (
        select(WorkflowRunRow.created_at)
        .order_by(WorkflowRunRow.created_at.desc())
        .offset(workflow_runs - 1)
        .limit(1)
        .scalar_subquery()
    )
    newest_decision = select(func.max(DecisionRow.id)).scalar_subquery()
    oldest_cycle = (
        select(CycleSummaryRow.started_at)
        .order_by(CycleSummaryRow.started_at.desc())
        .offset(decisions - 1)
        .limit(1)
        .scalar_subquery()
    )
    statements = {
        "workflow_runs": delete(WorkflowRunRow).where(WorkflowRunRow.created_at < oldest_run),
        "decisions": delete(DecisionRow).where(DecisionRow.id <= newest_decision - decisions),
        "cycle_summaries": delete(CycleSummaryRow).where(CycleSummaryRow.started_at < oldest_cycle),
    }
    return {table: _count(await session.execute(stmt)) for table, stmt in statements.items()}


def _count(result: Any) -> int:
    """Rows a DELETE removed (``rowcount``; -1 from a driver that cannot tell counts as 0)."""
    return max(0, int(getattr(result, "rowcount", 0) or 0))
