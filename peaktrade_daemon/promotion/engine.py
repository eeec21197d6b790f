"""The promotion pipeline (§8.2) with the seed's function names, and ``run_promotion`` which
chains them for the ``promote`` command and the promotion worker.

patches → :func:`build_promotion_candidates_from_patches` → :func:`filter_candidates_for_live`
(verdicts) → :func:`build_promotion_proposals` → :func:`materialize_promotion_proposals`
(reports/live_promotion/<id>/) → :func:`apply_proposals_to_live_overrides` (bounded_auto only).
Blocking (file I/O): call from a thread inside the daemon.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from peaktrade_daemon.errors import SafetyRefusal
from peaktrade_daemon.learning.models import ConfigPatch, Scalar
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.changes import plan_bounded_apply
from peaktrade_daemon.promotion.checklist import render_checklist
from peaktrade_daemon.promotion.models import (
    ApplyOutcome,
    AutoApplyMode,
    AutoApplyPolicy,
    PromotionCandidate,
    PromotionDecision,
    PromotionProposal,
)
from peaktrade_daemon.promotion.policy import CANDIDATE_STATUSES, build_candidate, decide
from peaktrade_daemon.promotion.writer import OverridesWriter
from peaktrade_daemon.storage.atomic import atomic_write_text, fsync_directory

logger = logging.getLogger(__name__)

PROPOSAL_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
META_FILE = "proposal_meta.json"
PATCHES_FILE = "config_patches.json"
CHECKLIST_FILE = "OPERATOR_CHECKLIST.md"


def new_proposal_id(now: datetime) -> str:
    """``20240101T120000Z-1a2b3c4d``: sortable by time, 32 random bits against same-second
    collisions, only ``[0-9A-Za-z-]`` so it is safe as a path component."""
    return f"{now.strftime('%Y%m%dT%H%M%S')}Z-{secrets.token_hex(4)}"


def check_proposal_id(proposal_id: str) -> str:
    """Refuse anything that is not a proposal id (never a path like ``../x``)."""
    if not PROPOSAL_ID_RE.fullmatch(proposal_id):
        raise ValueError(f"{proposal_id!r} is not a proposal id (like 20240101T120000Z-1a2b3c4d)")
    return proposal_id


def build_promotion_candidates_from_patches(
    patches: Iterable[ConfigPatch], policy: AutoApplyPolicy
) -> list[PromotionCandidate]:
    """Candidates are patches ``APPLIED_OFFLINE`` or ``PROMOTED``, tagged and judged eligible."""
    return [build_candidate(p, policy) for p in patches if p.status in CANDIDATE_STATUSES]


def filter_candidates_for_live(
    candidates: Iterable[PromotionCandidate],
    policy: AutoApplyPolicy,
    base: Mapping[str, Any],
    live_values: Mapping[str, Scalar],
) -> list[PromotionDecision]:
    """One verdict per candidate, in input order (§8.2.2)."""
    return [decide(c, policy, base, live_values.get(c.patch.target)) for c in candidates]


def build_promotion_proposals(
    decisions: Sequence[PromotionDecision],
    mode: AutoApplyMode,
    now: datetime,
    *,
    source: str = "promote",
) -> list[PromotionProposal]:
    """One proposal per run when any candidate was accepted (none otherwise); ``disabled`` never
    proposes anything."""
    if mode is AutoApplyMode.DISABLED or not any(d.accepted for d in decisions):
        return []
    return [PromotionProposal(new_proposal_id(now), now, mode, tuple(decisions), source)]


def decision_dict(decision: PromotionDecision) -> dict[str, Any]:
    """A decision as stored in ``config_patches.json``."""
    candidate = decision.candidate
    return {
        "target": candidate.patch.target,
        "verdict": decision.verdict.value,
        "reasons": list(decision.reasons),
        "tags": list(candidate.tags),
        "eligible_for_live": candidate.eligible_for_live,
        "eligibility_reasons": list(candidate.eligibility_reasons),
        "safety_flags": list(decision.safety_flags),
        "current_live_value": decision.current_live_value,
        "planned_steps": list(decision.planned_steps),
        "patch": candidate.patch.to_dict(),
    }


def proposal_meta(
    proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome] = ()
) -> dict[str, Any]:
    """The content of ``proposal_meta.json``."""
    accepted = proposal.accepted
    return {
        "proposal_id": proposal.proposal_id,
        "created_at": proposal.created_at.isoformat(),
        "mode": proposal.mode.value,
        "source": proposal.source,
        "candidates": len(proposal.decisions),
        "accepted": len(accepted),
        "rejected": len(proposal.decisions) - len(accepted),
        "accepted_targets": [d.target for d in accepted],
        "auto_apply": [
            {
                "key": o.key,
                "applied": o.applied,
                "before": o.before,
                "after": o.after,
                "reason": o.reason,
            }
            for o in outcomes
        ],
    }


def _dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def _write_proposal(final: Path, proposal: PromotionProposal) -> None:
    # Not ".ptmp": storage/atomic.clean_stale_temp_files unlinks those and this is a directory.
    # A directory left by a killed writer is ignored (not a proposal id) and harmless.
    tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(3)}.tmpdir")
    tmp.mkdir(parents=True)
    try:
        patches = {
            "proposal_id": proposal.proposal_id,
            "candidates": [decision_dict(d) for d in proposal.decisions],
        }
        atomic_write_text(tmp / PATCHES_FILE, _dump(patches))
        atomic_write_text(tmp / CHECKLIST_FILE, render_checklist(proposal))
        atomic_write_text(tmp / META_FILE, _dump(proposal_meta(proposal)))
        # rename() of a directory fails if the target exists: an id is never reused.
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_directory(final.parent)


def materialize_promotion_proposals(
    proposals: Sequence[PromotionProposal], reports_dir: Path
) -> list[PromotionProposal]:
    """Write each proposal's three files under ``<reports_dir>/<proposal_id>/`` (all at once:
    built in a temp directory and renamed). On an id collision a fresh id is drawn; returns the
    proposals as written (ids possibly changed)."""
    written: list[PromotionProposal] = []
    for proposal in proposals:
        reports_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            try:
                _write_proposal(reports_dir / proposal.proposal_id, proposal)
                break
            except OSError:
                if not (reports_dir / proposal.proposal_id).exists():
                    raise
                proposal = replace(proposal, proposal_id=new_proposal_id(proposal.created_at))
        written.append(proposal)
    return written


def record_outcomes(
    reports_dir: Path, proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome]
) -> None:
    """Rewrite the proposal's meta and checklist with what auto-apply did."""
    directory = reports_dir / proposal.proposal_id
    atomic_write_text(directory / META_FILE, _dump(proposal_meta(proposal, outcomes)))
    atomic_write_text(directory / CHECKLIST_FILE, render_checklist(proposal, outcomes))


