"""deploy/logrotate/peaktrade-daemon: rotates what the daemon writes, then SIGHUPs it so it
reopens its files (the daemon's reload path); never copytruncate, which drops lines."""

from __future__ import annotations

import fnmatch
import grp
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from peaktrade_daemon.settings import PathsSection
from tests.deploy.test_systemd_unit import UNIT, parse_unit

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "deploy/logrotate/peaktrade-daemon"


def parse_snippet(text: str) -> tuple[str, list[str], dict[str, list[str]]]:
    """(path pattern, directives, scripts) of the snippet's one block."""
    body = "\n".join(line.split("#", 1)[0].rstrip() for line in text.splitlines())
    match = re.fullmatch(r"\s*(\S+)\s*\{(.*)\}\s*", body, re.S)
    assert match, "one `path { ... }` block"
    directives: list[str] = []
    scripts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (ln.strip() for ln in match.group(2).splitlines()):
        if not line:
            continue
        if line in ("postrotate", "prerotate", "firstaction", "lastaction"):
            current = scripts.setdefault(line, [])
        elif line == "endscript":
            current = None
        elif current is not None:
            current.append(line)
        else:
            directives.append(line)
    return match.group(1), directives, scripts


@pytest.fixture(scope="module")
def snippet() -> tuple[str, list[str], dict[str, list[str]]]:
    return parse_snippet(SNIPPET.read_text(encoding="utf-8"))


def test_rotates_every_log_the_daemon_writes(
    snippet: tuple[str, list[str], dict[str, list[str]]],
) -> None:
    pattern, _, _ = snippet
    service = parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]
    argv = shlex.split(service["ExecStart"][0])
    root = argv[argv.index("--root") + 1]
    paths = PathsSection()
    for log in (paths.alert_log, paths.daemon_log):
        assert fnmatch.fnmatch(f"{root}/{log}", pattern), log


def test_rename_and_sighup_never_copytruncate(
    snippet: tuple[str, list[str], dict[str, list[str]]],
) -> None:
    _, directives, scripts = snippet
    words = {d.split()[0] for d in directives}
    assert "copytruncate" not in words and "nocreate" not in words
    assert "sharedscripts" in words  # one HUP per rotation run, not one per file
    assert "delaycompress" in words  # the old file may get lines until HUP is handled
    (post,) = [" ".join(scripts["postrotate"])]
    assert "HUP" in post and "peaktrade-daemon.service" in post
    assert "--kill-whom=main" in post  # the daemon only, never its workflow subprocesses


def test_files_belong_to_the_service_user(
    snippet: tuple[str, list[str], dict[str, list[str]]],
) -> None:
    _, directives, _ = snippet
    service = parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]
    user, group = service["User"][0], service["Group"][0]
    assert f"su {user} {group}" in directives
    (create,) = [d for d in directives if d.startswith("create")]
    assert create.split()[2:] == [user, group]


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate not installed")
def test_logrotate_renames_creates_and_signals_once(tmp_path: Path) -> None:
    """A real forced rotation with the snippet (paths and user moved to this test's sandbox):
    the old file keeps every line, a fresh one is created, and systemctl is asked once to send
    SIGHUP to the daemon's main process."""
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.calls"
    systemctl = bin_dir / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    systemctl.chmod(0o755)
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    text = SNIPPET.read_text(encoding="utf-8").replace("/srv/peaktrade/logs", str(logs))
    text = text.replace("peaktrade peaktrade", f"{user} {group}")
    config = tmp_path / "peaktrade-daemon.conf"
    config.write_text(text)
    config.chmod(0o644)
    for name in ("autonomous_alerts.log", "daemon.log"):
        (logs / name).write_text(f"{name} line 1\n{name} line 2\n")

    proc = subprocess.run(
        ["logrotate", "--force", "--verbose", "--state", str(tmp_path / "state"), str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr.lower(), proc.stderr
    for name in ("autonomous_alerts.log", "daemon.log"):
        (rotated,) = [p for p in logs.iterdir() if p.name.startswith(f"{name}-")]
        assert rotated.read_text() == f"{name} line 1\n{name} line 2\n"  # nothing lost
        fresh = logs / name
        assert fresh.read_text() == "" and stat.S_IMODE(fresh.stat().st_mode) == 0o640
    assert calls.read_text().splitlines() == [
        "kill --kill-whom=main --signal=HUP peaktrade-daemon.service"
    ]
