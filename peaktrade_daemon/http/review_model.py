"""What the review page shows, read from the proposal files, auto.toml and the database.

Blocking reads (call :func:`load_views` in a worker thread). Open proposals come with their files;
reviewed ones only with their database row. What cannot be read becomes a warning on the page,
never a crash and never a guessed value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peaktrade_daemon.errors import PeakTradeError
from peaktrade_daemon.governance.live_state import LiveState
from peaktrade_daemon.governance.plans import live_value
from peaktrade_daemon.governance.verdicts import Verdict
from peaktrade_daemon.promotion.operator import ReviewResult
from peaktrade_daemon.promotion.proposals import ProposalFiles
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.storage.promotion_store import ProposalRow

MAX_REVIEWED_SHOWN = 50


@dataclass(frozen=True, slots=True)
class CandidateView:
    """One candidate of a proposal as the page shows it."""

    target: str
    verdict: str
    accepted: bool
    proposed: Any
    live_at_proposal: Any
    live_now: Any
    planned_steps: tuple[Any, ...]
    confidence: Any
    safety_flags: tuple[str, ...]
    reasons: tuple[str, ...]
    evidence: str = "-"


@dataclass(frozen=True, slots=True)
class ProposalView:
    """One proposal with its review state."""

    proposal_id: str
    created_at: str
    mode: str
    status: str
    reviewed_by: str | None
    reviewed_at: str | None
    review_note: str | None
    checklist: str
    candidates: tuple[CandidateView, ...]
    evidence_chart: bytes | None = None

    @property
    def open(self) -> bool:
        """Still awaiting a decision (``approved`` may have steps left to approve)."""
        return self.status in {"pending", "approved"}


def _candidate(
    decision: Mapping[str, Any], state: LiveState | None, base: Mapping[str, Any] | None
) -> CandidateView:
    patch = decision.get("patch") or {}
    target = str(decision.get("target", patch.get("target", "?")))
    return CandidateView(
        target=target,
        verdict=str(decision.get("verdict", "?")),
        accepted=decision.get("verdict") == Verdict.ACCEPTED_FOR_PROPOSAL.value,
        proposed=patch.get("new_value"),
        live_at_proposal=decision.get("current_live_value"),
        live_now=None if state is None or base is None else live_value(state, base, target),
        planned_steps=tuple(decision.get("planned_steps") or ()),
        confidence=patch.get("confidence_score"),
        safety_flags=tuple(str(f) for f in decision.get("safety_flags") or ()),
        reasons=tuple(str(r) for r in decision.get("reasons") or ()),
        evidence=_evidence_text(decision.get("evidence")),
    )


def _evidence_text(summary: Any) -> str:
    """The sealed evidence summary of a candidate, as one short line."""
    if not isinstance(summary, Mapping):
        return "-"
    step = summary.get("step_value")
    final = summary.get("final_verdict")
    text = f"{summary.get('verdict', '?')} (next step {step!r})"
    return text + (f"; final {final}" if final else "")


def load_views(
    workspace: PromotionWorkspace, rows: Sequence[ProposalRow]
) -> tuple[list[ProposalView], list[str]]:
    """The page's content (blocking file reads: run in a thread) and warnings about what could
    not be read. Open proposals come with their files; reviewed ones only with their row."""
    warnings: list[str] = []
    state: LiveState | None = None
    base: dict[str, Any] | None = None
    try:
        state = workspace.writer().read()
    except PeakTradeError as exc:
        warnings.append(f"auto.toml cannot be read ({exc}): approvals are refused until fixed")
    try:
        base = workspace.base()
    except PeakTradeError as exc:
        warnings.append(f"the base config cannot be read ({exc}): live values unknown")
    views: list[ProposalView] = []
    closed = 0
    for row in rows:
        is_open = row.status in {"pending", "approved"}
        closed += not is_open
        if not is_open and closed > MAX_REVIEWED_SHOWN:
            continue
        checklist, chart = "", None
        candidates: tuple[CandidateView, ...] = ()
        if is_open:
            # One damaged proposal is a warning about it, never the page down for the others.
            try:
                files = ProposalFiles.open(workspace.proposals_dir, row.proposal_id)
                checklist = files.checklist
                candidates = tuple(_candidate(d, state, base) for d in files.decisions())
                chart = files.evidence_chart()
            except (PeakTradeError, OSError, ValueError, KeyError, TypeError) as exc:
                warnings.append(f"proposal {row.proposal_id}: files unreadable: {exc}")
        views.append(
            ProposalView(
                proposal_id=row.proposal_id,
                created_at=row.created_at.isoformat(),
                mode=row.mode,
                status=row.status,
                reviewed_by=row.reviewed_by,
                reviewed_at=row.reviewed_at.isoformat() if row.reviewed_at else None,
                review_note=row.review_note,
                checklist=checklist,
                candidates=candidates,
                evidence_chart=chart,
            )
        )
    return views, warnings


def summary(result: ReviewResult) -> str:
    """One line for the operator about what an action did."""
    if result.status == "rejected":
        return f"Proposal {result.proposal_id} rejected by {result.operator}."
    steps = "; ".join(
        f"{o.key}: {o.before!r} -> {o.after!r}"
        if o.applied
        else f"{o.key}: not applied ({o.reason})"
        for o in result.outcomes
    )
    more = (
        ""
        if result.status == "applied"
        else " More steps remain: approve again after the cooldown."
    )
    return f"Proposal {result.proposal_id} {result.status} by {result.operator}: {steps or 'nothing to apply'}.{more}"
