"""The aiohttp application and the listener component (§3.7).

Routes come from *route modules*: callables ``register(app)`` that add their routes. The daemon
passes the built-in ones (health, metrics) and any others (the proposal review page) to
:class:`HttpServer`; a new page is one new module and one line in the composition root. Shared
objects reach handlers through typed ``web.AppKey`` entries set here, never through globals.

Anything that changes state must call :func:`require_token` first: the token comes from settings
(``http.token`` / ``PEAKTRADE_HTTP__TOKEN``) and is compared in constant time; with no token set,
state-changing endpoints are refused outright.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence

from aiohttp import web
from pydantic import SecretStr

from peaktrade_daemon.http.exposition import metrics_handler
from peaktrade_daemon.http.health import HealthProvider
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.settings import DaemonSettings, HttpSection

logger = logging.getLogger(__name__)

RouteModule = Callable[[web.Application], None]
HEALTH_KEY: web.AppKey[HealthProvider] = web.AppKey("health")
METRICS_KEY = web.AppKey("metrics", DaemonMetrics)
TOKEN_KEY: web.AppKey[Callable[[], SecretStr | None]] = web.AppKey("token")


async def healthz(request: web.Request) -> web.Response:
    """Serve the current health report (``Docker HEALTHCHECK`` and ``health`` use it); 200 when
    healthy, else 503."""
    report = request.app[HEALTH_KEY]()
    body = {"healthy": report.healthy, **report.body}
    return web.json_response(body, status=200 if report.healthy else 503)


def register_health(app: web.Application) -> None:
    """Add ``GET /healthz``."""
    app.router.add_get("/healthz", healthz)


def register_metrics(app: web.Application) -> None:
    """Add ``GET /metrics`` (prometheus_client's handler over this daemon's registry, see
    :mod:`peaktrade_daemon.http.exposition`)."""
    app.router.add_get("/metrics", metrics_handler(app[METRICS_KEY]))


BUILTIN_ROUTES: tuple[RouteModule, ...] = (register_health, register_metrics)


def require_token(request: web.Request) -> None:
    """Refuse a state-changing request without the configured token (``Authorization: Bearer``
    or ``X-PeakTrade-Token``). Raises ``HTTPForbidden`` when no token is configured at all."""
    expected = request.app[TOKEN_KEY]()
    if expected is None or not expected.get_secret_value():
        raise web.HTTPForbidden(text="state-changing endpoints are disabled: set http.token")
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = given or request.headers.get("X-PeakTrade-Token", "")
    # surrogateescape: a header with bytes that are not UTF-8 is a wrong token, not a 500.
    presented = given.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(presented, expected.get_secret_value().encode()):
        raise web.HTTPUnauthorized(text="missing or wrong token")


def build_app(
    *,
    health_provider: HealthProvider,
    metrics: DaemonMetrics,
    token: Callable[[], SecretStr | None],
    routes: Sequence[RouteModule] = (),
) -> web.Application:
    """The application with the built-in routes plus ``routes``."""
    app = web.Application()
    app[HEALTH_KEY] = health_provider
    app[METRICS_KEY] = metrics
    app[TOKEN_KEY] = token
    for register in (*BUILTIN_ROUTES, *routes):
        register(app)
    return app


class HttpServer:
    """The listener as a daemon component; rebinds when a reload changes host or port."""

    name = "http"

    def __init__(
        self,
        settings: HttpSection,
        *,
        health_provider: HealthProvider,
        metrics: DaemonMetrics,
        routes: Sequence[RouteModule] = (),
    ) -> None:
        self._settings = settings
        self._app = build_app(
            health_provider=health_provider,
            metrics=metrics,
            token=lambda: self._settings.token,
            routes=routes,
        )
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str | None:
        """Base URL the listener is bound to (None when not listening)."""
        if self.port is None:
            return None
        return f"http://{self._settings.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; port 0 picks a free port (see :attr:`port`)."""
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._settings.host, self._settings.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self._settings.port
        logger.info("http listening on %s", self.url)

    async def run(self) -> None:
        """Serving happens in aiohttp's own tasks."""

    async def reload(self, settings: DaemonSettings) -> None:
        """Adopt the new token at once; rebind only when host or port changed."""
        old, self._settings = self._settings, settings.http
        if (old.host, old.port) != (settings.http.host, settings.http.port):
            await self.stop()
            await self.start()

    async def drain(self) -> None:
        """Health and metrics stay answerable while the rest drains."""

    async def stop(self) -> None:
        """Close the listener."""
        runner, self._runner = self._runner, None
        self.port = None
        if runner is not None:
            await runner.cleanup()
