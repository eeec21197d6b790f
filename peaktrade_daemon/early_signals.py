"""Signals that arrive before the daemon can act on them: held pending, never lost or fatal.

From ``exec`` until the event loop has installed its handlers (about a second of imports,
argument parsing and configuration loading), SIGTERM/SIGINT/SIGHUP would take their default
action: SIGTERM and SIGHUP kill the process with -15/-1, possibly between two writes of the
start-up. The entry points therefore *block* these signals as their very first statement
(:func:`hold`). Blocked signals stay pending in the kernel; once the daemon's loop handlers are
in place it calls :func:`release` and the kernel delivers them at once, so a SIGTERM sent 50 ms
after start becomes an ordinary stop request (exit 0). One-shot commands release before they
run, keeping the default behaviour (Ctrl-C is exit 130).

A blocked mask is inherited by threads created while it is in force and by programs they
exec. The daemon releases before it starts any thread or child process, and its command
workflows run through uvloop, whose ``spawn`` gives every child an empty mask
(tests/faults/test_early_signals.py checks both).
"""

from __future__ import annotations

import signal

HELD = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def hold() -> None:
    """Block SIGTERM, SIGINT and SIGHUP in this thread (pending until :func:`release`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD)


def release() -> None:
    """Unblock them: signals that arrived meanwhile are delivered before this returns."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)


def held() -> frozenset[signal.Signals]:
    """Which of the three are blocked in this thread right now."""
    return HELD & signal.pthread_sigmask(signal.SIG_BLOCK, ())
