"""A review page served by the real listener on 127.0.0.1 over a temp root, and a logged-in client."""

from __future__ import annotations

import contextlib
import json
import re
import tomllib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from peaktrade_daemon.alerts.oneshot import OneShotAlerts
from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.clock import Clock, SystemClock
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.http import review
from peaktrade_daemon.http.app import HttpServer
from peaktrade_daemon.http.health import HealthReport
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.runtime import DaemonOptions, Runtime
from peaktrade_daemon.snapshot import Snapshot, SnapshotSpec, load_snapshot
from peaktrade_daemon.storage.db import Database, open_database
from peaktrade_daemon.storage.promotion_store import record_promotion
from peaktrade_daemon.wiring import feed_metrics
from tests.promotion.conftest import DEMO, make_patch

TOKEN = "correct horse battery staple"
TIMEOUT = aiohttp.ClientTimeout(total=20)


def demo_patches() -> list[ConfigPatch]:
    """The demo patch set: three accepted for proposal, three rejected."""
    return [make_patch(t, n, old=o, confidence=c, pid=i) for i, t, o, n, c, _ in DEMO]


async def promote(
    workspace: PromotionWorkspace,
    database: Database,
    patches: Sequence[ConfigPatch] | None = None,
    now: datetime | None = None,
) -> str:
    """A manual_only proposal written by the pipeline ``promote`` runs; returns its id."""
    run = run_promotion(
        list(patches if patches is not None else demo_patches()),
        policy=workspace.policy(),
        mode=AutoApplyMode.MANUAL_ONLY,
        base=workspace.base(),
        writer=workspace.writer(),
        audit=workspace.audit(),
        proposals_dir=workspace.proposals_dir,
        now=now or datetime.now(UTC),
    )
    await record_promotion(database, workspace.audit(), run.proposals)
    [proposal] = run.proposals
    return proposal.proposal_id


@dataclass
class ReviewServer:
    """The listener with the review route module, and what a test inspects."""

    root: Path
    server: HttpServer
    snapshot: Snapshot
    database: Database
    bus: EventBus
    metrics: DaemonMetrics

    @property
    def url(self) -> str:
        assert self.server.url is not None
        return self.server.url

    @property
    def workspace(self) -> PromotionWorkspace:
        return PromotionWorkspace.from_settings(self.snapshot.settings)

    def live(self) -> dict[str, Any]:
        """auto.toml's ``[auto_applied]`` table."""
        data = tomllib.loads((self.root / "config/live_overrides/auto.toml").read_text())
        table: dict[str, Any] = data.get("auto_applied", {})
        return table

    def audit(self) -> list[dict[str, Any]]:
        path = self.root / "reports/promotion_audit/audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def state(self) -> tuple[bytes, int]:
        """What a refused request must leave untouched: auto.toml's bytes, audit length."""
        return (self.root / "config/live_overrides/auto.toml").read_bytes(), len(self.audit())


@contextlib.asynccontextmanager
async def review_server(
    root: Path,
    *,
    token: str | None = TOKEN,
    dry_run: bool = False,
    clock: Clock | None = None,
) -> AsyncIterator[ReviewServer]:
    """The real listener on 127.0.0.1 (free port) serving ``/review`` for ``root``."""
    http: dict[str, Any] = {"enabled": True, "port": 0}
    if token is not None:
        http["token"] = token
    snapshot = load_snapshot(SnapshotSpec(root=root, cli_overrides={"http": http}))
    settings = snapshot.settings
    database = await open_database(settings.database_url)
    bus, metrics = EventBus(), DaemonMetrics()
    alerts = OneShotAlerts(settings, dry_run=dry_run, database=None if dry_run else database)
    runtime = Runtime(
        options=DaemonOptions(dry_run=dry_run),
        clock=clock or SystemClock(),
        bus=bus,
        alerts=alerts,
        metrics=metrics,
        database=None if dry_run else database,
        snapshot=lambda: snapshot,
    )
    feed_metrics(runtime)  # as the daemon does: overrides are counted from OverridesChanged
    server = HttpServer(
        settings.http,
        health_provider=lambda: HealthReport(True),
        metrics=metrics,
        routes=(review.routes(runtime),),
    )
    await server.start()
    try:
        yield ReviewServer(root, server, snapshot, database, bus, metrics)
    finally:
        await server.stop()
        await bus.close()
        await alerts.close()
        await database.close()


def client(origin: str | None = None) -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1 and (like a browser) sends ``Origin``."""
    headers = {"Origin": origin} if origin else {}
    return aiohttp.ClientSession(
        timeout=TIMEOUT, cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers
    )


async def login(session: aiohttp.ClientSession, url: str, token: str = TOKEN) -> str:
    """Log in through the form; returns the page's CSRF token."""
    async with session.post(f"{url}/review/login", data={"token": token}) as r:
        assert r.status == 200, await r.text()  # after the 303 to /review
        page = await r.text()
    return csrf_of(page)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, "no CSRF field on the page"
    return match.group(1)


def approve_form(csrf: str, operator: str = "alice", note: str = "ok") -> list[tuple[str, str]]:
    """The approve form as a browser posts it, all six review boxes ticked."""
    return [
        ("csrf", csrf),
        *[("check", str(i)) for i in range(6)],
        ("operator", operator),
        ("note", note),
    ]
