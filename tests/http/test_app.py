"""The HTTP listener on 127.0.0.1: health status codes, metrics text, pluggable routes, token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.events import Event, RunState
from peaktrade_daemon.http.app import HttpServer, require_token
from peaktrade_daemon.http.exposition import render
from peaktrade_daemon.http.health import HealthReport
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.settings import DaemonSettings, HttpSection


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(Event):
    n: int


def review_routes(app: web.Application) -> None:
    async def approve(request: web.Request) -> web.Response:
        require_token(request)
        return web.json_response({"approved": request.match_info["pid"]})

    app.router.add_post("/proposals/{pid}/approve", approve)


async def test_health_metrics_and_an_added_route_module() -> None:
    state = {"healthy": True}
    metrics = DaemonMetrics()
    bus = EventBus()
    metrics.watch_bus(bus)
    bus.subscribe(Ping, lambda e: None, name="pinger", maxsize=1)
    metrics.set_run_state(RunState.RUNNING)
    metrics.record_cycle(success=True, duration_s=0.3, finished_at=datetime.now(UTC))
    server = HttpServer(
        HttpSection(enabled=True, port=0, token=SecretStr("s3cret")),
        health_provider=lambda: HealthReport(state["healthy"], {"run_state": "running"}),
        metrics=metrics,
        routes=(review_routes,),
    )
    await server.start()
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        assert server.url is not None and server.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession(timeout=timeout) as client:
            async with client.get(f"{server.url}/healthz") as r:
                assert r.status == 200
                assert await r.json() == {"healthy": True, "run_state": "running"}
            state["healthy"] = False
            async with client.get(f"{server.url}/healthz") as r:
                assert r.status == 503
            for n in range(3):
                bus.publish(Ping(n=n))  # queue bound 1: drops are counted
            async with client.get(f"{server.url}/metrics") as r:
                text = await r.text()
                assert r.headers["Content-Type"].startswith("text/plain")
            assert 'peaktrade_run_state{state="running"} 1.0' in text
            assert 'peaktrade_cycles_total{outcome="success"} 1.0' in text
            assert 'peaktrade_bus_dropped_events_total{event="Ping",subscriber="pinger"}' in text
            url = f"{server.url}/proposals/p1/approve"
            async with client.post(url) as r:
                assert r.status == 401
            async with client.post(url, headers={"Authorization": "Bearer wrong"}) as r:
                assert r.status == 401
            async with client.post(url, headers={"Authorization": "Bearer s3cret"}) as r:
                assert r.status == 200 and await r.json() == {"approved": "p1"}
            # A reload that removes the token closes state-changing routes.
            await server.reload(
                DaemonSettings(http=HttpSection(enabled=True, port=server.port or 0))
            )
            async with client.post(url, headers={"Authorization": "Bearer s3cret"}) as r:
                assert r.status == 403
    finally:
        await server.stop()
        await bus.close()


async def test_two_daemons_metrics_do_not_share_a_registry() -> None:
    a, b = DaemonMetrics(), DaemonMetrics()
    a.record_decision(workflow_type="risk_check", action="EXECUTE")
    assert "peaktrade_decisions_total{" in render(a)
    assert "peaktrade_decisions_total{" not in render(b)
