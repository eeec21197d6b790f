"""The command line at its edges, as a shell meets it: a reader that goes away, a file where a
directory must be, a negative limit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import cli_command, subprocess_env


def test_a_reader_that_goes_away_ends_the_command_quietly(project_root: Path) -> None:
    """``config show | head -1``: the pipe's reader is gone before the command writes; it
    stops with 141 (128 + SIGPIPE, as a tool killed by it) and says nothing on stderr."""
    proc = subprocess.Popen(
        cli_command("--root", str(project_root), "config", "show"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the interpreter has even started: every write fails
    code = proc.wait(timeout=60)
    assert code == 141, proc.stderr.read()
    assert proc.stderr.read() == b""


def test_a_file_where_state_must_be_is_a_usage_error(project_root: Path) -> None:
    (project_root / "state").rmdir()
    (project_root / "state").write_text("not a directory\n")
    done = subprocess.run(
        cli_command("--root", str(project_root), "--once"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"{project_root / 'state'}: a file is where a directory must be" in done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr


def test_a_negative_history_limit_is_a_usage_error(project_root: Path) -> None:
    done = subprocess.run(
        cli_command("--root", str(project_root), "history", "--limit", "-1"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.returncode == 2 and "--limit" in done.stderr, done.stderr


def test_listing_proposals_does_not_create_the_state_database(project_root: Path) -> None:
    """``proposals list`` (and with ``--dry-run``) where no state database exists yet lists the
    proposals on disk, unreviewed, and leaves state/ without a database."""
    from tests.promotion.attacker import LiveRoot, patch

    root = LiveRoot(project_root)
    made = root.promote([patch("macro.regime_weight", 0.35, id="w")])
    for leftover in (project_root / "state").iterdir():
        leftover.unlink()
    for flags in ((), ("--dry-run",)):
        listing = root.ok(*flags, "proposals", "list")
        assert made in listing.stdout and "pending" in listing.stdout, listing.stdout
        assert list((project_root / "state").iterdir()) == []


def test_an_alert_log_that_cannot_be_written_stops_the_start(project_root: Path) -> None:
    """``--alert-log`` somewhere nothing can be written: every alert would be lost, so the
    daemon does not start (exit 2, naming the file and the setting) and writes nothing."""
    done = subprocess.run(
        cli_command("--root", str(project_root), "--alert-log", "/proc/nope/alerts.log", "--once"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "/proc/nope/alerts.log: key 'paths.alert_log': cannot be written" in done.stderr
    assert list((project_root / "state").iterdir()) == []
