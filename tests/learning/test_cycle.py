"""``learn``: snippets to config/auto/learning.override.toml, blacklist enforced, published."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from peaktrade_daemon.config.loader import load_effective_config
from peaktrade_daemon.learning.models import PatchStatus, patches_from_json
from tests.conftest import cli_command, subprocess_env


def _snippets(root: Path) -> None:
    directory = root / "reports/learning_snippets"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(
        json.dumps(
            {
                "patches": [
                    {
                        "target": "portfolio.leverage",
                        "value": 1.75,
                        "confidence": 0.95,
                        "is_live_ready": True,
                    },
                    {"target": "risk.stop_loss", "value": 0.015, "confidence": 0.97},
                    {"target": "environment.mode", "value": "live"},
                    {"target": "macro.regime_weight", "value": 0.35, "status": "REJECTED"},
                    {"target": "strategy.trigger_delay", "value": 8.0},
                ]
            }
        )
    )


def learn(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command("--root", str(root), "learn", *args),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )


def test_learn_writes_offline_overrides_never_blacklisted_and_publishes(project_root: Path) -> None:
    _snippets(project_root)
    out = project_root / "config/auto/learning.override.toml"
    out.write_text('[overrides]\n"portfolio.leverage" = 1.1\n')
    previous = out.read_bytes()
    proc = learn(project_root)
    assert proc.returncode == 0, proc.stderr
    assert "files seen 1, used 1; patches parsed 5, written 2" in proc.stdout
    data = tomllib.loads(out.read_text())
    assert data == {"overrides": {"portfolio.leverage": 1.75, "strategy.trigger_delay": 8.0}}
    assert '"portfolio.leverage" = 1.75' in out.read_text()  # quoted dotted keys
    assert out.with_name("learning.override.toml.backup").read_bytes() == previous
    published = patches_from_json(
        (project_root / "reports/learning/published_patches.json").read_text()
    )
    assert {p.target for p in published} == {"portfolio.leverage", "strategy.trigger_delay"}
    assert all(p.status is PatchStatus.APPLIED_OFFLINE and p.applied_at for p in published)
    # The offline file is what backtests see.
    effective = load_effective_config(root=project_root, mode="backtest")
    assert effective.get("portfolio.leverage") == 1.75
    # Determinism: same input, same bytes.
    first = out.read_bytes()
    assert learn(project_root).returncode == 0
    assert out.read_bytes() == first


def test_learn_dry_run_writes_nothing(project_root: Path) -> None:
    _snippets(project_root)
    proc = learn(project_root, "--dry-run")
    assert proc.returncode == 0 and "would write portfolio.leverage" in proc.stdout
    assert not (project_root / "config/auto/learning.override.toml").exists()
    assert not (project_root / "reports/learning").exists()


def test_promote_reads_what_learn_published(project_root: Path) -> None:
    _snippets(project_root)
    assert learn(project_root).returncode == 0
    proc = subprocess.run(
        cli_command("--root", str(project_root), "promote", "--dry-run"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ACCEPTED_FOR_PROPOSAL      portfolio.leverage" in proc.stdout
    assert "REJECTED_BY_POLICY         strategy.trigger_delay" in proc.stdout  # no confidence
    assert not (project_root / "reports/live_promotion").exists()
