"""The daemon's own log file (``logs/daemon.log``), reopenable for logrotate on SIGHUP; its lines
look like every log line (:mod:`peaktrade_daemon.logline`: UTC with ``Z``, one per event)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from peaktrade_daemon.logline import LineFormatter


class ReopenableFileHandler(logging.FileHandler):
    """A ``FileHandler`` whose :meth:`reopen` closes the stream; the next record reopens the path.

    After logrotate renamed the file, records written before the reopen still go to the renamed
    file (it is the same inode), and every record after it goes to a fresh file at the path.
    """

    def __init__(self, path: Path) -> None:
        self.previous_root_level = logging.NOTSET
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, mode="a", encoding="utf-8", delay=True)
        self.setFormatter(LineFormatter())
        self.unwritable = False

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record. When the file cannot be (re)opened (``logs/`` read-only or full
        after a reopen), drop the record here, say so once on stderr and retry with the next
        one: ``FileHandler`` lets that open error escape into the logging call, which took the
        whole daemon down on the first log line after a SIGHUP."""
        if self.stream is None:
            try:
                self.stream = self._open()
            except OSError as exc:
                if not self.unwritable:
                    self.unwritable = True
                    sys.stderr.write(
                        f"peaktrade-daemon: cannot open the daemon log ({exc}); "
                        "its records are dropped until it can be opened again\n"
                    )
                return
            self.unwritable = False
        super().emit(record)

    def reopen(self, path: Path | None = None) -> None:
        """Close the current stream under the handler lock; the next record opens ``path`` (a
        reload may have moved the log) or the same path again."""
        self.acquire()
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.baseFilename = os.path.abspath(path)
            if self.stream is not None:
                self.flush()
                self.stream.close()
                self.stream = None
        finally:
            self.release()


def attach_daemon_log(path: Path, level: int = logging.INFO) -> ReopenableFileHandler:
    """Add a daemon log handler to the root logger (removed again with :func:`detach`)."""
    handler = ReopenableFileHandler(path)
    handler.setLevel(level)
    root = logging.getLogger()
    handler.previous_root_level = root.level
    if root.getEffectiveLevel() > level:
        # Lowering the root level for the file must not make the console chattier: pin the
        # existing handlers (the CLI's stderr handler) at the level they effectively had.
        for existing in root.handlers:
            if existing.level == logging.NOTSET:
                existing.setLevel(root.getEffectiveLevel())
        root.setLevel(level)
    root.addHandler(handler)
    return handler


def detach(handler: ReopenableFileHandler) -> None:
    """Remove and close a handler added by :func:`attach_daemon_log`; restore the root level."""
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(handler.previous_root_level)
    handler.close()
