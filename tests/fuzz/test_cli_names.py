"""Names and paths given on the command line: job names, run types, --input / --in-dir /
--alert-log paths, with traversal, absolute paths, NUL bytes (which a real argv cannot carry,
so these run ``main`` in-process) and very long names.

Contract: exit 2 with one error line naming the value, no traceback, and nothing written (no
state database, no file outside the root).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from peaktrade_daemon.cli.app import main
from tests.fuzz.conftest import OutsideWatch

LONG = "x" * 5000
CASES = [
    (("jobs", "run", "a\x00b", "--dry-run"), 2, "no job named"),
    (("jobs", "run", "../../outside/x", "--dry-run"), 2, "no job named"),
    (("jobs", "run", LONG, "--dry-run"), 2, "no job named"),
    # Error lines show control characters escaped: the NUL as \x00, never raw.
    (("promote", "--input", "a\x00b"), 2, "--input a\\x00b: no such file"),
    (("promote", "--input", "{root}/../outside"), 2, "outside: cannot read patches"),
    (("promote", "--input", LONG), 2, "file name too long: xxx"),
    (("learn", "--in-dir", "a\x00b", "--dry-run"), 2, "no such directory"),
    (("learn", "--in-dir", LONG, "--dry-run"), 2, "file name too long: xxx"),
    (("--root", "{root}/" + LONG, "config", "show"), 2, "file name too long"),
    (("learn", "--max-files", "-1", "--dry-run"), 2, "--max-files must be >= 0"),
    (("history", "--type", "../../x"), 0, "no workflow runs recorded"),
    (("history", "--type", "custom_type"), 0, "no workflow runs recorded"),
    (("history", "--type", "a\x00b"), 0, "no workflow runs recorded"),
    (("history", "--limit", "-5"), 2, "--limit -5: must be >= 0"),
    (("overrides", "rollback", "--steps", "-3"), 2, "steps"),
    (("config", "show", "--env", "a\x00b"), 0, "environment.mode"),
    (("--root", "a\x00b", "config", "show"), 2, "a path contains a NUL byte"),
    (("--config", "a\x00b", "config", "show"), 2, "a path contains a NUL byte"),
    (("learn", "--out-file", "a\x00b"), 2, "a path contains a NUL byte"),
]


@pytest.mark.parametrize(
    ("argv", "code", "needle"), CASES, ids=[" ".join(c[0])[:40] for c in CASES]
)
def test_bad_names_and_paths_on_the_command_line(
    project_root: Path,
    outside_root: OutsideWatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    code: int,
    needle: str,
) -> None:
    config_before = sorted(p.name for p in (project_root / "config").rglob("*"))
    argv = tuple(arg.replace("{root}", str(project_root)) for arg in argv)
    assert main(["--root", str(project_root), *argv]) == code
    out, err = capsys.readouterr()
    assert needle in out + err
    assert "Traceback" not in out + err and "unexpected" not in err
    if code:
        assert err.startswith("peaktrade-daemon: error: ") and err.count("\n") == 1
    assert not (project_root / "state" / "peaktrade.db").exists()
    assert sorted(p.name for p in (project_root / "config").rglob("*")) == config_before


def test_alert_log_outside_the_root_is_the_operators_choice(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An explicit --alert-log path is honoured as given (documented), NUL bytes are refused."""
    code = main(["--root", str(project_root), "--alert-log", "a\x00b", "config", "show"])
    assert code == 2
    assert "paths.alert_log" in capsys.readouterr().err
