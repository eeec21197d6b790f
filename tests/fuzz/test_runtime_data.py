"""Bad market and ledger data met by the daemon itself (``--once``): the cycle still completes
(decision WAIT with the missing metrics named), every damaged file is a critical alert naming
the file and line, and nothing outside the root is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from peaktrade_daemon.alerts.log import parse_line
from tests.fuzz.conftest import OutsideWatch, run_cli_many

pytestmark = pytest.mark.slow


def _critical(root: Path) -> list[str]:
    lines = (root / "logs" / "autonomous_alerts.log").read_text().splitlines()
    alerts = [parse_line(line) for line in lines if line]
    return [a.message for a in alerts if str(a.level) == "critical"]


def test_once_over_damaged_market_and_ledger_files(
    project_root: Path, outside_root: OutsideWatch
) -> None:
    samples = project_root / "data" / "samples"
    (samples / "BTCUSD.csv").write_bytes(b",Open,High,Low,Close,Volume\n9999-01-01,1,2,1,1,1\n")
    (samples / "GOOG.csv").write_bytes(b"\xff\xfe" + (samples / "GOOG.csv").read_bytes())
    (samples / "EURUSD.csv").write_bytes(b",Open,High,Low,Close,Volume\n")
    ledger_root = outside_root.clone("root-ledger")
    ledger = ledger_root / "data" / "ledger"
    ledger.mkdir(parents=True)
    (ledger / "fills.csv").write_text("timestamp,symbol,side,quantity,price\n")
    (ledger / "equity.csv").write_bytes(b"timestamp,equity\n2024-01-01," + b"[" * 5000 + b"\n")
    settings = ledger_root / "config" / "daemon.toml"
    text = settings.read_text()
    settings.write_text(text.replace('source = "paper"', 'source = "ledger"', 1))
    market, books = run_cli_many(
        [
            (project_root, ("--once", "--no-scheduler")),
            (ledger_root, ("--once", "--no-scheduler", "--workflow-type", "risk_check")),
        ]
    )
    for result in (market, books):
        assert result.code == 0, result.err
        assert "Traceback" not in result.out + result.err
        assert "decision=WAIT" in result.out
    critical = _critical(project_root)
    assert any("BTCUSD.csv: line 2: timestamp '9999-01-01' is outside" in m for m in critical)
    assert any("GOOG.csv: line 1: not UTF-8 text" in m for m in critical)
    assert any("EURUSD.csv: no bars in the file" in m for m in critical)
    assert any("equity.csv: line 2: equity" in m for m in _critical(ledger_root))


def test_the_daemon_refuses_to_start_on_a_bad_file_and_writes_no_state(
    project_root: Path, outside_root: OutsideWatch
) -> None:
    jobs, policy, settings = (outside_root.clone(f"root-{i}") for i in range(3))
    (jobs / "config" / "scheduler" / "jobs.toml").write_text(
        '[[job]]\nname = "x"\nworkflow = "auto"\nschedule_type = "interval"\n'
        "interval_seconds = inf\n"
    )
    shipped_policy = (policy / "config" / "promotion.toml").read_text()
    (policy / "config" / "promotion.toml").write_text(
        shipped_policy.replace("cooldown_minutes = 60", "cooldown_minutes = inf")
    )
    shipped_settings = (settings / "config" / "daemon.toml").read_text()
    (settings / "config" / "daemon.toml").write_text(shipped_settings + '\n[symbols."A\\u0000"]\n')
    results = run_cli_many(
        [
            (jobs, ("--once",)),
            (policy, ("--continuous", "--poll-interval", "60")),
            (settings, ("--once",)),
            (project_root, ("--once", "--symbol", "../../outside/x")),
            (project_root, ("--once", "--strategy", "../../outside/x")),
        ]
    )
    results[0].assert_clean_failure(2, "jobs.toml", "job 'x', field 'interval_seconds'")
    results[1].assert_clean_failure(3, "promotion.toml", "'cooldown_minutes'")
    results[2].assert_clean_failure(2, "daemon.toml", "symbol name")
    results[3].assert_clean_failure(2, "--symbol '../../outside/x' is not configured")
    results[4].assert_clean_failure(2, "strategy '../../outside/x' is not enabled")
    for root in (jobs, policy, settings, project_root):  # refused before anything is created
        assert not (root / "state").exists() or list((root / "state").iterdir()) == []
        assert not (root / "logs" / "daemon.log").exists()
