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


def test_size_rotation_renames_between_records_and_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "daemon.log"
    handler = ReopenableFileHandler(path)
    handler.rotate_at(1000, 2)
    try:
        for n in range(100):  # about 60 bytes a line: a rotation every ~16 records
            handler.handle(_record(f"record {n:03d} " + "x" * 20))
    finally:
        handler.close()
    files = [path.with_name("daemon.log.2"), path.with_name("daemon.log.1"), path]
    assert not path.with_name("daemon.log.3").exists()
    numbers = []
    for f in files:
        text = f.read_text()
        assert len(text.encode()) <= 1000 and text.endswith("\n")
        numbers += [int(line.split("record ")[1][:3]) for line in text.splitlines()]
    assert numbers == list(range(100 - len(numbers), 100)) and numbers[-1] == 99
    assert len(numbers) > 30  # three files' worth


def test_no_rotation_by_default_and_not_of_a_file_logrotate_moved(tmp_path: Path) -> None:
    path = tmp_path / "daemon.log"
    handler = ReopenableFileHandler(path)
    try:
        for n in range(50):
            handler.handle(_record(f"record {n} " + "x" * 100))
        assert not path.with_name("daemon.log.1").exists()  # max_bytes 0: logrotate's job
        handler.rotate_at(1000, 3)
        path.rename(tmp_path / "moved.log")  # logrotate renamed it; its SIGHUP is to come
        handler.handle(_record("after the move"))
        assert not path.exists() and not path.with_name("daemon.log.1").exists()
        assert (tmp_path / "moved.log").read_text().rstrip().endswith("after the move")
    finally:
        handler.close()
