"""Alerts and the durable alert outbox in the state database (§3.6, §6).

An alert and one outbox row per sink it must reach are inserted in the same transaction, so an
alert is never recorded without its deliveries, nor a delivery queued for an alert that is not
recorded. Each outbox row carries a random ``delivery_key`` sent with every attempt (payload ``id``
and the ``Idempotency-Key`` header): the row is marked delivered only after the sink answered 2xx,
so a crash between the answer and the commit can make one more attempt after restart, which the
receiver recognises by the same key. That is the "exactly once after recovery" contract.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
    exists,
    func,
    insert,
    select,
    update,
)

from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.settings import RetentionSection
from peaktrade_daemon.storage.db import Database, UTCDateTime, metadata, prune_oldest

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"

#: One recorded alert (after de-duplication).
alerts_table = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("level", String(16), nullable=False),
    Column("source", String(200), nullable=False),
    Column("message", Text, nullable=False),
    Column("context_json", Text, nullable=False, default="{}"),
    Column("fingerprint", String(64), nullable=False, default=""),
)

#: One delivery of one alert to one sink, with its retry state.
outbox_table = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("sink", String(200), nullable=False),
    Column("delivery_key", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False, default=PENDING),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_alert_outbox_due", "sink", "status", "next_attempt_at"),
)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as read back from the database."""

    id: int
    alert: Alert


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A pending delivery with the alert it carries."""

    outbox_id: int
    alert_id: int
    sink: str
    delivery_key: str
    attempts: int
    alert: Alert


def _to_alert(row: RowMapping) -> Alert:
    """The alert of an ``alerts`` row (or of a join exposing its columns by the same names)."""
    return Alert(
        timestamp=row["created_at"],
        level=AlertLevel(row["level"]),
        source=row["source"],
        message=row["message"],
        context=json.loads(row["context_json"]),
    )


def _context_json(context: dict[str, Any]) -> str:
    return json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)


class AlertStore:
    """Queries and updates of the ``alerts`` and ``alert_outbox`` tables."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(
        self, alert: Alert, *, fingerprint: str = "", sinks: Sequence[str] = ()
    ) -> tuple[int, list[str]]:
        """Insert the alert and a pending outbox row per sink; returns (alert id, delivery keys)."""
        keys = [secrets.token_hex(16) for _ in sinks]
        async with self._db.transaction() as conn:
            inserted = await conn.execute(
                insert(alerts_table)
                .values(
                    created_at=alert.timestamp,
                    level=str(alert.level),
                    source=alert.source,
                    message=alert.message,
                    context_json=_context_json(alert.context),
                    fingerprint=fingerprint,
                )
                .returning(alerts_table.c.id)
            )
            alert_id: int = inserted.scalar_one()
            if keys:
                await conn.execute(
                    insert(outbox_table),
                    [
                        {
                            "alert_id": alert_id,
                            "sink": sink,
                            "delivery_key": key,
                            "status": PENDING,
                            "attempts": 0,
                            "next_attempt_at": alert.timestamp,
                            "last_error": "",
                            "created_at": alert.timestamp,
                            "delivered_at": None,
                        }
                        for sink, key in zip(sinks, keys, strict=True)
                    ],
                )
            return alert_id, keys

    async def recent(
        self, *, limit: int = 50, level: str | None = None, source: str | None = None
    ) -> list[StoredAlert]:
        """The newest alerts first, optionally filtered by exact level or source."""
        stmt = select(alerts_table).order_by(alerts_table.c.id.desc()).limit(limit)
        if level:
            stmt = stmt.where(alerts_table.c.level == level)
        if source:
            stmt = stmt.where(alerts_table.c.source == source)
        async with self._db.transaction() as conn:
            rows = (await conn.execute(stmt)).all()
        return [StoredAlert(r.id, _to_alert(r._mapping)) for r in rows]

    async def due(self, sink: str, now: datetime, *, limit: int = 50) -> list[OutboxItem]:
        """Pending deliveries to ``sink`` whose next attempt time has come, oldest first."""
        outbox, alerts = outbox_table.c, alerts_table.c
        stmt = (
            select(
                outbox.id.label("outbox_id"),
                outbox.alert_id,
                outbox.sink,
                outbox.delivery_key,
                outbox.attempts,
                alerts.created_at,
                alerts.level,
                alerts.source,
                alerts.message,
                alerts.context_json,
            )
            .join_from(outbox_table, alerts_table, alerts.id == outbox.alert_id)
            .where(outbox.sink == sink, outbox.status == PENDING)
            .where(outbox.next_attempt_at <= now)
            .order_by(outbox.id)
            .limit(limit)
        )
        async with self._db.transaction() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            OutboxItem(
                r.outbox_id, r.alert_id, r.sink, r.delivery_key, r.attempts, _to_alert(r._mapping)
            )
            for r in rows
        ]

    async def next_due_at(self, sink: str) -> datetime | None:
        """When the earliest pending delivery to ``sink`` is due (None: nothing pending)."""
        outbox = outbox_table.c
        stmt = select(func.min(outbox.next_attempt_at)).where(
            outbox.sink == sink, outbox.status == PENDING
        )
        async with self._db.transaction() as conn:
            value = (await conn.execute(stmt)).scalar()
        # min() bypasses the column type's result processing on SQLite: normalise here.
        return UTCDateTime().process_result_value(value, self._db.engine.dialect)

    async def mark_delivered(self, outbox_id: int, now: datetime) -> None:
        """Record a 2xx answer: the row is never attempted again."""
        outbox = outbox_table.c
        async with self._db.transaction() as conn:
            await conn.execute(
                update(outbox_table)
                .where(outbox.id == outbox_id)
                .values(
                    status=DELIVERED,
                    delivered_at=now,
                    attempts=outbox.attempts + 1,
                    last_error="",
                )
            )

    async def mark_failed(
        self, outbox_id: int, *, error: str, next_attempt_at: datetime, dead: bool
    ) -> None:
        """Record a failed attempt: retry at ``next_attempt_at``, or give up when ``dead``."""
        outbox = outbox_table.c
        async with self._db.transaction() as conn:
            await conn.execute(
                update(outbox_table)
                .where(outbox.id == outbox_id)
                .values(
                    status=DEAD if dead else PENDING,
                    attempts=outbox.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    last_error=error[:2000],
                )
            )

    async def make_pending_due(self, now: datetime) -> int:
        """Make every pending delivery due now (start-up: a restart is a fresh chance)."""
        outbox = outbox_table.c
        async with self._db.transaction() as conn:
            result = await conn.execute(
                update(outbox_table)
                .where(outbox.status == PENDING, outbox.next_attempt_at > now)
                .values(next_attempt_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def outbox_counts(self) -> dict[tuple[str, str], int]:
        """Row counts by (sink, status), for health and metrics."""
        outbox = outbox_table.c
        stmt = select(outbox.sink, outbox.status, func.count()).group_by(outbox.sink, outbox.status)
        async with self._db.transaction() as conn:
            return {(s, st): int(n) for s, st, n in (await conn.execute(stmt)).all()}

    async def prune(self, retention: RetentionSection) -> dict[str, int]:
        """Apply the retention limits; alerts with a pending delivery are never pruned."""
        outbox, alerts = outbox_table.c, alerts_table.c
        async with self._db.transaction() as conn:
            pruned_outbox = await prune_oldest(
                conn,
                outbox_table,
                keep=retention.outbox_delivered,
                order_by=outbox.id,
                where=outbox.status != PENDING,
            )
            pending_for_alert = exists().where(
                outbox.alert_id == alerts.id, outbox.status == PENDING
            )
            pruned_alerts = await prune_oldest(
                conn,
                alerts_table,
                keep=retention.alerts,
                order_by=alerts.id,
                where=~pending_for_alert,
            )
        return {"alert_outbox": pruned_outbox, "alerts": pruned_alerts}
