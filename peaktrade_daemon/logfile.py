"""The daemon's own log file (``logs/daemon.log``), reopenable for logrotate on SIGHUP; its lines
look like every log line (:mod:`peaktrade_daemon.logline`: UTC with ``Z``, one per event)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.logline import LineFormatter
from peaktrade_daemon.rotation import rotation_due, shift_backups


class ReopenableFileHandler(logging.FileHandler):
    """A ``FileHandler`` whose :meth:`reopen` closes the stream; the next record reopens the path.

    After logrotate renamed the file, records written before the reopen still go to the renamed
    file (it is the same inode), and every record after it goes to a fresh file at the path.
    With :meth:`rotate_at` a size limit, it rotates the file itself (:mod:`peaktrade_daemon.rotation`:
    for hosts without logrotate); the default, 0, never does.
    """

    max_bytes = 0
    backups = 1

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
        if not self._opened():
            return
        if self.max_bytes and self._rotation_due(record):
            self._rotate()
            if not self._opened():
                return
        super().emit(record)

    def _opened(self) -> bool:
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
                return False
            self.unwritable = False
        return True

    def rotate_at(self, max_bytes: int, backups: int) -> None:
        """Rotate when a record would take the file past ``max_bytes`` (0: never), keeping
        ``backups`` rotated copies (``[logs]``; a reload may change both)."""
        self.max_bytes, self.backups = max_bytes, max(1, backups)

    def _rotation_due(self, record: logging.LogRecord) -> bool:
        if self.stream is None:
            return False
        try:
            size = len(self.format(record).encode("utf-8", "replace")) + 1
            return rotation_due(self.stream.fileno(), Path(self.baseFilename), size, self.max_bytes)
        except (OSError, ValueError):  # a stream without a descriptor: nothing to rotate
            return False

    def _rotate(self) -> None:
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.close()
                self.stream = None
            try:
                shift_backups(Path(self.baseFilename), self.backups)
            except OSError as exc:  # the next record goes on in the current file
                sys.stderr.write(f"peaktrade-daemon: cannot rotate the daemon log ({exc})\n")
        finally:
            self.release()

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


def attach_daemon_log(
    path: Path, level: int = logging.INFO, *, max_bytes: int = 0, backups: int = 1
) -> ReopenableFileHandler:
    """Add a daemon log handler to the root logger (removed again with :func:`detach`);
    ``max_bytes`` > 0 rotates it at that size (see :meth:`ReopenableFileHandler.rotate_at`)."""
    handler = ReopenableFileHandler(path)
    handler.rotate_at(max_bytes, backups)
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


def check_writable(path: Path, key: str) -> None:
    """Raise ConfigError (exit 2, naming ``path`` and the setting ``key``) unless ``path`` can be
    opened for appending, its directory created if need be: a log that cannot be written would
    lose every line, so the daemon does not start with one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot be written: {exc.strerror or exc}", file=path, key=key) from None
