"""sd_notify, written by hand: one datagram per message to ``$NOTIFY_SOCKET`` (see STACK_NOTES).

The protocol is newline-separated ``KEY=VALUE`` assignments in one ``AF_UNIX`` datagram. A leading
``@`` in the socket path means the Linux abstract namespace (a NUL byte). Without
``NOTIFY_SOCKET`` (not started by systemd, or ``Type=simple``) every call is a no-op. Sending never
raises: a notification that cannot be delivered is logged, because the daemon's work matters more
than telling systemd about it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

logger = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes:
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def monotonic_usec() -> int:
    """``CLOCK_MONOTONIC`` in microseconds, the clock systemd compares ``MONOTONIC_USEC`` with."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class SystemdNotifier:
    """Sends service state to systemd; built from the process environment by default."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = _address(raw) if raw else None
        self._watchdog_usec = self._parse_watchdog(env)

    @staticmethod
    def _parse_watchdog(env: Mapping[str, str]) -> int | None:
        usec = env.get("WATCHDOG_USEC", "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        # WATCHDOG_PID, when set, names the process the watchdog is meant for (a forking parent
        # may pass it on to children that must not ping).
        pid = env.get("WATCHDOG_PID", "")
        if pid and pid.isdigit() and int(pid) != os.getpid():
            return None
        return int(usec)

    @property
    def enabled(self) -> bool:
        """True when systemd (or a test) listens on a notify socket."""
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half the configured timeout, or None when unset."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2_000_000

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True when it was sent."""
        if self._address is None:
            return False
        payload = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(payload, self._address)
        except OSError as exc:
            logger.warning("sd_notify %s failed: %s", ",".join(fields), exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """``READY=1``: start-up finished (and again after a reload)."""
        return self.notify(READY=1, **({"STATUS": status} if status else {}))

    def reloading(self) -> bool:
        """``RELOADING=1`` with the monotonic timestamp systemd requires for Type=notify-reload."""
        return self.notify(RELOADING=1, MONOTONIC_USEC=monotonic_usec())

    def stopping(self) -> bool:
        """``STOPPING=1``: graceful shutdown has begun."""
        return self.notify(STOPPING=1)

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the daemon makes progress (:mod:`peaktrade_daemon.watchdog` decides
        when to send it)."""
        return self.notify(WATCHDOG=1)

    def status(self, text: str) -> bool:
        """A free-form status line shown by ``systemctl status``."""
        return self.notify(STATUS=text)
