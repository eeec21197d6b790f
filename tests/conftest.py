"""Shared fixtures: uvloop for every async test, and a throw-away project root."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

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
