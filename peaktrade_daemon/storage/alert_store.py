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
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.settings import RetentionSection
from peaktrade_daemon.storage.db import Base, Database, UTCDateTime, prune_oldest

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


class AlertRow(Base):
    """One recorded alert (after de-duplication)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    level: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    context_json: Mapped[str] = mapped_column(Text, default="{}")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")


class OutboxRow(Base):
    """One delivery of one alert to one sink, with its retry state."""

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_due", "sink", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    sink: Mapped[str] = mapped_column(String(200))
    delivery_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


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


def _to_alert(row: AlertRow) -> Alert:
    return Alert(
        timestamp=row.created_at,
        level=AlertLevel(row.level),
        source=row.source,
        message=row.message,
        context=json.loads(row.context_json),
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
        async with self._db.session() as session:
            row = AlertRow(
                created_at=alert.timestamp,
                level=str(alert.level),
                source=alert.source,
                message=alert.message,
                context_json=_context_json(alert.context),
                fingerprint=fingerprint,
            )
            session.add(row)
            await session.flush()
            for sink, key in zip(sinks, keys, strict=True):
                session.add(
                    OutboxRow(
                        alert_id=row.id,
                        sink=sink,
                        delivery_key=key,
                        status=PENDING,
                        attempts=0,
                        next_attempt_at=alert.timestamp,
                        created_at=alert.timestamp,
                    )
                )
            return row.id, keys

    async def recent(
        self, *, limit: int = 50, level: str | None = None, source: str | None = None
    ) -> list[StoredAlert]:
        """The newest alerts first, optionally filtered by exact level or source."""
        stmt = select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)
        if level:
            stmt = stmt.where(AlertRow.level == level)
        if source:
            stmt = stmt.where(AlertRow.source == source)
        async with self._db.session() as session:
            rows = (await session.execute(stmt)).scalars().all()
            return [StoredAlert(r.id, _to_alert(r)) for r in rows]

    async def due(self, sink: str, now: datetime, *, limit: int = 50) -> list[OutboxItem]:
        """Pending deliveries to ``sink`` whose next attempt time has come, oldest first."""
        stmt = (
            select(OutboxRow, AlertRow)
            .join(AlertRow, AlertRow.id == OutboxRow.alert_id)
            .where(OutboxRow.sink == sink, OutboxRow.status == PENDING)
            .where(OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        async with self._db.session() as session:
            rows = (await session.execute(stmt)).all()
            return [
                OutboxItem(o.id, a.id, o.sink, o.delivery_key, o.attempts, _to_alert(a))
                for o, a in rows
            ]

    async def next_due_at(self, sink: str) -> datetime | None:
        """When the earliest pending delivery to ``sink`` is due (None: nothing pending)."""
        stmt = select(func.min(OutboxRow.next_attempt_at)).where(
            OutboxRow.sink == sink, OutboxRow.status == PENDING
        )
        async with self._db.session() as session:
            value = (await session.execute(stmt)).scalar()
        # min() bypasses the column type's result processing on SQLite: normalise here.
        return UTCDateTime().process_result_value(value, self._db.engine.dialect)

    async def mark_delivered(self, outbox_id: int, now: datetime) -> None:
        """Record a 2xx answer: the row is never attempted again."""
        async with self._db.session() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == outbox_id)
                .values(
                    status=DELIVERED,
                    delivered_at=now,
                    attempts=OutboxRow.attempts + 1,
                    last_error="",
                )
            )

    async def mark_failed(
        self, outbox_id: int, *, error: str, next_attempt_at: datetime, dead: bool
    ) -> None:
        """Record a failed attempt: retry at ``next_attempt_at``, or give up when ``dead``."""
        async with self._db.session() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == outbox_id)
                .values(
                    status=DEAD if dead else PENDING,
                    attempts=OutboxRow.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    last_error=error[:2000],
                )
            )

    async def make_pending_due(self, now: datetime) -> int:
        """Make every pending delivery due now (start-up: a restart is a fresh chance)."""
        async with self._db.session() as session:
            result = await session.execute(
                update(OutboxRow)
                .where(OutboxRow.status == PENDING, OutboxRow.next_attempt_at > now)
                .values(next_attempt_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def outbox_counts(self) -> dict[tuple[str, str], int]:
        """Row counts by (sink, status), for health and metrics."""
        stmt = select(OutboxRow.sink, OutboxRow.status, func.count()).group_by(
            OutboxRow.sink, OutboxRow.status
        )
        async with self._db.session() as session:
            return {(s, st): int(n) for s, st, n in (await session.execute(stmt)).all()}

    async def prune(self, retention: RetentionSection) -> dict[str, int]:
        """Apply the retention limits; alerts with a pending delivery are never pruned."""
        async with self._db.session() as session:
            outbox = await prune_oldest(
                session,
                OutboxRow.__table__,  # type: ignore[arg-type]
                keep=retention.outbox_delivered,
                order_by=OutboxRow.id,  # type: ignore[arg-type]
                where=OutboxRow.status != PENDING,
            )
            pending_for_alert = exists().where(
                OutboxRow.alert_id == AlertRow.id, OutboxRow.status == PENDING
            )
            alerts = await prune_oldest(
                session,
                AlertRow.__table__,  # type: ignore[arg-type]
                keep=retention.alerts,
                order_by=AlertRow.id,  # type: ignore[arg-type]
                where=~pending_for_alert,
            )
        return {"alert_outbox": outbox, "alerts": alerts}
