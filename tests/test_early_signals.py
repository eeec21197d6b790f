"""Holding SIGTERM/SIGINT/SIGHUP until the daemon can act on them (early_signals), in-process."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from peaktrade_daemon import early_signals


def test_a_held_signal_is_pending_until_release_then_delivered() -> None:
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGHUP, record)
    try:
        early_signals.hold()
        try:
            assert early_signals.held() == early_signals.HELD
            # To this thread: a process-wide signal may go to any other thread of the test
            # process (xdist, executors) that does not block it.
            signal.pthread_kill(threading.get_ident(), signal.SIGHUP)
            assert signal.SIGHUP in signal.sigpending()
            assert received == []  # held: neither delivered nor lost
        finally:
            early_signals.release()
        assert received == [signal.SIGHUP]  # delivered by the release itself
        assert early_signals.held() == frozenset()
    finally:
        signal.signal(signal.SIGHUP, previous)
