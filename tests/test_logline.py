"""Log lines: UTC with Z, one line per event; on the journal the <N> priority, INFO on stderr.

The daemon runs as a real subprocess whose stderr is a file; ``JOURNAL_STREAM`` names that
file's real device:inode (as systemd names the journal socket), or another file's.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peaktrade_daemon.logline import LineFormatter, own_debug_only, stderr_level
from tests.conftest import cli_command, subprocess_env
from tests.daemon_harness import set_toml

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LOG_LINE = re.compile(rf"^(<(?P<prio>\d)>)?(?P<stamp>{STAMP}) (?P<level>[A-Z]+) \S+: .*$")
ALERT_LINE = re.compile(rf"^(<(?P<prio>\d)>)?\[(?P<stamp>{STAMP})\] \[(?P<level>[A-Z]+)\] .*$")
PRIORITY = {"CRITICAL": "2", "ERROR": "3", "WARNING": "4", "INFO": "6", "DEBUG": "7"}


def _stream_id(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def _record(level: int, message: str, created: float) -> logging.LogRecord:
    record = logging.LogRecord("pt.test", level, __file__, 1, message, None, None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


@pytest.fixture
def new_york_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's local zone is New York (UTC-5 in November): local time is not UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_local_time")
def test_timestamps_are_utc_with_z_whatever_the_local_zone() -> None:
    line = LineFormatter().format(_record(logging.INFO, "hello", 1_700_000_000.25))
    assert line == "2023-11-14T22:13:20.250Z INFO pt.test: hello"


def test_a_traceback_stays_on_the_line_of_its_event() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.LogRecord(
            "pt.test", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    line = LineFormatter(journal=True).format(record)
    assert "\n" not in line
    assert line.startswith("<3>") and " ERROR pt.test: failed x\\nTraceback" in line
    assert "ValueError: bad\\nvalue" in line


def test_stderr_level_choice(tmp_path: Path) -> None:
    path = tmp_path / "err"
    path.touch()
    on_journal = {"JOURNAL_STREAM": _stream_id(path)}
    with path.open("w") as stream:
        assert stderr_level(verbose=False, stream=stream, environ={}) == logging.WARNING
        assert stderr_level(verbose=False, stream=stream, environ=on_journal) == logging.INFO
        docker = {"PEAKTRADE_LOG_STDERR_LEVEL": "info"}
        assert stderr_level(verbose=False, stream=stream, environ=docker) == logging.INFO
        quiet = {**on_journal, "PEAKTRADE_LOG_STDERR_LEVEL": "ERROR"}
        assert stderr_level(verbose=False, stream=stream, environ=quiet) == logging.ERROR
        assert stderr_level(verbose=True, stream=stream, environ=quiet) == logging.DEBUG


def test_verbose_debug_lines_are_the_daemons_own() -> None:
    """``-v``: a library's DEBUG line (tzlocal, aiosqlite...) stays out; its INFO and up, and
    every line of the daemon's own, go through."""

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "m", None, None)

    assert own_debug_only(record("peaktrade_daemon.daemon", logging.DEBUG))
    assert own_debug_only(record("peaktrade_daemon", logging.DEBUG))
    assert not own_debug_only(record("tzlocal", logging.DEBUG))
    assert not own_debug_only(record("peaktrade_daemonx", logging.DEBUG))
    assert own_debug_only(record("aiosqlite", logging.INFO))


LEVELS_SCRIPT = """
import logging
from peaktrade_daemon.logline import configure_stderr
configure_stderr(verbose=True)
log = logging.getLogger("peaktrade_daemon.levels")
for level in ("debug", "info", "warning", "error", "critical"):
    getattr(log, level)("a %s line", level)
"""


@pytest.mark.parametrize("on_journal", [True, False])
def test_every_level_gets_its_priority_on_the_journal_only(
    tmp_path: Path, on_journal: bool
) -> None:
    err, other = tmp_path / "err", tmp_path / "other"
    err.touch()
    other.touch()
    env = subprocess_env(JOURNAL_STREAM=_stream_id(err if on_journal else other))
    with err.open("ab") as stderr:
        subprocess.run(
            [sys.executable, "-c", LEVELS_SCRIPT], env=env, stderr=stderr, check=True, timeout=60
        )
    lines = err.read_text().splitlines()
    assert len(lines) == 5
    for line, level in zip(lines, ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), strict=True):
        match = LOG_LINE.match(line)
        assert match, line
        assert match["level"] == level
        assert match["prio"] == (PRIORITY[level] if on_journal else None), line


