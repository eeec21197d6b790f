"""`config show`, `config check` and `overrides diff` on the shipped files, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import cli_command, subprocess_env


def run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command("--root", str(root), *args),
        capture_output=True,
        text=True,
        env=subprocess_env(**env),
        timeout=60,
    )


def set_mode(root: Path, mode: str) -> None:
    path = root / "config" / "config.toml"
    path.write_text(path.read_text().replace('mode = "paper"', f'mode = "{mode}"'))


def write_auto(root: Path, body: str) -> None:
    (root / "config" / "live_overrides" / "auto.toml").write_text(body)


def test_config_show_prints_every_key(project_root: Path) -> None:
    proc = run(project_root, "config", "show")
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" = ", 1) for line in proc.stdout.splitlines())
    assert lines["portfolio.leverage"] == "1.0"
    assert lines["environment.mode"] == '"paper"'


def test_config_show_provenance_with_audit(project_root: Path) -> None:
    write_auto(project_root, '[auto_applied]\n"portfolio.leverage" = 1.25\n')
    audit = project_root / "reports" / "promotion_audit" / "audit.jsonl"
    audit.parent.mkdir(parents=True)
    record = {
        "event": "change",
        "key": "portfolio.leverage",
        "proposal_id": "p-20261121-ab12",
        "time": "2026-11-21T08:00:00Z",
        "actor": "auto",
    }
    audit.write_text(json.dumps(record) + "\n")
    paper = run(project_root, "config", "show", "--provenance")
    assert "portfolio.leverage = 1.0    # base:" in paper.stdout
    live = run(project_root, "config", "show", "--provenance", "--env", "live")
    line = next(x for x in live.stdout.splitlines() if x.startswith("portfolio.leverage"))
    assert line.startswith("portfolio.leverage = 1.25    # live:")
    assert "proposal p-20261121-ab12 at 2026-11-21T08:00:00Z by auto" in line


def test_config_check_ok_on_shipped_files(project_root: Path) -> None:
    proc = run(project_root, "config", "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all configuration files are valid" in proc.stdout


def test_config_check_reports_bad_override_and_exits_1(project_root: Path) -> None:
    write_auto(project_root, '[auto_applied]\n"portfolio.leverage" = "high"\n"nope.key" = 1\n')
    proc = run(project_root, "config", "check")
    assert proc.returncode == 1
    assert (
        "type mismatch" in proc.stdout
        and "nope.key" in proc.stdout
        and "unknown key" in proc.stdout
    )


def test_config_check_covers_jobs_and_promotion_policy(project_root: Path) -> None:
    jobs = project_root / "config" / "scheduler" / "jobs.toml"
    jobs.write_text(jobs.read_text().replace('daily_time = "12:00"', 'daily_time = "25:00"'))
    (project_root / "config" / "promotion.toml").unlink()
    proc = run(project_root, "config", "check")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.startswith("BAD  scheduled jobs") for line in lines), proc.stdout
    assert "autonomous_midday_check" in proc.stdout
    assert any(line.startswith("BAD  promotion policy") for line in lines), proc.stdout
    assert "promotion policy not found" in proc.stdout
    assert "2 problem(s) found" in lines


def test_config_check_broken_base_config(project_root: Path) -> None:
    (project_root / "config" / "config.toml").write_text("[portfolio\n")
    proc = run(project_root, "config", "check")
    assert proc.returncode == 1
    assert "config.toml:1" in proc.stdout and "invalid TOML" in proc.stdout


def test_config_check_validates_what_the_components_read(project_root: Path) -> None:
    """A value the loader parses but the paper book or a strategy refuses is found by
    ``config check``, and a run refuses it before writing anything (state/ and logs/ stay empty)."""
    path = project_root / "config" / "config.toml"
    path.write_text(path.read_text().replace("leverage = 1.0", 'leverage = "high"', 1))
    proc = run(project_root, "config", "check")
    assert proc.returncode == 1
    assert f"{path}: key 'portfolio.leverage': must be a number, got 'high'" in proc.stdout
    once = run(project_root, "--once")
    assert once.returncode == 2 and "Traceback" not in once.stderr
    assert f"{path}: key 'portfolio.leverage'" in once.stderr
    assert [p.name for d in ("state", "logs") for p in (project_root / d).iterdir()] == []


def test_config_show_broken_config_is_one_line_exit_2(project_root: Path) -> None:
    (project_root / "config" / "config.toml").write_text("[portfolio\n")
    proc = run(project_root, "config", "show")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "config.toml:1" in proc.stderr


def test_bad_env_setting_exit_2_names_variable(project_root: Path) -> None:
    proc = run(project_root, "config", "show", PEAKTRADE_DAEMON__POLL_INTERVAL_S="soon")
    assert proc.returncode == 2
    assert "PEAKTRADE_DAEMON__POLL_INTERVAL_S" in proc.stderr


def test_overrides_diff_paper_and_live(project_root: Path) -> None:
    write_auto(
        project_root, '[auto_applied]\n"portfolio.leverage" = 1.5\n"macro.regime_weight" = 0.35\n'
    )
    paper = run(project_root, "overrides", "diff")
    assert paper.returncode == 0, paper.stderr
    assert "NOT applied" in paper.stdout
    assert "portfolio.leverage: 1.0 -> 1.5" in paper.stdout
    assert "macro.regime_weight: 0.25 -> 0.35" in paper.stdout
    set_mode(project_root, "live")
    live = run(project_root, "overrides", "diff")
    assert "APPLIED" in live.stdout and "NOT applied" not in live.stdout


def test_overrides_diff_empty(project_root: Path) -> None:
    proc = run(project_root, "overrides", "diff")
    assert proc.returncode == 0 and "# no overrides" in proc.stdout


def test_config_check_names_every_problem_of_a_file(project_root: Path) -> None:
    path = project_root / "config" / "daemon.toml"
    text = path.read_text().replace("poll_interval_s = 300", "poll_interval_s = -5", 1)
    path.write_text(text.replace("port = 8787", 'port = "x"', 1))
    proc = run(project_root, "config", "check")
    assert proc.returncode == 1
    assert "key 'daemon.poll_interval_s': Input should be greater than 0" in proc.stdout
    assert "(and also http.port: Input should be a valid integer" in proc.stdout


def test_a_missing_tuned_key_is_a_configuration_error(project_root: Path) -> None:
    """SPEC §1: config.toml must hold the three keys the learning loop tunes; without one the
    paper book would run on its built-in default and every patch of it be refused as unknown."""
    path = project_root / "config" / "config.toml"
    path.write_text(
        "\n".join(x for x in path.read_text().splitlines() if not x.startswith("regime_weight"))
    )
    proc = run(project_root, "config", "check")
    assert proc.returncode == 1
    assert f"{path}: key 'macro.regime_weight': missing: the learning loop tunes" in proc.stdout
