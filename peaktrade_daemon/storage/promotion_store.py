"""Promotion tables in the state database (§3.6): proposals with their review state, and an
index mirroring the audit trail for queries.

The files stay the source of truth (``reports/live_promotion/<id>/`` for a proposal's content,
``audit.jsonl`` for history); these tables hold what files do not (who reviewed a proposal and
when) and make history queryable. The index is filled by :func:`sync_audit_index`, which is
idempotent: it inserts the records whose ``seq`` it has not seen.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from peaktrade_daemon.promotion.audit import AuditTrail, canonical_line, line_hash
from peaktrade_daemon.promotion.models import PromotionProposal
from peaktrade_daemon.storage.db import Base, Database

REVIEW_STATES = ("pending", "approved", "applied", "rejected")


class ProposalRow(Base):
    """A proposal and where its review stands."""

    __tablename__ = "promotion_proposals"

    proposal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    mode: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    candidates: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reviewed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditIndexRow(Base):
    """One audit record, mirrored for queries (``before``/``after`` as JSON text)."""

    __tablename__ = "promotion_audit_index"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    proposal_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    key: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    before_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    after_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    write_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))


async def upsert_proposal(
    db: Database,
    *,
    proposal_id: str,
    created_at: datetime,
    mode: str,
    source: str,
    candidates: int,
    accepted: int,
) -> None:
    """Record a new proposal as pending (an existing row keeps its review state)."""
    async with db.session() as session:
        if await session.get(ProposalRow, proposal_id) is None:
            session.add(
                ProposalRow(
                    proposal_id=proposal_id,
                    created_at=created_at,
                    mode=mode,
                    source=source,
                    candidates=candidates,
                    accepted=accepted,
                    status="pending",
                )
            )


async def get_proposal(db: Database, proposal_id: str) -> ProposalRow | None:
    """The row of one proposal, if recorded."""
    async with db.session() as session:
        return await session.get(ProposalRow, proposal_id)


async def list_proposals(db: Database, status: str | None = None) -> list[ProposalRow]:
    """Proposals newest first, optionally of one review state."""
    query = select(ProposalRow).order_by(ProposalRow.created_at.desc())
    if status is not None:
        query = query.where(ProposalRow.status == status)
    async with db.session() as session:
        return list((await session.scalars(query)).all())


async def set_review(
    db: Database, proposal_id: str, *, status: str, by: str, note: str | None, at: datetime
) -> None:
    """Record an operator's review of a proposal (the row must exist)."""
    if status not in REVIEW_STATES:
        raise ValueError(f"unknown review state {status!r}")
    async with db.session() as session:
        row = await session.get(ProposalRow, proposal_id)
        if row is None:
            raise KeyError(proposal_id)
        row.status, row.reviewed_by, row.review_note, row.reviewed_at = status, by, note, at


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


async def sync_audit_index(db: Database, audit: AuditTrail) -> int:
    """Mirror audit records not yet indexed; returns how many were added."""
    async with db.session() as session:
        last = (await session.scalar(select(func.max(AuditIndexRow.seq)))) or 0
    records = await asyncio.to_thread(audit.records)
    fresh = [r for r in records if isinstance(r.get("seq"), int) and r["seq"] > last]
    if not fresh:
        return 0
    async with db.session() as session:
        session.add_all(
            AuditIndexRow(
                seq=r["seq"],
                time=str(r.get("time", "")),
                event=str(r.get("event", "")),
                actor=r.get("actor"),
                mode=r.get("mode"),
                proposal_id=r.get("proposal_id"),
                key=r.get("key"),
                before_json=_json(r.get("before")),
                after_json=_json(r.get("after")),
                write_id=r.get("write_id"),
                sha256=line_hash(canonical_line(r)),
            )
            for r in fresh
        )
    return len(fresh)


async def key_history(db: Database, key: str) -> list[AuditIndexRow]:
    """Every indexed change of one key, oldest first."""
    query = (
        select(AuditIndexRow)
        .where(AuditIndexRow.key == key, AuditIndexRow.event == "change")
        .order_by(AuditIndexRow.seq)
    )
    async with db.session() as session:
        return list((await session.scalars(query)).all())


async def record_promotion(
    db: Database, audit: AuditTrail, proposals: Sequence[PromotionProposal] = ()
) -> None:
    """Record new proposals as pending and index new audit records (after any promotion write)."""
    for proposal in proposals:
        await upsert_proposal(
            db,
            proposal_id=proposal.proposal_id,
            created_at=proposal.created_at,
            mode=proposal.mode.value,
            source=proposal.source,
            candidates=len(proposal.decisions),
            accepted=len(proposal.accepted),
        )
    await sync_audit_index(db, audit)
