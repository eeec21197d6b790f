"""Retention of run directories: old ones go, recent ones and runs still writing stay, and
nothing outside ``reports/workflows/`` and ``reports/replay/`` is ever touched."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.settings import DaemonSettings, RetentionSection, StateSection
from peaktrade_daemon.storage.file_retention import ReportRetention, prune_run_directories
from peaktrade_daemon.storage.retention import RetentionWorker

DAY_S = 86_400.0


def age(path: Path, days: float, now: float) -> None:
    """Set the mtime of ``path`` and everything beneath it to ``days`` before ``now``."""
    stamp = now - days * DAY_S
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in (*filenames, *dirnames):
            os.utime(os.path.join(dirpath, name), (stamp, stamp), follow_symlinks=False)
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def run_dir(folder: Path, name: str, days: float, now: float) -> Path:
    directory = folder / name
    (directory / "charts").mkdir(parents=True)
    (directory / "report.json").write_text("{}\n")
    (directory / "charts" / "equity.png").write_bytes(b"png")
    age(directory, days, now)
    return directory


def settings_for(root: Path, *, report_days: float = 90) -> DaemonSettings:
    return DaemonSettings(
        root=root, state=StateSection(retention=RetentionSection(report_days=report_days))
    )


async def test_old_run_directories_go_and_everything_else_stays(tmp_path: Path) -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    t = now.timestamp()
    reports = tmp_path / "reports"
    workflows, replay = reports / "workflows", reports / "replay"
    old_workflow = run_dir(workflows, "20260801T000000-old", 120, t)
    recent_workflow = run_dir(workflows, "20261201T000000-new", 5, t)
    old_replay = run_dir(replay, "replay-old", 91, t)
    edge = run_dir(replay, "replay-89-days", 89, t)
    # A run still writing into an old directory: one file changed an hour ago, deep down.
    writing = run_dir(replay, "replay-in-progress", 200, t)
    (writing / "charts" / "equity.png").write_bytes(b"more")
    os.utime(writing / "charts" / "equity.png", (t - 3600, t - 3600))
    # Not run directories: a stray file, a symlink to a directory outside, and its target.
    stray = workflows / "notes.txt"
    stray.write_text("keep")
    outside = run_dir(tmp_path / "elsewhere", "precious", 400, t)
    (workflows / "link-to-outside").symlink_to(outside, target_is_directory=True)
    # A run directory holding a symlink to a file outside: the link goes, its target stays.
    (old_workflow / "latest.csv").symlink_to(outside / "report.json")
    age(old_workflow, 120, t)
    # Other folders under reports/ are not run folders, however old.
    proposal = run_dir(reports / "promotion", "p-ancient", 1000, t)
    for each in (stray, workflows / "link-to-outside", workflows, replay, reports):
        os.utime(each, (t - 500 * DAY_S,) * 2, follow_symlinks=False)  # this entry only

    clock = ManualClock(now)
    current = {"settings": settings_for(tmp_path)}
    rule = ReportRetention(lambda: current["settings"], clock)
    worker = RetentionWorker(current["settings"], clock, [rule])
    assert await worker.prune_once() == {"reports/workflows": 1, "reports/replay": 1}

    assert not old_workflow.exists() and not old_replay.exists()
    for kept in (recent_workflow, edge, writing, stray, proposal, outside / "report.json"):
        assert kept.exists(), kept
    assert (workflows / "link-to-outside").is_symlink()
    assert sorted(p.name for p in outside.rglob("*")) == ["charts", "equity.png", "report.json"]
    # A second pass finds nothing more; a shorter limit from a reload applies at the next one.
    assert await worker.prune_once() == {}
    current["settings"] = settings_for(tmp_path, report_days=3)
    await worker.reload(current["settings"])
    assert await worker.prune_once() == {"reports/workflows": 1, "reports/replay": 1}
    assert not recent_workflow.exists() and not edge.exists() and writing.exists()


async def test_the_injected_clock_decides_what_is_old(tmp_path: Path) -> None:
    t = time.time()
    directory = run_dir(tmp_path / "reports" / "workflows", "r1", 10, t)
    clock = ManualClock(datetime.fromtimestamp(t, UTC))
    rule = ReportRetention(lambda: settings_for(tmp_path), clock)
    assert await rule(RetentionSection()) == {}
    await asyncio.wait_for(clock.advance(81 * DAY_S), 5)
    assert await rule(RetentionSection()) == {"reports/workflows": 1}
    assert not directory.exists()


async def test_missing_folders_are_not_an_error(tmp_path: Path) -> None:
    rule = ReportRetention(lambda: settings_for(tmp_path), ManualClock())
    assert await rule(RetentionSection()) == {}
    assert not (tmp_path / "reports").exists()  # nothing created either


# Ages within a second of the limit are left out: file times are rounded to the file system's.
_AGE = st.floats(min_value=0, max_value=300).filter(lambda d: abs(d - 90) * DAY_S > 1)


@settings(max_examples=40, deadline=None)
@given(ages=st.lists(_AGE, min_size=1, max_size=8))
def test_exactly_the_directories_older_than_the_cutoff_go(ages: list[float]) -> None:
    import tempfile

    t = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "reports" / "workflows"
        dirs = [run_dir(folder, f"run{i}", days, t) for i, days in enumerate(ages)]
        removed = prune_run_directories([folder], t - 90 * DAY_S)
        gone = [d for d, days in zip(dirs, ages, strict=True) if days > 90]
        assert removed == ({"reports/workflows": len(gone)} if gone else {})
        for d, days in zip(dirs, ages, strict=True):
            assert d.exists() == (days <= 90)
