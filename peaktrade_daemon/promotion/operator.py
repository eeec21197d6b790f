"""An operator's review actions on a proposal (§8.7), shared by ``proposals approve|reject`` and
the HTTP review page, so both change auto.toml, the audit trail and the state database the same way.

Each action validates the id, the operator and the note, records the proposal's row from its files
(a proposal written by ``promote`` starts ``pending``), checks that the review state allows the
action, writes, then records the review state and indexes the new audit records. File writes run in
a worker thread: the writer waits on file locks. A safety refusal or a broken audit trail raises a
critical alert and then propagates (the CLI maps it to exit 3, the page shows it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.errors import AuditError, DataError, SafetyRefusal, UsageError
from peaktrade_daemon.governance.plans import ApplyOutcome
from peaktrade_daemon.promotion.evidence import EvidenceRunner
from peaktrade_daemon.promotion.proposals import ProposalFiles
from peaktrade_daemon.promotion.review import approval_decisions, approve_proposal, review_record
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.storage.db import Database
from peaktrade_daemon.storage.promotion_store import (
    ProposalRow,
    get_proposal,
    get_seal,
    list_proposals,
    record_promotion,
    set_review,
    upsert_proposal,
)

logger = logging.getLogger(__name__)

RESERVED_ACTORS = frozenset({"auto", "rollback-guard", "writer"})
MAX_OPERATOR_CHARS = 128  # the width of promotion_proposals.reviewed_by
MAX_NOTE_CHARS = 4000
ALERT_SOURCE = "promotion"


def check_operator(name: str) -> str:
    """The operator's name, stripped: one printable line, not an automated actor's name."""
    name = name.strip()
    if not name:
        raise UsageError("an operator name is required (changes are always attributed)")
    if len(name) > MAX_OPERATOR_CHARS or not name.isprintable():
        raise UsageError(
            f"operator name must be one printable line of at most {MAX_OPERATOR_CHARS} characters"
        )
    if name in RESERVED_ACTORS:
        raise SafetyRefusal(f"operator name {name!r} is reserved for automated actors")
    return name


def check_note(note: str | None, *, required: bool) -> str | None:
    """The note, stripped (None when empty); a rejection must say why."""
    text = (note or "").strip()
    if required and not text:
        raise UsageError("a note is required to reject a proposal (say why)")
    if len(text) > MAX_NOTE_CHARS:
        raise UsageError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    return text or None


def open_proposal(workspace: PromotionWorkspace, proposal_id: str) -> ProposalFiles:
    """The proposal's files, or UsageError for an id that is malformed or not on disk."""
    try:
        return ProposalFiles.open(workspace.proposals_dir, proposal_id)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


async def sync_proposal(database: Database, files: ProposalFiles) -> ProposalRow | None:
    """Record the proposal as pending unless it already has a row; return its row."""
    # DataError naming the file when proposal_meta.json is damaged (nothing recorded then).
    meta, created_at = await asyncio.to_thread(lambda: (files.meta, files.created_at))
    await upsert_proposal(
        database,
        proposal_id=files.proposal_id,
        created_at=created_at,
        mode=str(meta.get("mode")),
        source=str(meta.get("source", "promote")),
        candidates=int(meta.get("candidates", 0)),
        accepted=int(meta.get("accepted", 0)),
    )
    return await get_proposal(database, files.proposal_id)


async def list_reviews(
    database: Database,
    workspace: PromotionWorkspace,
    status: str | None = None,
    *,
    skipped: list[str] | None = None,
) -> list[ProposalRow]:
    """Every proposal on disk recorded in the database, then the rows newest first.

    A proposal whose files are damaged is left out (one must not hide the others), logged, and
    its problem appended to ``skipped`` when given.
    """
    for files in await asyncio.to_thread(lambda: list(ProposalFiles.all(workspace.proposals_dir))):
        try:
            await sync_proposal(database, files)
        except DataError as exc:
            logger.warning("proposal %s skipped: %s", files.proposal_id, exc)
            if skipped is not None:
                skipped.append(f"skipped proposal {files.proposal_id}: {exc}")
    return await list_proposals(database, status)


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """What one review action did; ``status`` is the review state it recorded (or would)."""

    proposal_id: str
    operator: str
    status: str
    outcomes: tuple[ApplyOutcome, ...] = ()
    dry_run: bool = False

    @property
    def applied(self) -> tuple[ApplyOutcome, ...]:
        """The outcomes that changed auto.toml."""
        return tuple(o for o in self.outcomes if o.applied)


