"""The promotion pipeline (§8.2) with the seed's function names, and ``run_promotion`` which
chains them for the ``promote`` command and the promotion worker.

patches → :func:`build_promotion_candidates_from_patches` → :func:`filter_candidates_for_live`
(verdicts) → :func:`build_promotion_proposals` → :func:`materialize_promotion_proposals`
(reports/live_promotion/<id>/, sealed) → :func:`apply_proposals_to_live_overrides`
(bounded_auto only, through the writer's gate). Blocking (file I/O): call from a thread inside
the daemon.

One bad patch never sinks its batch (§8.8): an entry that did not even make a valid patch (a
value out of float or TOML integer range, say) is a ``REJECTED_BY_SANITY_CHECK`` verdict of its
own, and an unexpected error while judging one candidate rejects that candidate alone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from peaktrade_daemon.config.overrides import blamed_key
from peaktrade_daemon.errors import ComponentRefusal, SafetyRefusal
from peaktrade_daemon.governance.evidence import EvidenceVerdict
from peaktrade_daemon.governance.holds import effective_mode, evidence_hold
from peaktrade_daemon.governance.plans import ApplyOutcome, WriteKind, plan_bounded_apply
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import (
    CANDIDATE_STATUSES,
    PromotionCandidate,
    PromotionDecision,
    Verdict,
    build_candidate,
    decide,
    judged_acceptable,
    rejected_by_evidence,
    sanity_rejection,
)
from peaktrade_daemon.learning.models import ConfigPatch, Scalar
from peaktrade_daemon.learning.snippets import RefusedEntry
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.evidence import CandidateEvidence
from peaktrade_daemon.promotion.models import PromotionProposal
from peaktrade_daemon.promotion.proposals import (
    materialize_promotion_proposals,
    new_proposal_id,
    record_outcomes,
)
from peaktrade_daemon.promotion.writer import GateContext, OverridesWriter
from peaktrade_daemon.trading_config import refused_live_value

logger = logging.getLogger(__name__)


def build_promotion_candidates_from_patches(
    patches: Iterable[ConfigPatch], policy: AutoApplyPolicy
) -> list[PromotionCandidate]:
    """Candidates are patches ``APPLIED_OFFLINE`` or ``PROMOTED``, tagged and judged eligible."""
    return [build_candidate(p, policy) for p in patches if p.status in CANDIDATE_STATUSES]


def _judged(
    candidate: PromotionCandidate,
    policy: AutoApplyPolicy,
    base: Mapping[str, Any],
    live_value: Scalar | None,
) -> PromotionDecision:
    try:
        decision = decide(candidate, policy, base, live_value)
    except Exception as exc:  # one candidate's surprise must not reject its batch (§8.8)
        logger.exception("promotion: judging %s failed", candidate.patch.target)
        return sanity_rejection(candidate, f"judging failed unexpectedly: {exc!r}")
    if decision.verdict is Verdict.ACCEPTED_FOR_PROPOSAL:
        # Bounds can reach past what the paper book or a strategy accepts (regime_weight above
        # 1): such a value is no valid change, and the loader would not apply it.
        patch = candidate.patch
        refused = refused_live_value(base, {patch.target: patch.new_value})
        if refused is not None:
            return sanity_rejection(
                candidate, f"the component that reads {refused.key} refuses it: {refused.problem}"
            )
    return decision


def filter_candidates_for_live(
    candidates: Iterable[PromotionCandidate],
    policy: AutoApplyPolicy,
    base: Mapping[str, Any],
    live_values: Mapping[str, Scalar],
) -> list[PromotionDecision]:
    """One verdict per candidate, in input order (§8.2.2). Candidates that share a patch id are
    all refused: evidence, the checklist and approval go by id, so one id must name one change
    (two patches under one id would be judged on each other's evidence)."""
    chosen = list(candidates)
    uses = Counter(c.patch.id for c in chosen)
    return [
        sanity_rejection(
            c,
            f"patch id {c.patch.id!r} is given to {uses[c.patch.id]} patches; "
            "an id must name one change",
        )
        if uses[c.patch.id] > 1
        else _judged(c, policy, base, live_values.get(c.patch.target))
        for c in chosen
    ]


def build_promotion_proposals(
    decisions: Sequence[PromotionDecision],
    mode: AutoApplyMode,
    now: datetime,
    *,
    source: str = "promote",
    evidence: Mapping[str, CandidateEvidence] | None = None,
    evidence_enabled: bool = False,
) -> list[PromotionProposal]:
    """One proposal per run when any candidate was accepted by the policy (including those the
    evidence then rejected; none otherwise); ``disabled`` never proposes anything."""
    if mode is AutoApplyMode.DISABLED or not any(judged_acceptable(d) for d in decisions):
        return []
    return [
        PromotionProposal(
            new_proposal_id(now),
            now,
            mode,
            tuple(decisions),
            source,
            evidence=dict(evidence or {}),
            evidence_enabled=evidence_enabled,
        )
    ]


def apply_evidence(
    decisions: Sequence[PromotionDecision], evidence: Mapping[str, CandidateEvidence]
) -> list[PromotionDecision]:
    """§9: an accepted candidate whose next step the evidence FAILed is REJECTED_BY_EVIDENCE."""
    out: list[PromotionDecision] = []
    for decision in decisions:
        found = evidence.get(decision.candidate.patch.id)
        if decision.accepted and found is not None and found.verdict is EvidenceVerdict.FAIL:
            decision = rejected_by_evidence(decision, found.reasons)
        out.append(decision)
    return out


def evidence_step_hold(
    policy: AutoApplyPolicy, evidence: Mapping[str, CandidateEvidence]
) -> Callable[[PromotionDecision, float], str | None]:
    """The planner's step hold: bounded auto-apply takes a step only on PASS for that step."""

    def hold(decision: PromotionDecision, step: float) -> str | None:
        found = evidence.get(decision.candidate.patch.id)
        return evidence_hold(
            policy.evidence.enabled,
            None if found is None else found.verdict,
            None if found is None else found.step_value,
            step,
        )

    return hold


def apply_proposals_to_live_overrides(
    proposals: Sequence[PromotionProposal],
    policy: AutoApplyPolicy,
    mode: AutoApplyMode,
    writer: OverridesWriter,
    base: Mapping[str, Any],
    now: datetime,
    *,
    hold: Callable[[str], str | None] = lambda key: None,
    evidence: Mapping[str, CandidateEvidence] | None = None,
) -> list[ApplyOutcome]:
    """Bounded auto-apply (§8.3): one step per eligible key, under the writer's lock, and with
    evidence on only a step the evidence PASSed (§9; ``evidence`` by patch id, else each
    proposal's own). Anything but ``bounded_auto`` returns without touching auto.toml."""
    outcomes: list[ApplyOutcome] = []
    if mode is not AutoApplyMode.BOUNDED_AUTO:
        return outcomes
    for proposal in proposals:
        step_hold = evidence_step_hold(policy, proposal.evidence if evidence is None else evidence)
        # A step the components refuse (an integer parameter given a float step, two keys
        # valid alone but not together) holds its key, never the proposal's other keys (§8.8).
        refused: dict[str, str] = {}
        targets = list(dict.fromkeys(d.target for d in proposal.decisions))

        def held(key: str, refused: dict[str, str] = refused) -> str | None:
            return refused.get(key) or hold(key)

        while True:
            planner = plan_bounded_apply(
                proposal.decisions, policy, mode, base, now, hold=held, step_hold=step_hold
            )
            try:
                result = writer.transact(
                    planner,
                    kind=WriteKind.ADVANCE,
                    gate=GateContext(base, policy),
                    actor="auto",
                    mode=mode.value,
                    proposal_id=proposal.proposal_id,
                    now=now,
                )
            except ComponentRefusal as exc:
                blamed = blamed_key([t for t in targets if t not in refused], exc.keys)
                if blamed is None:
                    raise
                refused[blamed] = f"held: a component refuses the step ({exc})"
                continue
            break
        outcomes.extend(result.outcome)
    return outcomes


def verdict_records(
    decisions: Sequence[PromotionDecision],
    mode: AutoApplyMode,
    proposal_id: str | None,
    now: datetime,
    actor: str,
    *,
    seal: str | None = None,
) -> list[dict[str, Any]]:
    """One ``verdict`` audit record per decision; ``seal`` is the proposal's (§8.8)."""
    return [
        {
            "time": now.isoformat(),
            "event": "verdict",
            "actor": actor,
            "mode": mode.value,
            "proposal_id": proposal_id,
            "proposal_sha256": seal,
            "key": d.target,
            "patch_id": d.candidate.patch.id,
            "verdict": d.verdict.value,
            "proposed": d.candidate.patch.new_value,
            "current": d.current_live_value,
            "reasons": list(d.reasons),
        }
        for d in decisions
    ]


def evidence_records(
    evidence: Mapping[str, CandidateEvidence],
    mode: AutoApplyMode,
    proposal_id: str | None,
    now: datetime,
    actor: str,
) -> list[dict[str, Any]]:
    """One ``evidence`` audit record per evaluated candidate (§9: every verdict is audited)."""
    return [
        {
            "time": now.isoformat(),
            "event": "evidence",
            "actor": actor,
            "mode": mode.value,
            "proposal_id": proposal_id,
            "key": item.key,
            "patch_id": item.patch_id,
            "live_value": item.live_value,
            "test": None if item.step is None else item.step.test,
            "seed": None if item.step is None else item.step.seed,
            **item.summary(),
        }
        for item in evidence.values()
    ]


def refused_entry_records(
    refused: Sequence[RefusedEntry], mode: AutoApplyMode, now: datetime, actor: str
) -> list[dict[str, Any]]:
    """A ``REJECTED_BY_SANITY_CHECK`` verdict record for each entry that made no valid patch."""
    return [
        {
            "time": now.isoformat(),
            "event": "verdict",
            "actor": actor,
            "mode": mode.value,
            "proposal_id": None,
            "key": entry.target,
            "patch_id": entry.patch_id,
            "verdict": Verdict.REJECTED_BY_SANITY_CHECK.value,
            "reasons": [f"SANITY: {entry.reason}"],
            "where": entry.where,
        }
        for entry in refused
    ]


@dataclass(slots=True)
class PromotionRun:
    """What one run of the pipeline did."""

    mode: AutoApplyMode
    candidates: list[PromotionCandidate] = field(default_factory=list)
    decisions: list[PromotionDecision] = field(default_factory=list)
    proposals: list[PromotionProposal] = field(default_factory=list)
    outcomes: list[ApplyOutcome] = field(default_factory=list)
    refused: list[RefusedEntry] = field(default_factory=list)
    evidence: dict[str, CandidateEvidence] = field(default_factory=dict)
    ignored: int = 0
    dry_run: bool = False


def run_promotion(
    patches: Sequence[ConfigPatch],
    *,
    policy: AutoApplyPolicy,
    mode: AutoApplyMode,
    base: Mapping[str, Any],
    writer: OverridesWriter,
    audit: AuditTrail,
    proposals_dir: Path,
    now: datetime,
    dry_run: bool = False,
    actor: str = "promote",
    hold: Callable[[str], str | None] = lambda key: None,
    refused: Sequence[RefusedEntry] = (),
    evidence: Mapping[str, CandidateEvidence] | None = None,
    charts: bool = True,
) -> PromotionRun:
    """The whole of §8.2 for one batch of patches. ``disabled`` (the requested mode, or the
    policy's killswitch, which no request lifts) writes nothing at all; a set global lock
    refuses (exit 3); ``dry_run`` computes verdicts and writes nothing. ``refused``: entries of
    the batch that made no valid patch, recorded as sanity verdicts. ``evidence`` (by patch id,
    from :class:`~peaktrade_daemon.promotion.evidence.EvidenceRunner`) rejects FAILed
    candidates and gates each step; with evidence on in the policy and none given, nothing is
    auto-applied (fail closed). ``charts`` False writes proposals without ``evidence.png``."""
    mode = effective_mode(policy, mode)
    run = PromotionRun(mode=mode, dry_run=dry_run, refused=list(refused))
    if mode is AutoApplyMode.DISABLED:
        return run
    if policy.global_promotion_lock:
        raise SafetyRefusal(
            "global_promotion_lock is set in the promotion policy; nothing promoted"
        )
    run.candidates = build_promotion_candidates_from_patches(patches, policy)
    run.ignored = len(patches) - len(run.candidates)
    run.decisions = filter_candidates_for_live(run.candidates, policy, base, writer.read().values)
    found = dict(evidence or {}) if policy.evidence.enabled else {}
    run.decisions = apply_evidence(run.decisions, found)
    run.evidence = found
    proposals = build_promotion_proposals(
        run.decisions,
        mode,
        now,
        source=actor,
        evidence=found,
        evidence_enabled=policy.evidence.enabled,
    )
    if dry_run:
        run.proposals = proposals
        return run
    audit.check_appendable()  # a damaged trail refuses before any proposal file is written
    run.proposals = materialize_promotion_proposals(proposals, proposals_dir, charts=charts)
    proposal_id = run.proposals[0].proposal_id if run.proposals else None
    seal = run.proposals[0].seal if run.proposals else None
    audit.append(
        [
            *verdict_records(run.decisions, mode, proposal_id, now, actor, seal=seal),
            *evidence_records(found, mode, proposal_id, now, actor),
            *refused_entry_records(run.refused, mode, now, actor),
        ]
    )
    run.outcomes = apply_proposals_to_live_overrides(
        run.proposals, policy, mode, writer, base, now, hold=hold
    )
    if mode is AutoApplyMode.BOUNDED_AUTO:
        for proposal in run.proposals:
            record_outcomes(proposals_dir, proposal, run.outcomes)
    logger.info(
        "promotion: %d candidate(s), %d accepted, proposal %s, %d change(s) applied",
        len(run.candidates),
        sum(d.accepted for d in run.decisions),
        proposal_id or "-",
        sum(o.applied for o in run.outcomes),
    )
    return run
