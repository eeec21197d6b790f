"""Journal stream detection by device:inode, and the syslog priorities of logging levels."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest

from peaktrade_daemon import journal


def _stream_id(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
        (logging.DEBUG, 7),
        (25, 6),  # a custom level between INFO and WARNING is info
        (60, 2),
        (0, 7),
    ],
)
def test_priorities(level: int, expected: int) -> None:
    assert journal.priority(level) == expected


def test_a_stream_is_the_journal_only_when_its_device_and_inode_match(tmp_path: Path) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.touch()
    other.touch()
    with mine.open("w") as stream:
        assert journal.is_journal(stream, {"JOURNAL_STREAM": _stream_id(mine)})
        assert journal.prefix(stream, 4, {"JOURNAL_STREAM": _stream_id(mine)}) == "<4>"
        # Inherited by a child whose stderr goes elsewhere: no prefix there.
        assert not journal.is_journal(stream, {"JOURNAL_STREAM": _stream_id(other)})
        assert journal.prefix(stream, 4, {"JOURNAL_STREAM": _stream_id(other)}) == ""
        assert not journal.is_journal(stream, {})
        for junk in ("", "12", "a:b", "1:2:3", ":"):
            assert not journal.is_journal(stream, {"JOURNAL_STREAM": junk}), junk


def test_streams_without_a_file_are_never_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.touch()
    env = {"JOURNAL_STREAM": _stream_id(path)}
    assert not journal.is_journal(io.StringIO(), env)
    stream = path.open("w")
    stream.close()
    assert not journal.is_journal(stream, env)  # closed: fileno() raises ValueError
