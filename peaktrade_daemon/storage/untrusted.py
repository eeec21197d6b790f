"""Reading a file that anything able to write ``reports/`` may have planted (§8.8).

A proposal's files, the published patch set and the learning snippets are read from places the
threat model does not trust. A reader must not hang on a named pipe planted there, read a
sparse 64 GiB file into memory, or hash one read and use another: :func:`read_untrusted` opens
without blocking, accepts only a regular file of bounded size, and returns its bytes from one
read, so whatever is checked and parsed is the same bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from peaktrade_daemon.errors import DataError

#: The largest untrusted file read: a proposal of hundreds of candidates or a big published
#: patch set is well under a megabyte.
MAX_UNTRUSTED_BYTES = 64 * 2**20
#: The audit trail grows for the life of the desk (about 500 bytes a record): a million
#: records fit; a sparse file of terabytes is refused.
MAX_TRAIL_BYTES = 2**30


def open_untrusted(path: Path) -> BinaryIO:
    """``path`` opened for reading when it is a regular file (DataError naming it otherwise;
    FileNotFoundError and other OSErrors pass through): for a reader that seeks, such as the
    audit trail's tail."""
    # O_NONBLOCK: opening a FIFO with no writer returns at once (then refused), never hangs.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    handle = open(fd, "rb")  # noqa: SIM115 - the caller closes it
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise DataError(f"{path}: not a regular file")
    return handle


def read_untrusted(path: Path, limit: int = MAX_UNTRUSTED_BYTES) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``limit`` bytes (DataError
    naming it otherwise; FileNotFoundError and other OSErrors pass through)."""
    with open_untrusted(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise DataError(f"{path}: {size:,} bytes, more than the {limit:,} allowed")
        data = handle.read(limit + 1)
    if len(data) > limit:  # grew while it was read
        raise DataError(f"{path}: more than the {limit:,} bytes allowed")
    return data
