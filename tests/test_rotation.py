"""Size-based rotation: renames only, whole lines, the oldest copy dropped, never someone
else's file rotated, and the alert log readable end to end across rotations."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.alerts.log import AlertLog, parse_line
from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.rotation import backup_path, rotation_due, shift_backups

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_shift_backups_renames_up_and_drops_the_oldest(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    for name, text in (("a.log", "now"), ("a.log.1", "one"), ("a.log.2", "two")):
        (tmp_path / name).write_text(text)
    shift_backups(log, 2)
    assert not log.exists()
    assert (backup_path(log, 1).read_text(), backup_path(log, 2).read_text()) == ("now", "one")
    assert not backup_path(log, 3).exists()
    shift_backups(log, 2)  # nothing at the path: the copies stay where they are
    assert backup_path(log, 1).read_text() == "now"


def test_rotation_is_due_only_for_a_non_empty_file_still_at_its_path(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    with log.open("a") as f:
        fd = f.fileno()
        assert not rotation_due(fd, log, 10_000, 100)  # empty: a long line still goes here
        f.write("x" * 60)
        f.flush()
        assert not rotation_due(fd, log, 40, 100)  # exactly at the limit is fine
        assert rotation_due(fd, log, 41, 100)
        assert not rotation_due(fd, log, 41, 0)  # 0: never
        os.rename(log, tmp_path / "a.log.1")  # logrotate moved it: not ours to rotate again
        assert not rotation_due(fd, log, 41, 100)
        log.write_text("y" * 99)
        assert not rotation_due(fd, log, 41, 100)


def _alert(n: int, size: int) -> Alert:
    message = f"alert {n} " + "m" * size
    return Alert(T0 + timedelta(seconds=n), AlertLevel.WARNING, "test", message, {"n": n})


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=60),
    backups=st.integers(1, 4),
)
def test_alert_log_rotation_keeps_whole_lines_in_order(sizes: list[int], backups: int) -> None:
    import tempfile

    max_bytes = 400
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "autonomous_alerts.log"
        log = AlertLog(path, max_bytes=max_bytes, backups=backups)
        for n, size in enumerate(sizes):
            log.write(_alert(n, size))
        log.close()
        files = [backup_path(path, k) for k in range(backups, 0, -1)] + [path]
        assert not backup_path(path, backups + 1).exists()
        kept: list[int] = []
        for f in files:
            if not f.exists():
                continue
            data = f.read_bytes()
            lines = data.decode().splitlines()
            assert data.endswith(b"\n") and lines  # whole lines only, never an empty file
            assert len(data) <= max_bytes or len(lines) == 1  # only a lone long line is over
            kept += [parse_line(line).context["n"] for line in lines]
        # Oldest first across the copies and the current file: the newest alerts, none missing.
        assert kept == list(range(len(sizes) - len(kept), len(sizes)))
        assert kept[-1] == len(sizes) - 1


async def test_tail_F_follows_the_alert_log_across_rotations(tmp_path: Path) -> None:
    """What an operator runs in a container: ``tail -F`` sees every line once, in order."""
    path = tmp_path / "autonomous_alerts.log"
    path.touch()
    tail = await asyncio.create_subprocess_exec(
        "tail",
        "-n",
        "+1",
        "-F",
        "-s",
        "0.05",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert tail.stdout is not None
    log = AlertLog(path, max_bytes=4096, backups=3)
    seen: list[int] = []
    try:
        for n in range(60):  # about 250 bytes each: a rotation every ~16 lines
            log.write(_alert(n, 150))
            # Read each line before the next write, as alerts are far apart in real life: a
            # rotation racing tail's read of the old file's last lines can lose them in tail
            # (logrotate's rotations have the same race).
            line = await asyncio.wait_for(tail.stdout.readline(), 10)
            seen.append(int(parse_line(line.decode()).context["n"]))
    finally:
        log.close()
        tail.kill()
        await tail.wait()
    assert seen == list(range(60))
    assert backup_path(path, 3).exists()  # it did rotate, more than once
