"""Size-based rotation of the daemon's append-only logs, for hosts without logrotate (§11).

With ``[logs] max_bytes`` set (Docker sets it; the default 0 leaves rotation to logrotate, see
``deploy/logrotate``), the writer of ``daemon.log`` and ``autonomous_alerts.log`` rotates a file
when the next line would take it past ``max_bytes``: it closes the file, renames it to ``.1``
(``.1`` to ``.2`` and so on; the oldest beyond ``backups`` is deleted) and writes the line to a
new file at the path. The same scheme as logrotate's default ``create`` mode, so the properties
the logs promise hold across a rotation:

- append-only: nothing is ever truncated or rewritten; a line is written whole, to one file;
- followable: ``tail -F`` (follow the name) moves to the new file, as it does after logrotate;
  ``tail -f`` stays on the renamed one, as it does after logrotate;
- reopened on SIGHUP as before. An external logrotate may still rotate them: a writer whose file
  was renamed away never rotates the new file at the path, and goes on writing to the renamed
  one until the SIGHUP that logrotate sends.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def backup_path(path: Path, n: int) -> Path:
    """The ``n``-th rotated copy of ``path`` (``daemon.log.1`` is the newest)."""
    return path.with_name(f"{path.name}.{n}")


def shift_backups(path: Path, backups: int) -> None:
    """Rename ``path`` to ``.1`` after moving ``.1`` .. ``.backups-1`` one up (``.backups``,
    the oldest, is replaced). Nothing moves when there is no file at ``path``; a missing copy
    is skipped."""
    if not os.path.lexists(path):
        return
    for n in range(backups - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            os.replace(backup_path(path, n), backup_path(path, n + 1))
    os.replace(path, backup_path(path, 1))


def rotation_due(fd: int, path: Path, adding: int, max_bytes: int) -> bool:
    """Whether the file open at ``fd`` should be rotated before ``adding`` more bytes.

    Never for an empty file (a line longer than ``max_bytes`` still goes somewhere), nor when
    ``path`` is no longer that file (someone else rotated it: reopen instead), nor for anything
    that is not a regular file (``/dev/stdout``).
    """
    if max_bytes <= 0:
        return False
    st = os.fstat(fd)
    if st.st_size == 0 or st.st_size + adding <= max_bytes:
        return False
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    return (current.st_dev, current.st_ino) == (st.st_dev, st.st_ino) and os.path.isfile(path)
