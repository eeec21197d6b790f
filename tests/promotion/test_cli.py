"""The promotion commands as an operator runs them (real subprocesses on a copied root)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import tomllib
from pathlib import Path

from peaktrade_daemon.learning.models import patches_to_json
from tests.conftest import cli_command, subprocess_env
from tests.promotion.conftest import DEMO, make_patch


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command("--root", str(root), *args),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )


def _demo_file(root: Path) -> Path:
    path = root / "demo_patches.json"
    path.write_text(
        patches_to_json([make_patch(t, n, old=o, confidence=c, pid=i) for i, t, o, n, c, _ in DEMO])
    )
    return path


def _alerts(root: Path) -> list[list[str]]:
    log = root / "logs/autonomous_alerts.log"
    return [line.split("\t") for line in log.read_text().splitlines()] if log.exists() else []


def test_missing_policy_exits_3_writes_nothing_and_alerts(project_root: Path) -> None:
    (project_root / "config/promotion.toml").unlink()
    before = (project_root / "config/live_overrides/auto.toml").read_bytes()
    proc = cli(
        project_root,
        "promote",
        "--auto-apply-mode",
        "bounded_auto",
        "--input",
        str(_demo_file(project_root)),
    )
    assert proc.returncode == 3, proc.stderr
    assert "promotion policy not found" in proc.stderr
    assert (project_root / "config/live_overrides/auto.toml").read_bytes() == before
    assert not (project_root / "reports/live_promotion").exists()
    assert not (project_root / "reports/promotion_audit").exists()
    [alert] = _alerts(project_root)
    assert (
        alert[1] == "critical"
        and alert[2] == "promotion"
        and json.loads(alert[4])["error"] == "PolicyError"
    )


def test_invalid_policy_exits_3(project_root: Path) -> None:
    policy = project_root / "config/promotion.toml"
    policy.write_text(policy.read_text().replace("max_step = 0.25", 'max_step = "0.25"'))
    proc = cli(project_root, "learn")
    assert proc.returncode == 3
    assert "bounds.portfolio.leverage" in proc.stderr or "max_step" in proc.stderr
    assert not (project_root / "config/auto/learning.override.toml").exists()


def test_unparseable_auto_toml_is_refused_with_a_critical_alert(project_root: Path) -> None:
    auto = project_root / "config/live_overrides/auto.toml"
    auto.write_text("[auto_applied\nbroken")
    proc = cli(
        project_root,
        "promote",
        "--auto-apply-mode",
        "bounded_auto",
        "--input",
        str(_demo_file(project_root)),
    )
    assert proc.returncode == 3
    assert auto.read_text() == "[auto_applied\nbroken"
    assert any(
        a[1] == "critical" and "refusing to overwrite" in a[3] for a in _alerts(project_root)
    )


def test_manual_only_then_approve_and_reject(project_root: Path) -> None:
    auto = project_root / "config/live_overrides/auto.toml"
    before = auto.read_bytes()
    proc = cli(project_root, "promote", "--input", str(_demo_file(project_root)))
    assert proc.returncode == 0, proc.stderr
    assert auto.read_bytes() == before  # manual_only never touches auto.toml
    [proposal_id] = [p.name for p in (project_root / "reports/live_promotion").iterdir()]
    listing = cli(project_root, "proposals", "list")
    assert proposal_id in listing.stdout and "pending" in listing.stdout
    show = cli(project_root, "proposals", "show", proposal_id)
    assert "- [ ] Leverage within bounds" in show.stdout
    assert cli(project_root, "proposals", "show", "../../etc").returncode == 2

    approve = cli(
        project_root, "proposals", "approve", proposal_id, "--by", "alice", "--note", "ok"
    )
    assert approve.returncode == 0, approve.stderr
    live = tomllib.loads(auto.read_text())["auto_applied"]
    assert live == {
        "portfolio.leverage": 1.25,
        "strategy.trigger_delay": 8.0,
        "macro.regime_weight": 0.35,
    }
    again = cli(project_root, "proposals", "approve", proposal_id, "--by", "alice")
    assert "cooldown" in again.stdout  # the bake time holds for approvals too
    changes = [
        json.loads(line)
        for line in (project_root / "reports/promotion_audit/audit.jsonl").read_text().splitlines()
    ]
    assert {r["actor"] for r in changes if r["event"] == "change"} == {"alice"}
    db = sqlite3.connect(project_root / "state/peaktrade.db")
    status, reviewer = db.execute(
        "select status, reviewed_by from promotion_proposals where proposal_id = ?", (proposal_id,)
    ).fetchone()
    assert (status, reviewer) == ("approved", "alice")
    indexed = db.execute("select count(*) from promotion_audit_index").fetchone()[0]
    assert indexed == len(changes)

    second = cli(project_root, "promote", "--input", str(_demo_file(project_root)))
    other = next(
        p.name for p in (project_root / "reports/live_promotion").iterdir() if p.name != proposal_id
    )
    assert second.returncode == 0
    assert (
        cli(project_root, "proposals", "reject", other, "--by", "bob").returncode == 2
    )  # --note required
    reject = cli(project_root, "proposals", "reject", other, "--by", "bob", "--note", "not now")
    assert reject.returncode == 0
    assert cli(project_root, "proposals", "approve", other, "--by", "bob").returncode == 2


def test_overrides_rollback_clear_and_dry_run(project_root: Path) -> None:
    auto = project_root / "config/live_overrides/auto.toml"
    assert (
        cli(
            project_root,
            "promote",
            "--auto-apply-mode",
            "bounded_auto",
            "--input",
            str(_demo_file(project_root)),
        ).returncode
        == 0
    )
    applied = tomllib.loads(auto.read_text())["auto_applied"]
    assert applied == {
        "portfolio.leverage": 1.25,
        "strategy.trigger_delay": 8.0,
        "macro.regime_weight": 0.35,
    }

    snapshot = auto.read_bytes()
    dry = cli(project_root, "--dry-run", "overrides", "clear")
    assert dry.returncode == 0
    assert auto.read_bytes() == snapshot  # dry run writes nothing
    assert "would clear portfolio.leverage: 1.25 -> None" in dry.stdout.splitlines()

    assert cli(project_root, "overrides", "clear", "--by", "carol").returncode == 0
    assert tomllib.loads(auto.read_text())["auto_applied"] == {}
    assert (
        cli(project_root, "overrides", "rollback", "--steps", "3", "--by", "carol").returncode == 0
    )
    assert tomllib.loads(auto.read_text())["auto_applied"] == applied
    assert (
        cli(project_root, "overrides", "rollback", "--steps", "3", "--by", "carol").returncode == 0
    )
    assert tomllib.loads(auto.read_text())["auto_applied"] == {}
    nothing = cli(project_root, "overrides", "clear", "--by", "carol")
    assert nothing.returncode == 0 and "nothing to clear" in nothing.stdout.splitlines()
    assert (
        cli(project_root, "overrides", "rollback", "--to-backup", "--by", "carol").returncode == 0
    )
    assert tomllib.loads(auto.read_text())["auto_applied"] == applied
    show = cli(project_root, "overrides", "show")
    assert '"portfolio.leverage"' not in show.stdout and "portfolio.leverage = 1.25" in show.stdout
    assert cli(project_root, "overrides", "verify-audit").returncode == 0
    assert (
        cli(project_root, "overrides", "rollback", "--steps", "1", "--by", "auto").returncode == 3
    )


def test_disabled_mode_writes_nothing_at_all(project_root: Path) -> None:
    proc = cli(
        project_root,
        "promote",
        "--auto-apply-mode",
        "disabled",
        "--input",
        str(_demo_file(project_root)),
    )
    assert proc.returncode == 0 and "disabled" in proc.stdout
    assert not (project_root / "reports/live_promotion").exists()
    assert not (project_root / "reports/promotion_audit").exists()
    assert not (project_root / "state/peaktrade.db").exists()


def test_global_lock_exits_3(project_root: Path) -> None:
    policy = project_root / "config/promotion.toml"
    policy.write_text(
        policy.read_text().replace("global_promotion_lock = false", "global_promotion_lock = true")
    )
    proc = cli(project_root, "promote", "--input", str(_demo_file(project_root)))
    assert proc.returncode == 3 and "global_promotion_lock" in proc.stderr
    assert not (project_root / "reports/live_promotion").exists()
