"""The daemon log handler: reopen for logrotate, and an unopenable file never raises."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from peaktrade_daemon.logfile import ReopenableFileHandler


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None)


def test_a_log_that_cannot_be_reopened_drops_records_then_recovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    handler = ReopenableFileHandler(logs / "daemon.log")
    try:
        handler.handle(_record("before"))
        handler.reopen()  # SIGHUP
        shutil.rmtree(logs)
        logs.write_text("")  # the directory is gone: opening the log fails (ENOTDIR)
        handler.handle(_record("lost 1"))  # FileHandler would raise into the caller here
        handler.handle(_record("lost 2"))
        assert capsys.readouterr().err.count("cannot open the daemon log") == 1
        logs.unlink()
        logs.mkdir()
        handler.handle(_record("after"))  # retried with every record: recovers by itself
    finally:
        handler.close()
    assert (logs / "daemon.log").read_text().splitlines()[-1].endswith("t: after")
    assert not handler.unwritable


def test_reopen_with_a_new_path_moves_the_log(tmp_path: Path) -> None:
    handler = ReopenableFileHandler(tmp_path / "logs" / "daemon.log")
    try:
        handler.handle(_record("old place"))
        handler.reopen(tmp_path / "elsewhere" / "daemon.log")  # a reload moved paths.daemon_log
        handler.handle(_record("new place"))
    finally:
        handler.close()
    assert (tmp_path / "logs" / "daemon.log").read_text().rstrip().endswith("t: old place")
    assert (tmp_path / "elsewhere" / "daemon.log").read_text().rstrip().endswith("t: new place")
