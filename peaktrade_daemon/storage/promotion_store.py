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
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from peaktrade_daemon.audit_records import canonical_line, line_hash
from peaktrade_daemon.storage.db import Database, metadata


class RecordSource(Protocol):
    """Where audit records come from (the trail; storage does not know its file format)."""

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first."""
        ...

    def head_seq(self) -> int | None:
        """The newest record's seq when it is known without reading the records (else None)."""
        ...


class ProposalLike(Protocol):
    """What the proposals table records of a proposal."""

    @property
    def proposal_id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def source(self) -> str: ...
    @property
    def seal(self) -> str | None: ...
    @property
    def mode_value(self) -> str: ...
    @property
    def candidate_count(self) -> int: ...
    @property
    def accepted_count(self) -> int: ...


REVIEW_STATES = ("pending", "approved", "applied", "rejected")

proposals_table = Table(
    "promotion_proposals",
    metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("mode", String(32), nullable=False),
    Column("source", String(32), nullable=False),
    Column("candidates", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("reviewed_by", String(128), nullable=True),
    Column("review_note", Text, nullable=True),
    Column("reviewed_at", DateTime(timezone=True), nullable=True),
)

#: The seal of each proposal (§8.8): written once when the proposal is recorded, never updated,
#: so an edit of the proposal's files (or of the audit trail alone) cannot move it.
seals_table = Table(
    "promotion_seals",
    metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
)

audit_index_table = Table(
    "promotion_audit_index",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("time", String(40), nullable=False),
    Column("event", String(32), nullable=False, index=True),
    Column("actor", String(128), nullable=True),
    Column("mode", String(32), nullable=True),
    Column("proposal_id", String(64), nullable=True, index=True),
    Column("key", String(256), nullable=True, index=True),
    Column("before_json", Text, nullable=True),
    Column("after_json", Text, nullable=True),
    Column("write_id", String(64), nullable=True),
    Column("sha256", String(64), nullable=False),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalRow:
    """A proposal and where its review stands."""

    proposal_id: str
    created_at: datetime
    mode: str
    source: str
    candidates: int
    accepted: int
    status: str = "pending"
    reviewed_by: str | None = None
    review_note: str | None = None
    reviewed_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditIndexRow:
    """One audit record, mirrored for queries (``before``/``after`` as JSON text)."""

    seq: int
    time: str
    event: str
    actor: str | None = None
    mode: str | None = None
    proposal_id: str | None = None
    key: str | None = None
    before_json: str | None = None
    after_json: str | None = None
    write_id: str | None = None
    sha256: str


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
    proposals = proposals_table.c
    async with db.transaction() as conn:
        known = await conn.scalar(
            select(proposals.proposal_id).where(proposals.proposal_id == proposal_id)
        )
        if known is None:
            await conn.execute(
                insert(proposals_table).values(
                    proposal_id=proposal_id,
                    created_at=created_at,
                    mode=mode,
                    source=source,
                    candidates=candidates,
                    accepted=accepted,
                    status="pending",
                    reviewed_by=None,
                    review_note=None,
                    reviewed_at=None,
                )
            )


async def get_proposal(db: Database, proposal_id: str) -> ProposalRow | None:
    """The row of one proposal, if recorded."""
    query = select(proposals_table).where(proposals_table.c.proposal_id == proposal_id)
    async with db.transaction() as conn:
        found = (await conn.execute(query)).first()
    return None if found is None else ProposalRow(**found._mapping)


async def list_proposals(db: Database, status: str | None = None) -> list[ProposalRow]:
    """Proposals newest first, optionally of one review state."""
    query = select(proposals_table).order_by(proposals_table.c.created_at.desc())
    if status is not None:
        query = query.where(proposals_table.c.status == status)
    async with db.transaction() as conn:
        return [ProposalRow(**r._mapping) for r in await conn.execute(query)]


async def set_review(
    db: Database, proposal_id: str, *, status: str, by: str, note: str | None, at: datetime
) -> None:
    """Record an operator's review of a proposal (the row must exist)."""
    if status not in REVIEW_STATES:
        raise ValueError(f"unknown review state {status!r}")
    stmt = (
        update(proposals_table)
        .where(proposals_table.c.proposal_id == proposal_id)
        .values(status=status, reviewed_by=by, review_note=note, reviewed_at=at)
    )
    async with db.transaction() as conn:
        # SQLite counts the rows the WHERE matched, also when the values did not change.
        if not (await conn.execute(stmt)).rowcount:
            raise KeyError(proposal_id)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


async def sync_audit_index(db: Database, audit: RecordSource) -> int:
    """Mirror audit records not yet indexed; returns how many were added."""
    async with db.transaction() as conn:
        last = (await conn.scalar(select(func.max(audit_index_table.c.seq)))) or 0
    # The worker mirrors after every check, and most checks append nothing: the trail's head
    # (one small file) tells, without reading the whole trail.
    head = await asyncio.to_thread(audit.head_seq)
    if head is not None and head <= last:
        return 0
    records = await asyncio.to_thread(audit.records)
    fresh = [r for r in records if isinstance(r.get("seq"), int) and r["seq"] > last]
    if not fresh:
        return 0
    async with db.transaction() as conn:
        # Another process (the daemon's worker, a second approval) may mirror the same records
        # at the same moment: the seqs it inserted first are skipped, never a conflict.
        result = await conn.execute(
            _insert_new(conn.dialect.name),
            [
                {
                    "seq": r["seq"],
                    "time": str(r.get("time", "")),
                    "event": str(r.get("event", "")),
                    "actor": r.get("actor"),
                    "mode": r.get("mode"),
                    "proposal_id": r.get("proposal_id"),
                    "key": r.get("key"),
                    "before_json": _json(r.get("before")),
                    "after_json": _json(r.get("after")),
                    "write_id": r.get("write_id"),
                    "sha256": line_hash(canonical_line(r)),
                }
                for r in fresh
            ],
        )
    added = getattr(result, "rowcount", -1)
    return int(added) if isinstance(added, int) and added >= 0 else len(fresh)


def _insert_new(dialect: str) -> Any:
    """An INSERT into the audit index that skips seqs already there (SQLite, PostgreSQL)."""
    if dialect == "postgresql":
        # Imported here: SQLAlchemy's PostgreSQL dialect is 19 modules and 2.3 MiB that a
        # daemon on its SQLite state database would carry from start-up on for nothing.
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(audit_index_table).on_conflict_do_nothing(index_elements=["seq"])
    return sqlite_insert(audit_index_table).on_conflict_do_nothing(index_elements=["seq"])


async def key_history(db: Database, key: str) -> list[AuditIndexRow]:
    """Every indexed change of one key, oldest first."""
    index = audit_index_table.c
    query = (
        select(audit_index_table)
        .where(index.key == key, index.event == "change")
        .order_by(index.seq)
    )
    async with db.transaction() as conn:
        return [AuditIndexRow(**r._mapping) for r in await conn.execute(query)]


async def record_seal(db: Database, proposal_id: str, sha256: str) -> None:
    """Record a proposal's seal unless one is recorded already (the first one stays)."""
    async with db.transaction() as conn:
        known = await conn.scalar(
            select(seals_table.c.sha256).where(seals_table.c.proposal_id == proposal_id)
        )
        if known is None:
            await conn.execute(insert(seals_table).values(proposal_id=proposal_id, sha256=sha256))


async def get_seal(db: Database, proposal_id: str) -> str | None:
    """The recorded seal of a proposal, if any."""
    async with db.transaction() as conn:
        found = await conn.scalar(
            select(seals_table.c.sha256).where(seals_table.c.proposal_id == proposal_id)
        )
    return None if found is None else str(found)


async def record_promotion(
    db: Database, audit: RecordSource, proposals: Sequence[ProposalLike] = ()
) -> None:
    """Record new proposals as pending (with their seals) and index new audit records (after
    any promotion write)."""
    for proposal in proposals:
        await upsert_proposal(
            db,
            proposal_id=proposal.proposal_id,
            created_at=proposal.created_at,
            mode=proposal.mode_value,
            source=proposal.source,
            candidates=proposal.candidate_count,
            accepted=proposal.accepted_count,
        )
        if proposal.seal:
            await record_seal(db, proposal.proposal_id, proposal.seal)
    await sync_audit_index(db, audit)
