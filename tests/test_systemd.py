"""sd_notify over a real AF_UNIX datagram socket, filesystem and abstract addresses."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from peaktrade_daemon.systemd import SystemdNotifier, monotonic_usec


def _listener(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2)
    return sock


def test_ready_reloading_stopping_reach_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with _listener(str(path)) as sock:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
        assert notifier.enabled
        assert notifier.ready(status="serving")
        assert sock.recv(4096) == b"READY=1\nSTATUS=serving"
        before = monotonic_usec()
        assert notifier.reloading()
        lines = sock.recv(4096).decode().split("\n")
        assert lines[0] == "RELOADING=1"
        stamp = int(lines[1].removeprefix("MONOTONIC_USEC="))
        assert before <= stamp <= monotonic_usec()
        assert notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_address() -> None:
    name = f"peaktrade-test-{os.getpid()}"
    with _listener(b"\0" + name.encode()) as sock:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_no_socket_is_a_silent_no_op_and_a_dead_socket_does_not_raise(tmp_path: Path) -> None:
    assert not SystemdNotifier({}).ready()
    assert not SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "absent.sock")}).ready()


def test_watchdog_interval_is_half_the_timeout_and_respects_watchdog_pid() -> None:
    assert SystemdNotifier({"WATCHDOG_USEC": "4000000"}).watchdog_interval_s == 2.0
    mine = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_interval_s == 2.0
    other = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SystemdNotifier(other).watchdog_interval_s is None
    assert SystemdNotifier({"WATCHDOG_USEC": "0"}).watchdog_interval_s is None