@asynccontextmanager
async def _alert_refusals(alerts: AlertEmitter) -> AsyncIterator[None]:
    try:
        yield
    except (SafetyRefusal, AuditError) as exc:
        await alerts.emit(
            AlertLevel.CRITICAL, ALERT_SOURCE, str(exc), {"error": type(exc).__name__}
        )
        raise


def _reached(outcomes: tuple[ApplyOutcome, ...]) -> bool:
    return all(o.reached_target or o.reason == "already at the proposed value" for o in outcomes)


async def approve(
    workspace: PromotionWorkspace,
    database: Database,
    proposal_id: str,
    operator: str,
    note: str | None,
    now: datetime,
    *,
    alerts: AlertEmitter,
    evidence: EvidenceRunner,
    dry_run: bool = False,
    override_evidence: bool = False,
) -> ReviewResult:
    """Apply one bounded step of each still-accepted patch, attributed to ``operator``; the row
    becomes ``applied`` when every key reached its proposed value, else ``approved``. The
    evidence is computed for this approval with ``evidence`` (§9): a FAIL needs
    ``override_evidence``."""
    operator = check_operator(operator)
    note = check_note(note, required=False)
    files = open_proposal(workspace, proposal_id)
    row = await (get_proposal(database, proposal_id) if dry_run else sync_proposal(database, files))
    if row is not None and row.status == "rejected":
        raise UsageError(f"proposal {proposal_id} was rejected by {row.reviewed_by}")
    database_seal = await get_seal(database, proposal_id)
    async with _alert_refusals(alerts):
        policy, base, decisions = await asyncio.to_thread(
            approval_decisions, files, workspace, database_seal
        )
        live = await asyncio.to_thread(lambda: workspace.writer().read().values)
        found = await evidence.evaluate(decisions, live, policy, base)
        outcomes = tuple(
            await asyncio.to_thread(
                functools.partial(
                    approve_proposal,
                    files,
                    workspace,
                    operator,
                    note,
                    now,
                    dry_run=dry_run,
                    database_seal=database_seal,
                    evidence=found,
                    override_evidence=override_evidence,
                )
            )
        )
    status = "applied" if _reached(outcomes) else "approved"
    if not dry_run:
        await set_review(database, proposal_id, status=status, by=operator, note=note, at=now)
        await record_promotion(database, workspace.audit())
        logger.info("proposal %s %s by %s", proposal_id, status, operator)
    return ReviewResult(proposal_id, operator, status, outcomes, dry_run)


async def reject(
    workspace: PromotionWorkspace,
    database: Database,
    proposal_id: str,
    operator: str,
    note: str | None,
    now: datetime,
    *,
    dry_run: bool = False,
) -> ReviewResult:
    """Record the rejection and its (required) note in the audit trail and the database."""
    operator = check_operator(operator)
    why = check_note(note, required=True)
    files = open_proposal(workspace, proposal_id)
    row = await (get_proposal(database, proposal_id) if dry_run else sync_proposal(database, files))
    if row is not None and row.status in {"applied", "rejected"}:
        raise UsageError(
            f"proposal {proposal_id} is already {row.status}; "
            "to undo applied changes use `overrides rollback`"
        )
    if not dry_run:
        record = review_record(files.proposal_id, "rejected", operator, why, now)
        await asyncio.to_thread(workspace.audit().append, [record])
        await set_review(database, proposal_id, status="rejected", by=operator, note=why, at=now)
        await record_promotion(database, workspace.audit())
        logger.info("proposal %s rejected by %s", proposal_id, operator)
    return ReviewResult(proposal_id, operator, "rejected", (), dry_run)
