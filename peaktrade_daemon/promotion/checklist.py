"""``OPERATOR_CHECKLIST.md`` of a proposal (§8.2.4): what an operator reviews before Go/No-Go."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from peaktrade_daemon.governance.plans import ApplyOutcome
from peaktrade_daemon.governance.verdicts import PromotionDecision
from peaktrade_daemon.promotion.models import PromotionProposal

if TYPE_CHECKING:
    from peaktrade_daemon.promotion.evidence import CandidateEvidence

REVIEW_BOXES = (
    "The changes are safe for live",
    "No R&D strategies included",
    "Risk limits respected",
    "Leverage within bounds",
    "TestHealth / backtests done",
    "Go/No-Go decision per the governance runbook",
)


def _fmt(value: Any) -> str:
    return "-" if value is None else json.dumps(value)


def _warnings(proposal: PromotionProposal) -> list[str]:
    warnings: list[str] = []
    for decision in proposal.accepted:
        flags = decision.safety_flags
        if "touches_leverage" in flags:
            warnings.append(f"`{decision.target}` changes leverage: check exposure and margin.")
        if "no_bounds_manual_review_only" in flags:
            warnings.append(
                f"`{decision.target}` has no bounds in the policy: review the value itself."
            )
        if "non_numeric_manual_review_only" in flags:
            warnings.append(
                f"`{decision.target}` is not numeric: it can only be applied by approval."
            )
        if len(decision.planned_steps) > 1:
            warnings.append(
                f"`{decision.target}` needs {len(decision.planned_steps)} bounded steps, "
                "each after the cooldown."
            )
    failed = [d for d in proposal.decisions if d.verdict.value == "REJECTED_BY_EVIDENCE"]
    for decision in failed:
        warnings.append(
            f"`{decision.target}` FAILed the evidence: applying it needs "
            "`proposals approve ... --override-evidence`, recorded as such."
        )
    rejected = [d for d in proposal.decisions if not d.accepted]
    if rejected:
        warnings.append(
            f"{len(rejected)} candidate(s) were rejected and are listed for the record."
        )
    return warnings or ["None raised by the policy; review each change anyway."]


def _num(value: float) -> str:
    return "-" if value != value else f"{value:.4f}"


def _evidence_lines(item: CandidateEvidence | None, enabled: bool, chart: bool) -> list[str]:
    """The evidence section of one candidate (§9)."""
    if not enabled:
        return ["- Evidence: off in the policy (`[evidence] enabled = false`): not evaluated"]
    if item is None:
        return ["- Evidence: not evaluated (rejected before evidence)"]
    lines = [
        f"- Evidence, next step {_fmt(item.live_value)} -> {_fmt(item.step_value)}: "
        f"**{item.verdict.value}**",
        *[f"  - {reason}" for reason in item.reasons],
    ]
    if item.final is not None and item.final is not item.step:
        lines.append(
            f"- Evidence, final value {_fmt(item.target_value)}: **{item.final.verdict.value}**"
        )
        lines += [f"  - {reason}" for reason in item.final.reasons]
    if item.step is not None:
        live, cand = item.step.incumbent, item.step.candidate
        lines += [
            "",
            "  | book | total return | max drawdown | Sharpe | turnover | trades |",
            "  | --- | --- | --- | --- | --- | --- |",
            f"  | live {_fmt(item.live_value)} | {_num(live.total_return)} | "
            f"{_num(live.max_drawdown)} | {_num(live.sharpe)} | {_num(live.turnover)} | "
            f"{live.trades} |",
            f"  | candidate {_fmt(item.step_value)} | {_num(cand.total_return)} | "
            f"{_num(cand.max_drawdown)} | {_num(cand.sharpe)} | {_num(cand.turnover)} | "
            f"{cand.trades} |",
            "",
            f"  Test: {item.step.test}, {item.step.periods} paired periods, seed "
            f"{item.step.seed} ("
            + ("chart: `evidence.png`, " if chart else "")
            + "figures: `evidence.json`).",
        ]
    return lines


def _section(
    decision: PromotionDecision,
    outcome: ApplyOutcome | None,
    evidence: CandidateEvidence | None = None,
    evidence_enabled: bool = False,
    chart: bool = True,
) -> list[str]:
    patch = decision.candidate.patch
    steps = ", ".join(_fmt(s) for s in decision.planned_steps) or "-"
    lines = [
        f"### `{patch.target}` ({decision.verdict.value})",
        "",
        f"- Patch id: `{patch.id}`",
        f"- Current live value: {_fmt(decision.current_live_value)}",
        f"- Proposed value: {_fmt(patch.new_value)}",
        f"- Planned steps: {steps}",
        f"- Confidence: {_fmt(patch.confidence_score)}",
        f"- Tags: {', '.join(decision.candidate.tags) or '-'}",
        f"- Safety flags: {', '.join(decision.safety_flags) or '-'}",
        "- Reasons:",
        *[f"  - {reason}" for reason in decision.reasons],
        *_evidence_lines(evidence, evidence_enabled, chart),
    ]
    if outcome is not None:
        done = (
            f"applied {_fmt(outcome.before)} -> {_fmt(outcome.after)}"
            if outcome.applied
            else "not applied"
        )
        lines.append(f"- Auto-apply: {done} ({outcome.reason})")
    lines += ["", *[f"- [ ] {box}" for box in REVIEW_BOXES], ""]
    return lines


def render_checklist(
    proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome] = (), *, chart: bool = True
) -> str:
    """The Markdown checklist: title, summary, safety warnings, one section per patch
    (``chart``: the proposal has its ``evidence.png``)."""
    by_key = {o.key: o for o in outcomes}
    accepted = proposal.accepted
    lines = [
        f"# Live promotion proposal {proposal.proposal_id}",
        "",
        "## Summary",
        "",
        f"- Created: {proposal.created_at.isoformat()}",
        f"- Mode: {proposal.mode.value}",
        f"- Candidates: {len(proposal.decisions)}, accepted for proposal: {len(accepted)}",
        f"- Approve with `peaktrade-daemon proposals approve {proposal.proposal_id} --by NAME`",
        "- Evidence: "
        + (
            "each candidate's next step run in the paper book beside the live value (§9)"
            if proposal.evidence_enabled
            else "OFF in the policy (`[evidence] enabled = false`): no candidate was evaluated"
        ),
        "",
        "## Safety warnings",
        "",
        *[f"- {warning}" for warning in _warnings(proposal)],
        "",
        "## Changes",
        "",
    ]
    for decision in proposal.decisions:
        lines += _section(
            decision,
            by_key.get(decision.target) if decision.accepted else None,
            proposal.evidence.get(decision.candidate.patch.id),
            proposal.evidence_enabled,
            chart,
        )
    return "\n".join(lines)
