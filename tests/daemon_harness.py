"""Running the real daemon as a subprocess: a fake systemd notify socket and tail-style reading."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from peaktrade_daemon.alerts.log import parse_line
from peaktrade_daemon.alerts.model import Alert
from tests.conftest import PROJECT_ROOT, cli_command, subprocess_env

SCRIPT = PROJECT_ROOT / "tests" / "daemon_script.py"


class NotifySocket:
    """A real AF_UNIX datagram socket standing in for systemd's ``NOTIFY_SOCKET``."""

    def __init__(self) -> None:
        # A short directory: AF_UNIX paths are limited to 107 bytes.
        self._dir = tempfile.mkdtemp(prefix="ptn", dir="/tmp")
        self.path = os.path.join(self._dir, "n.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    async def next(self, timeout_s: float = 20.0) -> dict[str, str]:
        """The next datagram, parsed into its ``KEY=VALUE`` fields."""
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), timeout_s)
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        self.messages.append(fields)
        return fields

    async def expect(self, key: str, timeout_s: float = 20.0) -> dict[str, str]:
        """Skip datagrams until one carries ``key`` (e.g. ``READY``)."""
        async with asyncio.timeout(timeout_s):
            while True:
                fields = await self.next(timeout_s)
                if key in fields:
                    return fields

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self._dir)


class AlertTail:
    """Reads the alert log like ``tail -f``: whole lines, as the running daemon appends them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._partial = ""
        self.seen: list[Alert] = []

    def _read_available(self) -> list[Alert]:
        if self._file is None:
            if not self.path.exists():
                return []
            self._file = self.path.open("r", encoding="utf-8")
        chunk = self._partial + self._file.read()
        lines = chunk.split("\n")
        self._partial = lines.pop()  # an incomplete last line waits for its newline
        new = [parse_line(line) for line in lines if line]
        self.seen.extend(new)
        return new

    async def wait_for(self, message: str, timeout_s: float = 20.0, **match: Any) -> Alert:
        """Poll the file (as tail -f does) until an alert with ``message`` appears."""
        async with asyncio.timeout(timeout_s):
            while True:
                for alert in self.seen:
                    if alert.message == message and all(
                        getattr(alert, k, alert.context.get(k)) == v for k, v in match.items()
                    ):
                        return alert
                if not self._read_available():
                    await asyncio.sleep(0.02)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class DaemonProcess:
    """One daemon subprocess on ``root`` with its output captured to files."""

    def __init__(
        self,
        root: Path,
        *args: str,
        notify: NotifySocket | None = None,
        script: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.args = args
        self.notify = notify
        self.script = script
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.out_path = root / "logs" / f"proc-{id(self)}.out"
        self.err_path = root / "logs" / f"proc-{id(self)}.err"

    async def start(self) -> DaemonProcess:
        env = subprocess_env(**self.env)
        if self.notify is not None:
            env["NOTIFY_SOCKET"] = self.notify.path
        base = [sys.executable, str(SCRIPT)] if self.script else cli_command()
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *base, "--root", str(self.root), *self.args, stdout=out, stderr=err, env=env
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout_s)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 10)


async def run_cli(root: Path, *args: str, timeout_s: float = 60.0) -> tuple[int, str, str]:
    """Run one CLI command to completion; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *cli_command("--root", str(root), *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def set_toml(path: Path, old: str, new: str) -> None:
    """Replace one exact snippet of a TOML file (the test's edit of a shipped config copy)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


SIGTERM = signal.SIGTERM
SIGHUP = signal.SIGHUP
SIGINT = signal.SIGINT
SIGKILL = signal.SIGKILL


def files_outside_logs(root: Path) -> list[Path]:
    """Every path under ``root`` but logs/, relative: what a run that must write nothing else
    (a dry run, a refused start) is compared on."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if "logs" not in p.parts)
