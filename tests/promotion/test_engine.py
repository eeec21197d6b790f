"""The pipeline on the demo patch set in all three modes, proposals and their files."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import timedelta

import pytest

from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import Verdict
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus
from peaktrade_daemon.promotion.checklist import REVIEW_BOXES
from peaktrade_daemon.promotion.engine import (
    build_promotion_candidates_from_patches,
    build_promotion_proposals,
    filter_candidates_for_live,
    run_promotion,
)
from peaktrade_daemon.promotion.proposals import materialize_promotion_proposals, new_proposal_id
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from tests.promotion.conftest import DEMO, T0, evidence_for, make_patch


def _run(
    ws: PromotionWorkspace,
    policy: AutoApplyPolicy,
    patches: list[ConfigPatch],
    mode: AutoApplyMode,
    now=T0,
):
    """The pipeline as ``promote`` runs it: with the evidence computed on the root's data."""
    root = ws.config_file.parent.parent
    return run_promotion(
        patches,
        policy=policy,
        mode=mode,
        base=ws.base(),
        writer=ws.writer(),
        audit=ws.audit(),
        proposals_dir=ws.proposals_dir,
        now=now,
        evidence=evidence_for(ws, policy, patches, root),
    )


def test_demo_verdicts_per_patch(workspace, shipped_policy, demo_patches) -> None:
    candidates = build_promotion_candidates_from_patches(demo_patches, shipped_policy)
    decisions = filter_candidates_for_live(candidates, shipped_policy, workspace.base(), {})
    assert [d.verdict for d in decisions] == [expected for *_, expected in DEMO]
    by_id = {d.candidate.patch.id: d for d in decisions}
    assert any("BLACKLIST" in r for r in by_id["demo-4"].reasons)
    assert any("FIREWALL" in r for r in by_id["demo-5"].reasons)
    assert any("P0_BOUNDS" in r for r in by_id["demo-5"].reasons)
    assert any("min_confidence" in r for r in by_id["demo-6"].reasons)
    assert by_id["demo-1"].planned_steps == (1.25, 1.5, 1.75)


def test_disabled_writes_nothing(workspace, shipped_policy, demo_patches) -> None:
    before = workspace.overrides_file.read_bytes()
    run = _run(workspace, shipped_policy, demo_patches, AutoApplyMode.DISABLED)
    assert run.proposals == [] and run.outcomes == [] and run.decisions == []
    assert workspace.overrides_file.read_bytes() == before
    assert not workspace.proposals_dir.exists()
    assert not workspace.audit_file.exists()


def test_manual_only_proposes_and_never_touches_auto_toml(
    workspace, shipped_policy, demo_patches
) -> None:
    before = workspace.overrides_file.read_bytes()
    run = _run(workspace, shipped_policy, demo_patches, AutoApplyMode.MANUAL_ONLY)
    assert workspace.overrides_file.read_bytes() == before
    assert not workspace.overrides_file.with_name("auto.toml.backup").exists()
    assert run.outcomes == []
    [proposal] = run.proposals
    directory = workspace.proposals_dir / proposal.proposal_id
    meta = json.loads((directory / "proposal_meta.json").read_text())
    assert meta["accepted"] == 3 and meta["rejected"] == 3 and meta["mode"] == "manual_only"
    patches = json.loads((directory / "config_patches.json").read_text())["candidates"]
    assert [c["verdict"] for c in patches] == [e.value for *_, e in DEMO]
    assert patches[0]["patch"]["id"] == "demo-1" and patches[0]["planned_steps"] == [
        1.25,
        1.5,
        1.75,
    ]
    checklist = (directory / "OPERATOR_CHECKLIST.md").read_text()
    for box in REVIEW_BOXES:
        assert checklist.count(f"- [ ] {box}") == len(DEMO)
    assert "Current live value: 1.0" in checklist and "Proposed value: 1.75" in checklist
    verdicts = [r for r in workspace.audit().records() if r["event"] == "verdict"]
    assert [r["verdict"] for r in verdicts] == [e.value for *_, e in DEMO]
    assert {r["proposal_id"] for r in verdicts} == {proposal.proposal_id}


def test_bounded_auto_applies_one_step_per_key(workspace, shipped_policy, demo_patches) -> None:
    run = _run(workspace, shipped_policy, demo_patches, AutoApplyMode.BOUNDED_AUTO)
    applied = {o.key: (o.before, o.after) for o in run.outcomes if o.applied}
    assert applied == {
        "portfolio.leverage": (1.0, 1.25),
        "strategy.trigger_delay": (10.0, 8.0),
        "macro.regime_weight": (0.25, 0.35),
    }
    live = tomllib.loads(workspace.overrides_file.read_text())["auto_applied"]
    assert live == {
        "portfolio.leverage": 1.25,
        "strategy.trigger_delay": 8.0,
        "macro.regime_weight": 0.35,
    }
    assert "risk.stop_loss" not in live
    changes = [r for r in workspace.audit().records() if r["event"] == "change"]
    assert [(r["key"], r["before"], r["after"], r["actor"]) for r in changes] == [
        ("portfolio.leverage", None, 1.25, "auto"),
        ("strategy.trigger_delay", None, 8.0, "auto"),
        ("macro.regime_weight", None, 0.35, "auto"),
    ]
    assert workspace.audit().verify(workspace.overrides_file).ok
    meta = json.loads(
        (workspace.proposals_dir / run.proposals[0].proposal_id / "proposal_meta.json").read_text()
    )
    assert sum(a["applied"] for a in meta["auto_apply"]) == 3


