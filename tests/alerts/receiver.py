"""A real webhook receiver on 127.0.0.1 for outbox tests: it can fail, then recover."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Receiver:
    """Records every request; answers 500 while ``failing`` is True, 200 otherwise."""

    failing: bool = False
    attempts: int = 0
    failed: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    url: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = json.loads(await request.text())
        self.changed.set()
        if self.failing:
            self.failed += 1
            return web.Response(status=500, text="receiver down")
        self.accepted.append(body)
        self.keys.append(request.headers.get("Idempotency-Key", ""))
        return web.json_response({"ok": True})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_until(self, predicate: Any, timeout_s: float = 10.0) -> None:
        """Wait (event-driven) until ``predicate(self)`` holds."""
        async with asyncio.timeout(timeout_s):
            while not predicate(self):
                self.changed.clear()
                await self.changed.wait()
