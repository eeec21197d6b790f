"""``replay`` refuses bad input with exit 2 (usage) or 3 (policy), naming the problem, and writes
nothing: the root is byte for byte what it was, and no output directory exists."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import cli_command, subprocess_env
from tests.replay.test_run import snapshot


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command("--root", str(root), "replay", *args),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )


@pytest.fixture
def snippets(tmp_path: Path) -> Path:
    folder = tmp_path / "snippets"
    folder.mkdir()
    patch = {"target": "portfolio.leverage", "new_value": 1.5, "confidence": 0.9}
    (folder / "a.json").write_text(json.dumps(patch))
    return folder


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--symbol", "XAU/USD"], 2, "unknown symbol(s) XAU/USD"),
        (["--symbol", "EUR/USD", "--from", "2016-01-01"], 2, "is before the data: EUR/USD starts"),
        (["--symbol", "EUR/USD", "--to", "2019-01-01"], 2, "is after the data: EUR/USD ends"),
        (["--symbol", "EUR/USD", "--from", "yesterday"], 2, "is not an ISO-8601 date"),
        (
            ["--symbol", "EUR/USD", "--policy", "{bad_policy}"],
            3,
            "bad.toml: key 'max_auto_applies_per_day'",
        ),
        (["--symbol", "EUR/USD", "--policy", "{missing}"], 3, "promotion policy not found"),
        (["--symbol", "EUR/USD", "--learner", "snippets", "{missing}"], 2, "no such directory"),
        (
            ["--symbol", "EUR/USD", "--learner", "snippets", "{empty}"],
            2,
            "no *.json or *.jsonl snippet",
        ),
        (
            ["--symbol", "EUR/USD", "--poll-interval", "0"],
            2,
            "must be a number of seconds, at least 1",
        ),
        (["--symbol", "EUR/USD", "--out", "{root}/state/x"], 2, "replay never writes under"),
        (["--symbol", "EUR/USD", "--mode", "sometimes"], 2, "invalid choice: 'sometimes'"),
    ],
)
def test_bad_input_exits_with_its_code_and_writes_nothing(
    project_root: Path, tmp_path: Path, snippets: Path, args: list[str], code: int, message: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (project_root / "config" / "promotion.toml")
        .read_text()
        .replace("max_auto_applies_per_day = 3", 'max_auto_applies_per_day = "3"')
    )
    (tmp_path / "empty").mkdir()
    places = {
        "bad_policy": str(bad),
        "missing": str(tmp_path / "missing"),
        "empty": str(tmp_path / "empty"),
        "root": str(project_root),
    }
    argv = [a.format(**places) for a in args]
    if "--learner" not in argv:
        argv += ["--learner", "snippets", str(snippets)]
    before = snapshot(project_root)
    proc = run(project_root, *argv)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert proc.stderr.startswith("peaktrade-daemon: error: ") or code == 2
    assert "Traceback" not in proc.stderr
    assert snapshot(project_root) == before
    assert not (project_root / "reports" / "replay").exists()
