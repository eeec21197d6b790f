"""Evidence before every live change (§9) in the pipeline: on the bundled real samples, a step
that pushes drawdown past ``risk.max_drawdown`` FAILs and is never applied, a harmless one PASSes
and is, too little data is INCONCLUSIVE and waits, a stale feed never PASSes; every verdict and
every override is in the audit trail; an approval of a FAIL needs ``--override-evidence``."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from peaktrade_daemon.governance.evidence import EvidenceVerdict
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import Verdict
from peaktrade_daemon.promotion.engine import PromotionRun, run_promotion
from peaktrade_daemon.promotion.proposals import EVIDENCE_CHART, EVIDENCE_FILE, PATCHES_FILE
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import load_settings
from tests.conftest import cli_command, subprocess_env
from tests.daemon_harness import set_toml
from tests.promotion.conftest import T0, evidence_for, make_patch


def _wide(policy: AutoApplyPolicy, **evidence: Any) -> AutoApplyPolicy:
    """The shipped policy, with leverage allowed to jump to 3.0 in one step (so only the
    evidence stands between it and auto.toml) and the evidence table adjusted."""
    return policy.model_copy(
        update={
            "bounds": {**policy.bounds, "portfolio.leverage": AutoApplyBounds(1.0, 3.0, 2.0)},
            "evidence": policy.evidence.model_copy(update=evidence),
        }
    )


def _run(root: Path, policy: AutoApplyPolicy, *patches: Any, charts: bool = True) -> PromotionRun:
    workspace = PromotionWorkspace.from_settings(load_settings(root))
    return run_promotion(
        list(patches),
        policy=policy,
        mode=AutoApplyMode.BOUNDED_AUTO,
        base=workspace.base(),
        writer=workspace.writer(),
        audit=workspace.audit(),
        proposals_dir=workspace.proposals_dir,
        now=T0,
        evidence=evidence_for(workspace, policy, list(patches), root),
        charts=charts,
    )


def _live(root: Path) -> dict[str, Any]:
    text = (root / "config/live_overrides/auto.toml").read_text()
    return dict(tomllib.loads(text).get("auto_applied", {}))


def _audit(root: Path) -> list[dict[str, Any]]:
    path = root / "reports/promotion_audit/audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_step_past_the_drawdown_limit_fails_and_a_harmless_one_passes(
    project_root: Path, shipped_policy: AutoApplyPolicy
) -> None:
    policy = _wide(shipped_policy)
    run = _run(
        project_root,
        policy,
        make_patch("portfolio.leverage", 3.0, pid="jump"),
        make_patch("strategy.trigger_delay", 8.0, pid="harmless"),
    )
    verdicts = {d.candidate.patch.id: d for d in run.decisions}
    assert verdicts["jump"].verdict is Verdict.REJECTED_BY_EVIDENCE
    assert any("risk.max_drawdown" in r for r in verdicts["jump"].reasons)
    assert run.evidence["jump"].verdict is EvidenceVerdict.FAIL
    assert run.evidence["harmless"].verdict is EvidenceVerdict.PASS
    # Only the PASS step reached auto.toml.
    assert _live(project_root) == {"strategy.trigger_delay": 8.0}
    (proposal,) = run.proposals
    directory = project_root / "reports/live_promotion" / proposal.proposal_id
    recorded = json.loads((directory / EVIDENCE_FILE).read_text())["candidates"]
    jump = next(c for c in recorded if c["patch_id"] == "jump")
    assert jump["verdict"] == "FAIL" and jump["step"]["candidate"]["max_drawdown"] > 0.2
    assert jump["step"]["incumbent"]["trades"] == jump["step"]["candidate"]["trades"] > 0
    assert (directory / EVIDENCE_CHART).read_bytes().startswith(b"\x89PNG")
    sealed = json.loads((directory / PATCHES_FILE).read_text())["candidates"]
    assert {c["patch"]["id"]: c["evidence"]["verdict"] for c in sealed} == {
        "jump": "FAIL",
        "harmless": "PASS",
    }
    checklist = (directory / "OPERATOR_CHECKLIST.md").read_text()
    assert "**FAIL**" in checklist and "--override-evidence" in checklist
    # Every evidence verdict is in the audit trail, with the test and the seed.
    evidence = [r for r in _audit(project_root) if r["event"] == "evidence"]
    assert {(r["patch_id"], r["verdict"]) for r in evidence} == {
        ("jump", "FAIL"),
        ("harmless", "PASS"),
    }
    assert {r["seed"] for r in evidence} == {evidence[0]["seed"]} and evidence[0]["test"]


def test_without_charts_the_evidence_stays_and_the_checklist_names_no_chart(
    project_root: Path, shipped_policy: AutoApplyPolicy
) -> None:
    """``[promotion] evidence_charts = false`` (replay's scratch proposals): no evidence.png,
    the same sealed evidence and figures, and a checklist that points at the figures only."""
    run = _run(
        project_root,
        _wide(shipped_policy),
        make_patch("strategy.trigger_delay", 8.0, pid="harmless"),
        charts=False,
    )
    (proposal,) = run.proposals
    directory = project_root / "reports/live_promotion" / proposal.proposal_id
    assert not (directory / EVIDENCE_CHART).exists()
    assert json.loads((directory / EVIDENCE_FILE).read_text())["candidates"]
    checklist = (directory / "OPERATOR_CHECKLIST.md").read_text()
    assert "figures: `evidence.json`" in checklist and "evidence.png" not in checklist


def test_too_little_data_is_inconclusive_and_waits_for_an_operator(
    project_root: Path, shipped_policy: AutoApplyPolicy
) -> None:
    policy = _wide(shipped_policy, min_periods=1_000_000)
    run = _run(project_root, policy, make_patch("strategy.trigger_delay", 8.0))
    (decision,) = run.decisions
    assert decision.verdict is Verdict.ACCEPTED_FOR_PROPOSAL  # an operator may still approve
    (item,) = run.evidence.values()
    assert item.verdict is EvidenceVerdict.INCONCLUSIVE
    assert any("fewer than min_periods" in r for r in item.reasons)
    (outcome,) = run.outcomes
    assert not outcome.applied and "INCONCLUSIVE" in outcome.reason
    assert _live(project_root) == {}


def test_a_stale_feed_never_passes(project_root: Path, shipped_policy: AutoApplyPolicy) -> None:
    # Replay time years after the bundled history: every bar is stale.
    set_toml(
        project_root / "config/daemon.toml",
        "speed = 1.0",
        'speed = 1.0\nstart = "2031-01-01T00:00:00Z"',
    )
    run = _run(project_root, shipped_policy, make_patch("strategy.trigger_delay", 8.0))
    (item,) = run.evidence.values()
    assert item.verdict is EvidenceVerdict.INCONCLUSIVE
    assert any("stale" in r for r in item.reasons), item.reasons
    assert not any(o.applied for o in run.outcomes) and _live(project_root) == {}


def test_the_same_inputs_give_the_same_evidence(
    project_root: Path, shipped_policy: AutoApplyPolicy
) -> None:
    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    patches = [make_patch("portfolio.leverage", 1.75), make_patch("macro.regime_weight", 0.35)]
    first = evidence_for(workspace, shipped_policy, patches, project_root)
    second = evidence_for(workspace, shipped_policy, patches, project_root)
    assert [e.record() for e in first.values()] == [e.record() for e in second.values()]


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command("--root", str(root), *args),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )


def test_approving_a_fail_needs_override_evidence_and_is_recorded(project_root: Path) -> None:
    policy = project_root / "config/promotion.toml"
    policy.write_text(
        policy.read_text().replace("max = 2.0\nmax_step = 0.25", "max = 3.0\nmax_step = 2.0")
    )
    patches = project_root / "jump.json"
    patches.write_text(json.dumps([make_patch("portfolio.leverage", 3.0, pid="jump").to_dict()]))
    promoted = _cli(project_root, "promote", "--input", str(patches))
    assert promoted.returncode == 0, promoted.stderr
    assert "REJECTED_BY_EVIDENCE" in promoted.stdout and "evidence FAIL" in promoted.stdout
    (proposal_id,) = [p.name for p in (project_root / "reports/live_promotion").iterdir()]
    refused = _cli(project_root, "proposals", "approve", proposal_id, "--by", "alice")
    assert refused.returncode == 0 and "--override-evidence" in refused.stdout
    assert _live(project_root) == {}
    approved = _cli(
        project_root, "proposals", "approve", proposal_id, "--by", "alice", "--override-evidence"
    )
    assert approved.returncode == 0, approved.stderr
    assert _live(project_root) == {"portfolio.leverage": 3.0}
    records = _audit(project_root)
    (change,) = [r for r in records if r["event"] == "change"]
    assert change["actor"] == "alice" and change["evidence"] == "FAIL"
    assert change["evidence_overridden"] is True
    reviews = [r for r in records if r["event"] == "review"]
    assert reviews[-1].get("override_evidence") is True
