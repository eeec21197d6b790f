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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, delete, insert, select, update

from peaktrade_daemon.storage.db import Database, UTCDateTime, metadata

#: ``superseded``: a newer change of the same key replaced the watch before it was judged.
WATCH_STATES = ("watching", "passed", "reverted", "superseded")

pending_steps_table = Table(
    "promotion_pending_steps",
    metadata,
    Column("key", String(256), primary_key=True),
    Column("proposal_id", String(64), nullable=False),
    Column("proposal_created_at", UTCDateTime, nullable=False),
    Column("decision_json", Text, nullable=False),
    Column("queued_at", UTCDateTime, nullable=False),
)

watches_table = Table(
    "promotion_watches",
    metadata,
    Column("change_seq", Integer, primary_key=True),
    Column("key", String(256), nullable=False, index=True),
    Column("record_json", Text, nullable=False),
    Column("baseline_json", Text, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, default="watching", index=True),
    Column("last_health", String(16), nullable=True),
    Column("reasons_json", Text, nullable=False, default="[]"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingStepRow:
    """A key with steps left toward an accepted proposal."""

    key: str
    proposal_id: str
    proposal_created_at: datetime
    decision_json: str
    queued_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchRow:
    """One applied change under (or past) the rollback guard's observation."""

    change_seq: int
    key: str
    record_json: str
    baseline_json: str
    ends_at: datetime
    status: str = "watching"
    last_health: str | None = None
    reasons_json: str = "[]"


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class ProgressStore:
    """Reads and writes both tables (each call its own transaction)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def ensure_tables(self) -> None:
        """Create both tables if this database has not got them yet (a database opened before
        this module was imported)."""
        tables = [pending_steps_table, watches_table]
        async with self._db.engine.begin() as conn:
            await conn.run_sync(lambda c: metadata.create_all(c, tables=tables))

    async def pending(self) -> list[PendingStepRow]:
        """Every pending step, oldest first."""
        steps = pending_steps_table.c
        query = select(pending_steps_table).order_by(steps.queued_at, steps.key)
        async with self._db.transaction() as conn:
            return [PendingStepRow(**r._mapping) for r in await conn.execute(query)]

    async def replace_pending(
        self, rows: Mapping[str, tuple[str, datetime, Mapping[str, Any]]], now: datetime
    ) -> None:
        """Make the pending steps exactly ``rows`` (key -> proposal id, its creation time, the
        decision); a key kept keeps its queue time."""
        steps = pending_steps_table.c
        async with self._db.transaction() as conn:
            existing = set((await conn.scalars(select(steps.key))).all())
            gone = existing - rows.keys()
            if gone:
                await conn.execute(delete(pending_steps_table).where(steps.key.in_(gone)))
            for key, (proposal_id, created_at, decision) in rows.items():
                values = {
                    "proposal_id": proposal_id,
                    "proposal_created_at": created_at,
                    "decision_json": _dump(decision),
                }
                if key in existing:
                    await conn.execute(
                        update(pending_steps_table).where(steps.key == key).values(values)
                    )
                else:
                    await conn.execute(
                        insert(pending_steps_table).values(key=key, queued_at=now, **values)
                    )

    async def watches(self, *, status: str | None = None) -> list[WatchRow]:
        """Watch rows by change order, optionally of one status."""
        query = select(watches_table).order_by(watches_table.c.change_seq)
        if status is not None:
            query = query.where(watches_table.c.status == status)
        async with self._db.transaction() as conn:
            return [WatchRow(**r._mapping) for r in await conn.execute(query)]

    async def add_watch(
        self,
        record: Mapping[str, Any],
        baseline: Mapping[str, float],
        ends_at: datetime,
    ) -> None:
        """Start watching the change ``record`` (idempotent per record ``seq``)."""
        seq = int(record["seq"])
        watches = watches_table.c
        async with self._db.transaction() as conn:
            known = await conn.scalar(select(watches.change_seq).where(watches.change_seq == seq))
            if known is not None:
                return
            await conn.execute(
                insert(watches_table).values(
                    change_seq=seq,
                    key=str(record["key"]),
                    record_json=_dump(dict(record)),
                    baseline_json=_dump(dict(baseline)),
                    ends_at=ends_at,
                    status="watching",
                    last_health=None,
                    reasons_json="[]",
                )
            )

    async def update_watch(
        self, seq: int, *, status: str, health: str | None, reasons: tuple[str, ...]
    ) -> None:
        """Record the latest reading's health, or the judgement (``passed``/``reverted``)."""
        if status not in WATCH_STATES:
            raise ValueError(f"unknown watch status {status!r}")
        stmt = (
            update(watches_table)
            .where(watches_table.c.change_seq == seq)
            .values(status=status, last_health=health, reasons_json=_dump(reasons))
        )
        async with self._db.transaction() as conn:
            await conn.execute(stmt)

    async def forget_judged_before(self, moment: datetime) -> int:
        """Drop judged watches whose window ended before ``moment`` (the audit keeps the
        story); returns how many."""
        watches = watches_table.c
        stmt = delete(watches_table).where(watches.status != "watching", watches.ends_at < moment)
        async with self._db.transaction() as conn:
            result = await conn.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)
