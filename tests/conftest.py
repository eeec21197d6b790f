"""Shared fixtures: uvloop for every async test, and a throw-away project root."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvloop

if TYPE_CHECKING:
    from tests.daemon_harness import AlertTail, NotifySocket


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Run every async test on uvloop, as the daemon does."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    """A fresh root with the shipped config/ and data/samples/ copied in, nothing else."""
    root = tmp_path / "root"
    shutil.copytree(PROJECT_ROOT / "config", root / "config")
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    for sub in ("state", "logs", "reports"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No PEAKTRADE_* / PEAK_TRADE_* variables leak in from the developer's shell."""
    for key in list(os.environ):
        if key.startswith(("PEAKTRADE_", "PEAK_TRADE_")):
            monkeypatch.delenv(key)
    yield


def cli_command(*args: str) -> list[str]:
    """argv to run the CLI in a subprocess with this interpreter and this checkout."""
    return [sys.executable, "-m", "peaktrade_daemon", *args]


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for CLI/daemon subprocesses: this checkout importable, no stray settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEAKTRADE_", "PEAK_TRADE_"))}
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@pytest.fixture
async def notify() -> AsyncIterator[NotifySocket]:
    """A real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""
    from tests.daemon_harness import NotifySocket  # the harness imports this module

    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def tail(project_root: Path) -> Iterator[AlertTail]:
    """Reads the root's alert log line by line while a daemon writes it, like `tail -f`."""
    from tests.daemon_harness import AlertTail

    t = AlertTail(project_root / "logs" / "autonomous_alerts.log")
    yield t
    t.close()
