"""Single daemon instance per root: a sidecar lock on ``state/daemon.pid`` for the process lifetime.

The lock is an ``flock`` the kernel drops when the process dies, even by SIGKILL, so a crash never
leaves a stale lock behind; the pid file (written atomically after the lock is won) only tells a
second instance, and the ``health`` command, *who* holds it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

from peaktrade_daemon.errors import LockHeldError
from peaktrade_daemon.storage.atomic import atomic_write_text, lock_path_for, sidecar_lock

PID_FILE = "daemon.pid"


def read_pid(state_dir: Path) -> int | None:
    """The pid recorded in ``state/daemon.pid`` (None when absent or garbled)."""
    try:
        text = (state_dir / PID_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_held(state_dir: Path) -> bool:
    """True when some process holds the instance lock of ``state_dir`` right now."""
    if not lock_path_for(state_dir / PID_FILE).exists():
        return False
    try:
        with sidecar_lock(state_dir / PID_FILE, timeout_s=0):
            return False
    except LockHeldError:
        return True


class InstanceLock:
    """Context manager: win the lock (or raise ``LockHeldError``), write the pid, clean up."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.pid_path = state_dir / PID_FILE
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> InstanceLock:
        try:
            self._stack.enter_context(sidecar_lock(self.pid_path, timeout_s=0))
        except LockHeldError as exc:
            holder = read_pid(self.state_dir)
            who = f"pid {holder}" if holder else "another process (pid not recorded yet)"
            raise LockHeldError(
                f"another peaktrade-daemon is already running on this root: {who} holds "
                f"{lock_path_for(self.pid_path)}; stop it first"
                + (f" (kill -TERM {holder})" if holder else "")
                + " or use a different --root"
            ) from exc
        try:
            atomic_write_text(self.pid_path, f"{os.getpid()}\n")
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if read_pid(self.state_dir) == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.pid_path.unlink()
        self._stack.close()