def apply_proposals_to_live_overrides(
    proposals: Sequence[PromotionProposal],
    policy: AutoApplyPolicy,
    mode: AutoApplyMode,
    writer: OverridesWriter,
    base: Mapping[str, Any],
    now: datetime,
    *,
    hold: Callable[[str], str | None] = lambda key: None,
) -> list[ApplyOutcome]:
    """Bounded auto-apply (§8.3): one step per eligible key, under the writer's lock. Anything but
    ``bounded_auto`` returns without touching auto.toml."""
    outcomes: list[ApplyOutcome] = []
    if mode is not AutoApplyMode.BOUNDED_AUTO:
        return outcomes
    for proposal in proposals:
        planner = plan_bounded_apply(proposal.decisions, policy, mode, base, now, hold=hold)
        result = writer.transact(
            planner, actor="auto", mode=mode.value, proposal_id=proposal.proposal_id, now=now
        )
        outcomes.extend(result.outcome)
    return outcomes


def verdict_records(
    decisions: Sequence[PromotionDecision],
    mode: AutoApplyMode,
    proposal_id: str | None,
    now: datetime,
    actor: str,
) -> list[dict[str, Any]]:
    """One ``verdict`` audit record per decision."""
    return [
        {
            "time": now.isoformat(),
            "event": "verdict",
            "actor": actor,
            "mode": mode.value,
            "proposal_id": proposal_id,
            "key": d.target,
            "patch_id": d.candidate.patch.id,
            "verdict": d.verdict.value,
            "proposed": d.candidate.patch.new_value,
            "current": d.current_live_value,
            "reasons": list(d.reasons),
        }
        for d in decisions
    ]


@dataclass(slots=True)
class PromotionRun:
    """What one run of the pipeline did."""

    mode: AutoApplyMode
    candidates: list[PromotionCandidate] = field(default_factory=list)
    decisions: list[PromotionDecision] = field(default_factory=list)
    proposals: list[PromotionProposal] = field(default_factory=list)
    outcomes: list[ApplyOutcome] = field(default_factory=list)
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
) -> PromotionRun:
    """The whole of §8.2 for one batch of patches. ``disabled`` writes nothing at all; a set
    global lock refuses (exit 3); ``dry_run`` computes verdicts and writes nothing."""
    run = PromotionRun(mode=mode, dry_run=dry_run)
    if mode is AutoApplyMode.DISABLED:
        return run
    if policy.global_promotion_lock:
        raise SafetyRefusal(
            "global_promotion_lock is set in the promotion policy; nothing promoted"
        )
    run.candidates = build_promotion_candidates_from_patches(patches, policy)
    run.ignored = len(patches) - len(run.candidates)
    run.decisions = filter_candidates_for_live(run.candidates, policy, base, writer.read().values)
    proposals = build_promotion_proposals(run.decisions, mode, now, source=actor)
    if dry_run:
        run.proposals = proposals
        return run
    run.proposals = materialize_promotion_proposals(proposals, proposals_dir)
    proposal_id = run.proposals[0].proposal_id if run.proposals else None
    audit.append(verdict_records(run.decisions, mode, proposal_id, now, actor))
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
