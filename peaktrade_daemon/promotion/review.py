"""Operator review of a proposal (§8.7, §8.8): applying an approval from the sealed content.

An approval reads the proposal's candidates only once their content matches the seal recorded
when the proposal was written (in its verdict records in the audit trail, and in the state
database), then re-judges the accepted ones against the *current* policy and live values (a
policy tightened since wins), and applies them through the same writer and gate as auto-apply:
one bounded step per key, firewall, bounds and bake time always hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from peaktrade_daemon.errors import SafetyRefusal, SealBroken
from peaktrade_daemon.governance.holds import approval_evidence_hold
from peaktrade_daemon.governance.plans import ApplyOutcome, WriteKind, plan_approved_apply
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import (
    PromotionDecision,
    build_candidate,
    judged_acceptable,
)
from peaktrade_daemon.promotion.engine import filter_candidates_for_live
from peaktrade_daemon.promotion.evidence import CandidateEvidence
from peaktrade_daemon.promotion.proposals import ProposalFiles
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext


def review_record(
    proposal_id: str, decision: str, operator: str, note: str | None, now: datetime
) -> dict[str, Any]:
    """The audit record of an operator's review decision."""
    return {
        "time": now.isoformat(),
        "event": "review",
        "actor": operator,
        "mode": "manual_review",
        "proposal_id": proposal_id,
        "decision": decision,
        "note": note,
        "reasons": [f"{decision} by {operator}"],
    }


def trail_seals(records: Sequence[Mapping[str, Any]], proposal_id: str) -> list[str]:
    """The seals the proposal's verdict records carry (normally one, repeated per verdict)."""
    return sorted(
        {
            str(r["proposal_sha256"])
            for r in records
            if r.get("event") == "verdict"
            and r.get("proposal_id") == proposal_id
            and r.get("proposal_sha256")
        }
    )


def proposal_seals(
    records: Sequence[Mapping[str, Any]], proposal_id: str, database_seal: str | None
) -> list[str]:
    """Every seal the proposal's files must match: its verdict records' in the audit trail and
    the state database's. The trail alone proves nothing (anything that can write reports/ can
    append verdict records with any seal, the chain recomputed), so a seal in the trail without
    one in the database is refused: the database, outside reports/, is written only by the
    process that wrote the proposal. No seal in the trail: empty (``sealed_decisions`` refuses)."""
    seals = trail_seals(records, proposal_id)
    if not seals:
        return []
    if database_seal is None:
        raise SealBroken(
            f"proposal {proposal_id}: its seal is in the audit trail but not in the state "
            "database, where `promote` and the promotion worker record every proposal they "
            "write: not a proposal the governance judged on this root; nothing applied"
        )
    return [*seals, database_seal]


def approval_decisions(
    files: ProposalFiles, workspace: PromotionWorkspace, database_seal: str | None
) -> tuple[AutoApplyPolicy, dict[str, Any], list[PromotionDecision]]:
    """The policy, the base config and the proposal's candidates re-judged against them, read
    from the sealed content only. Raises :class:`~peaktrade_daemon.errors.SealBroken` when the
    files do not match the seal of the audit trail and of the database (``database_seal``; see
    :func:`proposal_seals`), SafetyRefusal under the global lock."""
    policy = workspace.policy()
    if policy.global_promotion_lock:
        raise SafetyRefusal("global_promotion_lock is set in the promotion policy; nothing applied")
    records = workspace.audit().records()
    sealed = files.sealed_decisions(proposal_seals(records, files.proposal_id, database_seal))
    base = workspace.base()
    # What the policy accepted (an earlier evidence FAIL is re-judged on today's data).
    candidates = [
        build_candidate(d.candidate.patch, policy) for d in sealed if judged_acceptable(d)
    ]
    live = workspace.writer().read().values
    return policy, base, filter_candidates_for_live(candidates, policy, base, live)


def approve_proposal(
    files: ProposalFiles,
    workspace: PromotionWorkspace,
    operator: str,
    note: str | None,
    now: datetime,
    *,
    dry_run: bool = False,
    database_seal: str | None = None,
    evidence: Mapping[str, CandidateEvidence] | None = None,
    override_evidence: bool = False,
) -> list[ApplyOutcome]:
    """Apply one bounded step of every still-accepted patch, attributed to ``operator``.

    ``evidence`` (by patch id) is the one computed for this approval: a FAIL for the step being
    taken needs ``override_evidence``, and each change records the verdict and whether it was
    overridden (§9)."""
    policy, base, decisions = approval_decisions(files, workspace, database_seal)
    found = dict(evidence or {})
    enabled = policy.evidence.enabled

    def item(decision: PromotionDecision) -> CandidateEvidence | None:
        return found.get(decision.candidate.patch.id)

    def hold(decision: PromotionDecision, step: float) -> str | None:
        got = item(decision)
        return approval_evidence_hold(
            enabled,
            None if got is None else got.verdict,
            None if got is None else got.step_value,
            step,
            override=override_evidence,
        )

    def extra(decision: PromotionDecision, step: float) -> dict[str, Any]:
        got = item(decision)
        if not enabled:
            return {"evidence": "disabled"}
        verdict = "not evaluated" if got is None or got.step_value != step else got.verdict.value
        overridden = override_evidence and verdict == "FAIL"
        return {"evidence": verdict, "evidence_overridden": overridden}

    writer = workspace.writer()
    planner = plan_approved_apply(
        decisions, policy, base, operator, now, step_hold=hold, step_extra=extra
    )
    if dry_run:
        outcomes: list[ApplyOutcome] = planner(writer.read()).outcome
        return outcomes
    review = review_record(files.proposal_id, "approved", operator, note, now)
    if override_evidence:
        review["override_evidence"] = True
    result = writer.transact(
        planner,
        kind=WriteKind.ADVANCE,
        gate=GateContext(base, policy),
        actor=operator,
        mode="manual_approval",
        proposal_id=files.proposal_id,
        now=now,
        preface=[review],
    )
    if not result.written:  # nothing to step (cooldown, at target): the approval still counts
        workspace.audit().append([review])
    applied: list[ApplyOutcome] = result.outcome
    return applied
