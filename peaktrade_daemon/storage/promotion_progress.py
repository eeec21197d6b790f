"""What the promotion worker is in the middle of, kept across restarts (§8.3, §8.5): the
remaining bounded steps of accepted proposals, and the changes the rollback guard watches.

Pending steps: one row per key still to be stepped toward a proposal (the accepted decision as
``config_patches.json`` stores it). Watches: one row per audit ``change`` record put under
observation, keyed by the record's ``seq``, with the pre-change baseline and the end of the bake
window; the row stays after judgement (``passed``, ``reverted``) so a change is judged once.

New tables on an existing database come from ``create_all`` (see ``storage/db.py``: migrations
are for changes to existing tables). Values are JSON text; the audit trail stays the record of
what changed, these rows only say what is still to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from peaktrade_daemon.storage.db import Base, Database, UTCDateTime

#: ``superseded``: a newer change of the same key replaced the watch before it was judged.
WATCH_STATES = ("watching", "passed", "reverted", "superseded")


class PendingStepRow(Base):
    """A key with steps left toward an accepted proposal."""

    __tablename__ = "promotion_pending_steps"

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(String(64))
    proposal_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision_json: Mapped[str] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WatchRow(Base):
    """One applied change under (or past) the rollback guard's observation."""

    __tablename__ = "promotion_watches"

    change_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(256), index=True)
    record_json: Mapped[str] = mapped_column(Text)
    baseline_json: Mapped[str] = mapped_column(Text)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="watching", index=True)
    last_health: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reasons_json: Mapped[str] = mapped_column(Text, default="[]")


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class ProgressStore:
    """Reads and writes both tables (each call its own transaction)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def ensure_tables(self) -> None:
        """Create both tables if this database has not got them yet (a database opened before
        this module was imported)."""
        tables = [
            Base.metadata.tables[PendingStepRow.__tablename__],
            Base.metadata.tables[WatchRow.__tablename__],
        ]
        async with self._db.engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables))

    async def pending(self) -> list[PendingStepRow]:
        """Every pending step, oldest first."""
        query = select(PendingStepRow).order_by(PendingStepRow.queued_at, PendingStepRow.key)
        async with self._db.session() as session:
            return list((await session.scalars(query)).all())

    async def replace_pending(
        self, rows: Mapping[str, tuple[str, datetime, Mapping[str, Any]]], now: datetime
    ) -> None:
        """Make the pending steps exactly ``rows`` (key -> proposal id, its creation time, the
        decision); a key kept keeps its queue time."""
        async with self._db.session() as session:
            existing = {r.key: r for r in (await session.scalars(select(PendingStepRow))).all()}
            for key, row in existing.items():
                if key not in rows:
                    await session.delete(row)
            for key, (proposal_id, created_at, decision) in rows.items():
                current = existing.get(key)
                if current is None:
                    current = PendingStepRow(key=key, queued_at=now)
                    session.add(current)
                current.proposal_id, current.proposal_created_at = proposal_id, created_at
                current.decision_json = _dump(decision)

    async def watches(self, *, status: str | None = None) -> list[WatchRow]:
        """Watch rows by change order, optionally of one status."""
        query = select(WatchRow).order_by(WatchRow.change_seq)
        if status is not None:
            query = query.where(WatchRow.status == status)
        async with self._db.session() as session:
            return list((await session.scalars(query)).all())

    async def add_watch(
        self,
        record: Mapping[str, Any],
        baseline: Mapping[str, float],
        ends_at: datetime,
    ) -> None:
        """Start watching the change ``record`` (idempotent per record ``seq``)."""
        async with self._db.session() as session:
            if await session.get(WatchRow, int(record["seq"])) is not None:
                return
            session.add(
                WatchRow(
                    change_seq=int(record["seq"]),
                    key=str(record["key"]),
                    record_json=_dump(dict(record)),
                    baseline_json=_dump(dict(baseline)),
                    ends_at=ends_at,
                    status="watching",
                    reasons_json="[]",
                )
            )

    async def update_watch(
        self, seq: int, *, status: str, health: str | None, reasons: tuple[str, ...]
    ) -> None:
        """Record the latest reading's health, or the judgement (``passed``/``reverted``)."""
        if status not in WATCH_STATES:
            raise ValueError(f"unknown watch status {status!r}")
        async with self._db.session() as session:
            row = await session.get(WatchRow, seq)
            if row is not None:
                row.status, row.last_health, row.reasons_json = status, health, _dump(reasons)

    async def forget_judged_before(self, moment: datetime) -> int:
        """Drop judged watches whose window ended before ``moment`` (the audit keeps the
        story); returns how many."""
        stmt = delete(WatchRow).where(WatchRow.status != "watching", WatchRow.ends_at < moment)
        async with self._db.session() as session:
            result = await session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)