def test_two_steps_need_two_applies_separated_by_the_cooldown(workspace, shipped_policy) -> None:
    patch = [make_patch("portfolio.leverage", 1.5)]
    first = _run(workspace, shipped_policy, patch, AutoApplyMode.BOUNDED_AUTO, T0)
    assert [(o.applied, o.after) for o in first.outcomes] == [(True, 1.25)]
    early = _run(
        workspace, shipped_policy, patch, AutoApplyMode.BOUNDED_AUTO, T0 + timedelta(minutes=59)
    )
    assert not early.outcomes[0].applied and early.outcomes[0].reason.startswith("cooldown")
    later = _run(
        workspace, shipped_policy, patch, AutoApplyMode.BOUNDED_AUTO, T0 + timedelta(minutes=60)
    )
    assert [(o.applied, o.before, o.after, o.reached_target) for o in later.outcomes] == [
        (True, 1.25, 1.5, True)
    ]
    steps = [r["after"] for r in workspace.audit().records() if r["event"] == "change"]
    assert steps == [1.25, 1.5]


def test_rate_limit_counts_a_rolling_day(workspace, shipped_policy) -> None:
    keys = [
        ("portfolio.leverage", 1.25),
        ("strategy.trigger_delay", 8.0),
        ("macro.regime_weight", 0.35),
    ]
    for i, (key, value) in enumerate(keys):
        _run(
            workspace,
            shipped_policy,
            [make_patch(key, value)],
            AutoApplyMode.BOUNDED_AUTO,
            T0 + timedelta(hours=i),
        )
    fourth = _run(
        workspace,
        shipped_policy,
        [make_patch("portfolio.leverage", 1.5)],
        AutoApplyMode.BOUNDED_AUTO,
        T0 + timedelta(hours=5),
    )
    assert fourth.outcomes[0].reason.startswith("rate limit")
    next_day = _run(
        workspace,
        shipped_policy,
        [make_patch("portfolio.leverage", 1.5)],
        AutoApplyMode.BOUNDED_AUTO,
        T0 + timedelta(hours=24, seconds=1),
    )
    assert next_day.outcomes[0].applied


def test_step_is_from_live_value_not_old_value(workspace, shipped_policy) -> None:
    _run(
        workspace,
        shipped_policy,
        [make_patch("portfolio.leverage", 1.25)],
        AutoApplyMode.BOUNDED_AUTO,
        T0,
    )
    # The patch claims the old value is 1.0; live is 1.25, so one step lands on 1.5.
    run = _run(
        workspace,
        shipped_policy,
        [make_patch("portfolio.leverage", 2.0, old=1.0)],
        AutoApplyMode.BOUNDED_AUTO,
        T0 + timedelta(hours=2),
    )
    assert (run.outcomes[0].before, run.outcomes[0].after) == (1.25, 1.5)


def test_global_lock_refuses(workspace, shipped_policy, demo_patches) -> None:
    locked = shipped_policy.model_copy(update={"global_promotion_lock": True})
    from peaktrade_daemon.errors import SafetyRefusal

    with pytest.raises(SafetyRefusal):
        _run(workspace, locked, demo_patches, AutoApplyMode.BOUNDED_AUTO)
    assert not workspace.proposals_dir.exists() and not workspace.audit_file.exists()


def test_statuses_other_than_offline_or_promoted_are_not_candidates(shipped_policy) -> None:
    patches = [make_patch("portfolio.leverage", 1.5, status=s) for s in PatchStatus]
    candidates = build_promotion_candidates_from_patches(patches, shipped_policy)
    assert {c.patch.status for c in candidates} == {
        PatchStatus.APPLIED_OFFLINE,
        PatchStatus.PROMOTED,
    }


def test_no_accepted_candidate_no_proposal(workspace, shipped_policy) -> None:
    run = _run(
        workspace, shipped_policy, [make_patch("risk.stop_loss", 0.01)], AutoApplyMode.MANUAL_ONLY
    )
    assert run.proposals == [] and not workspace.proposals_dir.exists()
    assert [r["verdict"] for r in workspace.audit().records()] == ["REJECTED_BY_POLICY"]


def test_proposal_ids_unique_within_one_second_and_path_safe(
    tmp_path, shipped_policy, workspace
) -> None:
    ids = {new_proposal_id(T0) for _ in range(5000)}
    assert len(ids) == 5000
    assert all(re.fullmatch(r"[0-9A-Za-z-]+", i) for i in ids)
    decisions = filter_candidates_for_live(
        build_promotion_candidates_from_patches(
            [make_patch("portfolio.leverage", 1.5)], shipped_policy
        ),
        shipped_policy,
        workspace.base(),
        {},
    )
    proposals = [
        p
        for _ in range(50)
        for p in build_promotion_proposals(decisions, AutoApplyMode.MANUAL_ONLY, T0)
    ]
    written = materialize_promotion_proposals(proposals, tmp_path / "out")
    assert len({p.proposal_id for p in written}) == 50
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.proposal_id for p in written
    )


def test_materialize_never_reuses_an_existing_directory(
    tmp_path, shipped_policy, workspace
) -> None:
    decisions = filter_candidates_for_live(
        build_promotion_candidates_from_patches(
            [make_patch("portfolio.leverage", 1.5)], shipped_policy
        ),
        shipped_policy,
        workspace.base(),
        {},
    )
    [proposal] = build_promotion_proposals(decisions, AutoApplyMode.MANUAL_ONLY, T0)
    (tmp_path / proposal.proposal_id).mkdir()
    (tmp_path / proposal.proposal_id / "someone_elses.txt").write_text("x")
    [written] = materialize_promotion_proposals([proposal], tmp_path)
    assert written.proposal_id != proposal.proposal_id
    assert (tmp_path / proposal.proposal_id / "someone_elses.txt").read_text() == "x"
    assert (
        Verdict.ACCEPTED_FOR_PROPOSAL.value
        in (tmp_path / written.proposal_id / "config_patches.json").read_text()
    )
