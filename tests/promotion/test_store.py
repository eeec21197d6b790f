"""The promotion tables: proposals with review state, and the audit index mirror."""

from __future__ import annotations

import asyncio
from pathlib import Path

from peaktrade_daemon.governance.plans import plan_restore
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.writer import OverridesWriter
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.promotion_store import (
    get_proposal,
    key_history,
    list_proposals,
    set_review,
    sync_audit_index,
    upsert_proposal,
)
from tests.promotion.conftest import T0, write


async def test_audit_index_is_idempotent_and_queryable(tmp_path: Path) -> None:
    audit = AuditTrail(tmp_path / "audit.jsonl")
    writer = OverridesWriter(tmp_path / "auto.toml", audit)
    for value in (1.25, 1.5):
        await asyncio.to_thread(
            write, writer, plan_restore({"portfolio.leverage": value}, "op", "t")
        )
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'state.db'}")
    try:
        async with asyncio.timeout(10):
            added = await sync_audit_index(database, audit)
            assert added == len(audit.records())
            assert await sync_audit_index(database, audit) == 0
            history = await key_history(database, "portfolio.leverage")
            assert [(h.before_json, h.after_json) for h in history] == [
                (None, "1.25"),
                ("1.25", "1.5"),
            ]
    finally:
        await database.close()


async def test_proposal_review_state(tmp_path: Path) -> None:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'state.db'}")
    try:
        async with asyncio.timeout(10):
            for pid in ("20240301T090000Z-00000001", "20240301T090001Z-00000002"):
                await upsert_proposal(
                    database,
                    proposal_id=pid,
                    created_at=T0,
                    mode="manual_only",
                    source="promote",
                    candidates=6,
                    accepted=3,
                )
            await set_review(
                database, "20240301T090000Z-00000001", status="rejected", by="bob", note="no", at=T0
            )
            # A second upsert keeps the review state.
            await upsert_proposal(
                database,
                proposal_id="20240301T090000Z-00000001",
                created_at=T0,
                mode="manual_only",
                source="promote",
                candidates=6,
                accepted=3,
            )
            row = await get_proposal(database, "20240301T090000Z-00000001")
            assert row is not None and (row.status, row.reviewed_by, row.review_note) == (
                "rejected",
                "bob",
                "no",
            )
            assert [r.proposal_id for r in await list_proposals(database, "pending")] == [
                "20240301T090001Z-00000002"
            ]
    finally:
        await database.close()


class CountingTrail(AuditTrail):
    """The real trail, counting full reads."""

    reads = 0

    def records(self) -> list[dict[str, object]]:
        self.reads += 1
        return super().records()


async def test_the_mirror_reads_the_trail_only_when_its_head_is_new(tmp_path: Path) -> None:
    audit = CountingTrail(tmp_path / "audit.jsonl")
    writer = OverridesWriter(tmp_path / "auto.toml", audit)
    await asyncio.to_thread(write, writer, plan_restore({"portfolio.leverage": 1.25}, "op", "t"))
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'state.db'}")
    try:
        async with asyncio.timeout(10):
            assert await sync_audit_index(database, audit) > 0
            reads = audit.reads
            assert await sync_audit_index(database, audit) == 0
            assert audit.reads == reads  # the anchor named an indexed seq: no full read
            await asyncio.to_thread(
                write, writer, plan_restore({"portfolio.leverage": 1.5}, "op", "t")
            )
            assert await sync_audit_index(database, audit) > 0  # a new head is mirrored
            history = await key_history(database, "portfolio.leverage")
            assert [h.after_json for h in history] == ["1.25", "1.5"]
            audit.anchor_path.unlink()  # no anchor: the trail is read, nothing is skipped
            reads = audit.reads
            assert await sync_audit_index(database, audit) == 0
            assert audit.reads == reads + 1
    finally:
        await database.close()
