"""``GET /healthz``: run state, last cycle, component health; 200 when healthy, else 503."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What the daemon says about itself; ``body`` is the JSON document served."""

    healthy: bool
    body: dict[str, Any] = field(default_factory=dict)


HealthProvider = Callable[[], HealthReport]
HEALTH_KEY: web.AppKey[HealthProvider] = web.AppKey("health")


async def healthz(request: web.Request) -> web.Response:
    """Serve the current :class:`HealthReport` (``Docker HEALTHCHECK`` and ``health`` use it)."""
    report = request.app[HEALTH_KEY]()
    body = {"healthy": report.healthy, **report.body}
    return web.json_response(body, status=200 if report.healthy else 503)


def register(app: web.Application) -> None:
    """Add the health route."""
    app.router.add_get("/healthz", healthz)
