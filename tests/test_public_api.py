"""The in-process API (SPEC §11) as a notebook uses it: every public name imports from
``peaktrade_daemon``, and the engine, the monitors and the decision engine build with no
arguments from the current root's embedded defaults and do real work on the bundled data.

Run in a fresh interpreter whose working directory is a scratch copy of the shipped root (what
a notebook opened there sees), with nothing of this test process's state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import peaktrade_daemon
from tests.conftest import subprocess_env

pytestmark = pytest.mark.slow

NAMES = (
    "WorkflowEngine",
    "MarketMonitor",
    "SignalMonitor",
    "PerformanceMonitor",
    "DecisionEngine",
    "DecisionCriteria",
    "ConfigPatch",
    "PatchStatus",
    "LearningSignal",
    "PeakConfig",
    "load_config",
    "load_config_with_live_overrides",
    "load_effective_config",
    "AutoApplyPolicy",
    "AutoApplyBounds",
    "PromotionCandidate",
    "PromotionDecision",
    "PromotionProposal",
    "build_promotion_candidates_from_patches",
    "filter_candidates_for_live",
    "build_promotion_proposals",
    "materialize_promotion_proposals",
    "apply_proposals_to_live_overrides",
)

NOTEBOOK = """
import asyncio, json, sys, tomllib
from datetime import UTC, datetime
from pathlib import Path
from peaktrade_daemon import (
    AutoApplyBounds, AutoApplyPolicy, ConfigPatch, DecisionCriteria, DecisionEngine,
    LearningSignal, MarketMonitor, PatchStatus, PerformanceMonitor, PromotionCandidate,
    PromotionDecision, PromotionProposal, SignalMonitor, WorkflowEngine,
    apply_proposals_to_live_overrides, build_promotion_candidates_from_patches,
    build_promotion_proposals, filter_candidates_for_live, load_config,
    load_config_with_live_overrides, materialize_promotion_proposals,
)

async def main():
    out = {}
    for name, monitor, symbol in (
        ("market", MarketMonitor(), "BTC/USD"),
        ("signals", SignalMonitor(), "EUR/USD"),
        ("performance", PerformanceMonitor(), "GOOG"),
    ):
        result = await asyncio.wait_for(monitor.check_conditions(symbol), 60)
        out[name] = {"monitor": result.monitor_name, "status": result.status,
                     "metrics": dict(result.metrics)}
        await monitor.close()
    engine = WorkflowEngine()
    run_id = engine.create_workflow("notebook", "market_scan")
    result = await asyncio.wait_for(engine.execute_workflow(run_id), 60)
    out["workflow"] = {"state": result.state.value, "report_dir": str(result.report_dir),
                       "history": [r.run_id for r in await engine.get_history()], "run_id": run_id}
    await engine.close()
    decisions = DecisionEngine()
    decisions.add_criteria(workflow_type="notebook",
                           criteria=DecisionCriteria("volume", 1.5, metric_name="volume_ratio"))
    made = decisions.make_decision(
        "notebook", {"volume_ratio": out["market"]["metrics"]["volume_ratio"]},
        {"now": datetime.now(UTC)})
    out["decision"] = {"action": str(getattr(made.action, "value", made.action)),
                       "confidence": made.confidence}
    out["config"] = {"leverage": load_config().get("portfolio.leverage"),
                     "live": load_config_with_live_overrides().get("portfolio.leverage")}
    out["learning"] = [PatchStatus.__name__, ConfigPatch.__name__, LearningSignal.__name__]
    policy = AutoApplyPolicy.model_validate(tomllib.loads(open("config/promotion.toml").read()))
    patch = ConfigPatch(id="nb", target="portfolio.leverage", old_value=None, new_value=1.5,
                        status=PatchStatus.APPLIED_OFFLINE, confidence_score=0.9,
                        meta={"is_live_ready": True})
    candidates = build_promotion_candidates_from_patches([patch], policy)
    decisions = filter_candidates_for_live(candidates, policy, load_config().to_dict(), {})
    proposals = build_promotion_proposals(decisions, policy.mode, datetime.now(UTC))
    written = materialize_promotion_proposals(proposals, Path("reports/live_promotion"))
    out["promotion"] = {"verdict": decisions[0].verdict.value, "steps": decisions[0].planned_steps,
                        "sealed": bool(written[0].seal), "ids": [p.proposal_id for p in written],
                        "types": [AutoApplyBounds.__name__, PromotionCandidate.__name__,
                                  PromotionDecision.__name__, PromotionProposal.__name__,
                                  apply_proposals_to_live_overrides.__name__]}
    print(json.dumps(out))

asyncio.run(main())
"""


def test_every_public_name_is_exported_and_lazy() -> None:
    assert set(NAMES) <= set(peaktrade_daemon.__all__)
    assert set(NAMES) <= set(dir(peaktrade_daemon))
    for name in NAMES:
        assert getattr(peaktrade_daemon, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        peaktrade_daemon.Nope  # noqa: B018


def test_a_notebook_in_the_root_builds_everything_with_no_arguments(project_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", NOTEBOOK],
        cwd=project_root,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # Each monitor computed its metrics from the bundled data of the root.
    assert out["market"]["monitor"] == "market" and out["market"]["metrics"]["volatility"] > 0
    assert {"signal_strength", "signal_frequency"} <= set(out["signals"]["metrics"])
    assert out["performance"]["metrics"]["total_trades"] >= 1
    # The workflow did real work: its report is in the root's reports/ and its history kept.
    workflow = out["workflow"]
    assert workflow["state"] == "completed"
    report = Path(workflow["report_dir"])
    assert report.parent == project_root / "reports" / "workflows"
    document = json.loads((report / "report.json").read_text())
    assert {row["symbol"] for row in document["summary"]["ranked"]} >= {"BTC/USD", "GOOG"}
    assert workflow["history"] == [workflow["run_id"]]
    assert out["decision"]["action"] in ("EXECUTE", "ALERT", "SKIP", "WAIT")
    assert out["config"] == {"leverage": 1.0, "live": 1.0}
    promotion = out["promotion"]
    assert promotion["verdict"] == "ACCEPTED_FOR_PROPOSAL" and promotion["sealed"]
    assert promotion["steps"] == [1.25, 1.5]
    (proposal_id,) = promotion["ids"]
    assert (project_root / "reports/live_promotion" / proposal_id / "config_patches.json").exists()