def _run_daemon(root: Path, stderr: Path, stdout: Path, **env: str) -> int:
    """``--once --dry-run`` on ``root`` in live mode with a broken auto.toml (a warning log line
    and a critical alert), appending to the given files."""
    set_toml(root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    (root / "config" / "live_overrides" / "auto.toml").write_text("[auto_applied\n")
    with stderr.open("ab") as err, stdout.open("ab") as out:
        done = subprocess.run(
            cli_command("--root", str(root), "--once", "--dry-run"),
            env=subprocess_env(**env),
            stdout=out,
            stderr=err,
            timeout=120,
        )
    return done.returncode


def _parsed(path: Path) -> list[re.Match[str]]:
    matches = []
    for line in path.read_text().splitlines():
        match = LOG_LINE.match(line) or ALERT_LINE.match(line)
        if match is not None:
            matches.append(match)
    return matches


def test_under_systemd_stderr_lines_carry_priorities_and_info_reaches_stderr(
    project_root: Path, tmp_path: Path
) -> None:
    err, out = tmp_path / "stderr", tmp_path / "stdout"
    err.touch()
    code = _run_daemon(project_root, err, out, JOURNAL_STREAM=_stream_id(err))
    assert code == 0
    lines = err.read_text().splitlines()
    assert lines and all(re.match(r"^<[234567]>", line) for line in lines), lines
    parsed = _parsed(err)
    assert len(parsed) == len(lines), "every stderr line is a log or alert line"
    for match in parsed:
        assert match["prio"] == PRIORITY[match["level"]], match.string
    levels = {m["level"] for m in parsed}
    assert {"INFO", "WARNING", "CRITICAL"} <= levels
    critical = [m.string for m in parsed if m["level"] == "CRITICAL"]
    assert any(
        line.startswith("<2>[") and "[config] override not applied" in line for line in critical
    )
    assert any(
        "INFO peaktrade_daemon.daemon: run state starting -> running" in line for line in lines
    )
    # stdout is not the journal stream here: its lines (INFO alerts, the cycle line) stay bare.
    assert out.read_text() and not re.search(r"^<\d>", out.read_text(), re.MULTILINE)
    # The file log keeps every INFO line, in UTC, without priorities.
    log_lines = (project_root / "logs" / "daemon.log").read_text().splitlines()
    assert log_lines and all(LOG_LINE.match(line) for line in log_lines)
    assert not any(line.startswith("<") for line in log_lines)


def test_one_journal_stream_for_stdout_and_stderr_prefixes_every_alert(
    project_root: Path, tmp_path: Path
) -> None:
    both = tmp_path / "journal"
    both.touch()
    assert _run_daemon(project_root, both, both, JOURNAL_STREAM=_stream_id(both)) == 0
    alerts = [m for m in _parsed(both) if m.string.lstrip("<0123456789>").startswith("[")]
    assert {m["level"] for m in alerts} == {"INFO", "CRITICAL"}
    for match in alerts:
        assert match["prio"] == PRIORITY[match["level"]], match.string


def test_a_journal_stream_that_is_not_stderr_means_no_prefix_and_no_info(
    project_root: Path, tmp_path: Path
) -> None:
    err, out, elsewhere = tmp_path / "stderr", tmp_path / "stdout", tmp_path / "elsewhere"
    err.touch()
    elsewhere.touch()
    assert _run_daemon(project_root, err, out, JOURNAL_STREAM=_stream_id(elsewhere)) == 0
    lines = err.read_text().splitlines()
    assert lines and not any(line.startswith("<") for line in lines)
    levels = {m["level"] for m in _parsed(err)}
    assert "INFO" not in levels
    assert {"WARNING", "CRITICAL"} <= levels


def test_docker_stderr_level_info_shows_info_without_priorities(
    project_root: Path, tmp_path: Path
) -> None:
    err, out = tmp_path / "stderr", tmp_path / "stdout"
    assert _run_daemon(project_root, err, out, PEAKTRADE_LOG_STDERR_LEVEL="INFO") == 0
    parsed = _parsed(err)
    assert "INFO" in {m["level"] for m in parsed}
    assert all(m["prio"] is None for m in parsed)


def test_a_bad_stderr_level_is_a_configuration_error(project_root: Path) -> None:
    done = subprocess.run(
        cli_command("--root", str(project_root), "config", "check"),
        env=subprocess_env(PEAKTRADE_LOG_STDERR_LEVEL="LOUD"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "PEAKTRADE_LOG_STDERR_LEVEL" in done.stderr and "'LOUD'" in done.stderr
    assert "Traceback" not in done.stderr
