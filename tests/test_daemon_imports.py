"""What a daemon process imports: the default one loads no HTTP stack and no heavy extras.

Each test runs the real default assembly (``default_plugins()``, the shipped config and data) in
a fresh interpreter until its first autonomous cycle has finished, then reports ``sys.modules``.
Importing aiohttp and prometheus_client only when the HTTP listener is on, SQLAlchemy's
PostgreSQL dialect only for a PostgreSQL state database, and never pandas,
matplotlib, ccxt or exchange_calendars (the calendar tables are generated data) in the
embedded default, keeps the daemon's RSS under its target (see
``bench/footprint.py``); these tests fail if an import anywhere on the start or cycle path
brings them back.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env

pytestmark = pytest.mark.slow

NEVER = ("pandas", "matplotlib", "ccxt", "exchange_calendars")
#: Imported only by a daemon whose state database is PostgreSQL (2.3 MiB; the default is SQLite).
POSTGRESQL_ONLY = ("sqlalchemy.dialects.postgresql",)
HTTP_ONLY = ("aiohttp", "prometheus_client")
_TIMEOUT_S = 60.0

# Runs the default daemon in-process until its first cycle finished; with the listener on it
# fetches /healthz and /metrics with urllib (not aiohttp: the report must show what the daemon
# itself imported). Prints one JSON document.
SCRIPT = """
import asyncio, json, sys, urllib.request
import uvloop
from peaktrade_daemon.cli.app import build_parser
from peaktrade_daemon.cli.run_cmd import options_from_args
from peaktrade_daemon.daemon import Daemon, default_plugins
from peaktrade_daemon.events import CycleFinished

def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()

async def main():
    daemon = Daemon(options_from_args(build_parser().parse_args(sys.argv[1:])),
                    plugins=default_plugins())
    finished = asyncio.Event()
    cycles = []
    def on_cycle(event):
        cycles.append(event.success)
        finished.set()
    daemon.bus.subscribe(CycleFinished, on_cycle, name="test.cycles")
    run = asyncio.create_task(daemon.run())
    async with asyncio.timeout(50):
        await finished.wait()
    modules = sorted(sys.modules)
    components = sorted(daemon.health().body["components"])
    url = daemon.health().body["http_url"]
    http = {}
    if url:
        for path in ("/healthz", "/metrics"):
            http[path] = await asyncio.to_thread(fetch, url + path)
    daemon.request_stop("test done")
    code = await asyncio.wait_for(run, 30)
    recorded = daemon.metrics.cycles.labels(outcome="success").value
    last_success = daemon.metrics.last_success.labels().value
    print(json.dumps({"modules": modules, "components": components, "cycles": cycles,
                      "http": http, "exit": code, "recorded": recorded,
                      "last_success": last_success}))

uvloop.run(main())
"""


async def _run_default_daemon(root: Path, **env: str) -> dict[str, Any]:
    args = ["--root", str(root), "--continuous", "--poll-interval", "300"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        *args,
        env=subprocess_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()[-3000:]
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return report


def _loaded(modules: list[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


async def test_default_daemon_imports_no_http_stack_and_no_extras(project_root: Path) -> None:
    report = await _run_default_daemon(project_root)
    modules = report["modules"]
    # The run was the real default: its first cycle succeeded with the scheduler, the promotion
    # worker and the alert outbox started, over numpy and the SQLite state database.
    assert report["cycles"] == [True] and report["exit"] == 0
    assert {"scheduler", "promotion", "alert-outbox", "workflows"} <= set(report["components"])
    assert "http" not in report["components"]
    # Metrics exist without the listener: the cycle was recorded in-process.
    assert report["recorded"] == 1 and report["last_success"] > 0
    assert _loaded(modules, "numpy") and _loaded(modules, "apscheduler")
    assert _loaded(modules, "aiosqlite")
    unexpected = [p for p in (*NEVER, *HTTP_ONLY, *POSTGRESQL_ONLY) if _loaded(modules, p)]
    assert not unexpected, f"the default daemon imported {unexpected}"
    # One-shot CLI command modules stay unloaded too (the parser registers them lazily).
    commands = [m for m in modules if m.startswith("peaktrade_daemon.cli.") and m.endswith("_cmd")]
    assert commands == ["peaktrade_daemon.cli.run_cmd"]


async def test_enabling_http_still_serves_healthz_and_metrics(project_root: Path) -> None:
    report = await _run_default_daemon(
        project_root, PEAKTRADE_HTTP__ENABLED="true", PEAKTRADE_HTTP__PORT="0"
    )
    assert report["cycles"] == [True] and report["exit"] == 0
    assert "http" in report["components"]
    status, body = report["http"]["/healthz"]
    health = json.loads(body)
    assert status == 200 and health["healthy"] is True and health["run_state"] == "running"
    status, metrics = report["http"]["/metrics"]
    assert status == 200
    # Recorded before CycleFinished was published, so before the scrape.
    assert 'peaktrade_cycles_total{outcome="success"} 1.0' in metrics
    assert 'peaktrade_run_state{state="running"} 1.0' in metrics
    version = importlib.metadata.version("peaktrade-daemon")
    assert f'peaktrade_build_info{{version="{version}"}} 1.0' in metrics
    assert "\nprocess_resident_memory_bytes " in metrics and "\npython_info{" in metrics
    assert "_created" not in metrics
    assert _loaded(report["modules"], "aiohttp")
    assert not [p for p in NEVER if _loaded(report["modules"], p)]
