"""The loop closes inside the product: a real daemon on a fresh root (shipped config and data)
runs the walk-forward learner job, and its patches reach auto.toml through the patch inbox, the
promotion worker and the bounded writer, with no snippet written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.daemon_harness import SIGTERM, AlertTail, DaemonProcess, NotifySocket, set_toml

pytestmark = pytest.mark.slow


async def test_the_learner_job_reaches_auto_toml_through_the_promotion_worker(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    set_toml(project_root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    set_toml(
        project_root / "config" / "promotion.toml", 'mode = "manual_only"', 'mode = "bounded_auto"'
    )
    # The shipped job, enabled and run once at start instead of on Monday mornings.
    set_toml(
        project_root / "config" / "scheduler" / "jobs.toml",
        'schedule_type = "cron"\ncron = "30 6 * * 1"\nenabled = false',
        'schedule_type = "once"',
    )
    env = {"PEAKTRADE_PROMOTION__INBOX_POLL_S": "0.2"}
    daemon = DaemonProcess(project_root, "--poll-interval", "3600", notify=notify, env=env)
    await daemon.start()
    try:
        await notify.expect("READY")
        await tail.wait_for("job walk_forward_learner completed", 60)
        # The learner proposed leverage 1.0 -> 2.0 with confidence 0.90 (at least the policy's
        # 0.80 for auto-apply) on the bundled EURUSD history: one bounded step.
        await tail.wait_for("auto-applied portfolio.leverage: 1.0 -> 1.25", 60)
        daemon.signal(SIGTERM)
        assert await daemon.wait(15) == 0
    finally:
        await daemon.kill()
    auto = (project_root / "config" / "live_overrides" / "auto.toml").read_text()
    assert '"portfolio.leverage" = 1.25' in auto
    snippet = json.loads((project_root / "reports/learning_snippets/walk_forward.json").read_text())
    assert {p["target"] for p in snippet["patches"]} == {
        "portfolio.leverage",
        "macro.regime_weight",
    }
    audit = [
        json.loads(line)
        for line in (project_root / "reports/promotion_audit/audit.jsonl").read_text().splitlines()
    ]
    changes = [(r["key"], r["after"], r["actor"]) for r in audit if r.get("event") == "change"]
    # And regime_weight 0.25 -> 0.0 (confidence 0.98): one step of 0.1. trigger_delay: the
    # train window's choice lost out of sample, so no patch and no change.
    assert changes == [("portfolio.leverage", 1.25, "auto"), ("macro.regime_weight", 0.15, "auto")]
