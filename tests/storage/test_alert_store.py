"""Alerts and outbox rows in a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.settings import RetentionSection
from peaktrade_daemon.storage.alert_store import DEAD, DELIVERED, PENDING, AlertStore
from peaktrade_daemon.storage.db import open_database

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _alert(i: int, level: AlertLevel = AlertLevel.WARNING) -> Alert:
    return Alert(T0 + timedelta(seconds=i), level, "test", f"alert {i}", {"i": i, "tab": "a\tb"})


async def test_record_due_deliver_fail_and_recent(tmp_path: Path) -> None:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    store = AlertStore(db)
    try:
        a1, keys1 = await store.record(_alert(1), fingerprint="f1", sinks=["hook", "slack"])
        a2, _ = await store.record(_alert(2, AlertLevel.CRITICAL), sinks=["hook"])
        assert len(set(keys1)) == 2
        due = await store.due("hook", T0 + timedelta(seconds=5))
        assert [d.alert_id for d in due] == [a1, a2]
        assert due[0].alert.context == {"i": 1, "tab": "a\tb"}
        assert due[0].alert.timestamp == T0 + timedelta(seconds=1)

        await store.mark_delivered(due[0].outbox_id, T0 + timedelta(seconds=6))
        later = T0 + timedelta(minutes=5)
        await store.mark_failed(
            due[1].outbox_id, error="HTTP 500", next_attempt_at=later, dead=False
        )
        assert [d.alert_id for d in await store.due("hook", T0 + timedelta(seconds=7))] == []
        assert await store.next_due_at("hook") == later
        assert await store.make_pending_due(T0 + timedelta(seconds=8)) == 1
        again = await store.due("hook", T0 + timedelta(seconds=8))
        assert [(d.alert_id, d.attempts) for d in again] == [(a2, 1)]
        await store.mark_failed(again[0].outbox_id, error="gone", next_attempt_at=later, dead=True)

        counts = await store.outbox_counts()
        assert counts == {("hook", DELIVERED): 1, ("hook", DEAD): 1, ("slack", PENDING): 1}
        recent = await store.recent(limit=10)
        assert [r.id for r in recent] == [a2, a1]
        assert [r.id for r in await store.recent(level="critical")] == [a2]
    finally:
        await db.close()


async def test_prune_never_drops_alerts_with_pending_deliveries(tmp_path: Path) -> None:
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    store = AlertStore(db)
    try:
        pending_id, _ = await store.record(_alert(0), sinks=["hook"])
        for i in range(1, 10):
            await store.record(_alert(i))
        removed = await store.prune(RetentionSection(alerts=3, outbox_delivered=1))
        assert removed == {"alert_outbox": 0, "alerts": 6}
        ids = [r.id for r in await store.recent(limit=100)]
        assert pending_id in ids
        assert len(ids) == 4
    finally:
        await db.close()
