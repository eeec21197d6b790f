"""What ``GET /healthz`` serves: the daemon's :class:`HealthReport` (the route is in
:mod:`peaktrade_daemon.http.app`).

This module is plain data with no aiohttp import, so the daemon can build its health report
without loading the HTTP stack when the listener is off (the default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What the daemon says about itself; ``body`` is the JSON document served."""

    healthy: bool
    body: dict[str, Any] = field(default_factory=dict)


HealthProvider = Callable[[], HealthReport]
