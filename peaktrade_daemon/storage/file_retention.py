"""Retention of files (§11): run directories older than ``[state.retention] report_days``.

A retention rule for :class:`~peaktrade_daemon.storage.retention.RetentionWorker`, so it runs at
start-up and then every ``state.retention_interval_s``, like the row limits. It deletes the
per-run directories directly inside the folders it is given (``reports/workflows/<run_id>/``,
``reports/replay/<run_id>/``) and nothing else:

- only real directories one level down: files lying in those folders, symlinks (to a directory
  or not) and the folders themselves are never removed, and nothing is followed through a
  symlink (``shutil.rmtree`` unlinks a link inside a run directory, never its target); a
  folder that is itself a symlink is not pruned at all (it could lead into ``config/``);
- a directory's age is that of the newest thing in it. Its own mtime changes whenever an entry
  is created, renamed or removed in it; when even that is older than the cutoff, every entry
  beneath it is checked, so a run still writing into its directory (a report being appended,
  a replay that writes its outputs over hours) keeps it. Old directories are the only ones
  walked, and each is walked once before it goes.

Ages are measured against the daemon's injected clock; file times come from the file system.
A directory that cannot be removed is logged and left for the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.settings import DaemonSettings, RetentionSection

logger = logging.getLogger(__name__)

#: The folders under ``paths.reports_dir`` holding one directory per run: executed workflows'
#: reports, and replay outputs.
RUN_FOLDERS = ("workflows", "replay")
_DAY_S = 86_400.0


def touched_since(directory: str, cutoff: float) -> bool:
    """True when ``directory`` or anything beneath it was modified at or after ``cutoff``
    (a Unix time); symlinks count by their own time and are not followed."""
    stack = [directory]
    while stack:
        current = stack.pop()
        try:
            if os.stat(current, follow_symlinks=False).st_mtime >= cutoff:
                return True
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                        return True
        except FileNotFoundError:  # removed under us (by its writer): nothing to keep there
            continue
    return False


def prune_run_directories(folders: Sequence[Path], cutoff: float) -> dict[str, int]:
    """Delete every run directory in ``folders`` untouched since ``cutoff``; returns the count
    removed per folder that lost any (keyed ``reports/workflows``)."""
    removed: dict[str, int] = {}
    for folder in folders:
        if folder.is_symlink():
            # reports/workflows replaced by a link to ../config would have its old directories
            # (live_overrides/, scheduler/...) deleted: a run folder is pruned only as itself.
            logger.warning("retention: %s is a symlink; not pruned (nothing deleted)", folder)
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        count = 0
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or touched_since(entry.path, cutoff):
                continue
            try:
                shutil.rmtree(entry.path)
            except OSError as exc:
                logger.warning("retention: cannot remove %s: %s", entry.path, exc)
                continue
            count += 1
        if count:
            removed[f"{folder.parent.name}/{folder.name}"] = count
    return removed


class ReportRetention:
    """The rule: prune the run folders of the settings in force, ``report_days`` back from now."""

    def __init__(
        self,
        settings: Callable[[], DaemonSettings],
        clock: Clock,
        folders: Sequence[str] = RUN_FOLDERS,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._folders = tuple(folders)

    async def __call__(self, retention: RetentionSection) -> dict[str, int]:
        """One pass, off the event loop (it walks and deletes files)."""
        settings = self._settings()
        reports = settings.path(settings.paths.reports_dir)
        cutoff = self._clock.now().timestamp() - retention.report_days * _DAY_S
        folders = [reports / name for name in self._folders]
        return await asyncio.to_thread(prune_run_directories, folders, cutoff)
