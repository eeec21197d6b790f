"""Where the promotion worker's results go: alerts, bus events and the state database mirror.

One object shared by the worker and its guard duty, so both report the same way.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.events import Event
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.models import PromotionProposal
from peaktrade_daemon.storage.db import Database
from peaktrade_daemon.storage.promotion_store import record_promotion

logger = logging.getLogger(__name__)

SOURCE = "promotion"


@dataclass(frozen=True, slots=True)
class Outlets:
    """The alert emitter, the bus (optional) and the state database (optional)."""

    alerts: AlertEmitter
    publish: Callable[[Event], object] | None = None
    database: Database | None = None

    async def alert(self, level: AlertLevel, message: str, context: dict[str, Any]) -> None:
        """An alert from source ``promotion``."""
        await self.alerts.emit(level, SOURCE, message, context)

    async def emit(self, event: Event) -> None:
        """Publish ``event`` on the bus (awaiting a coroutine publisher)."""
        if self.publish is None:
            return
        result = self.publish(event)
        if inspect.isawaitable(result):
            await result

    async def mirror(self, audit: AuditTrail, proposals: Sequence[PromotionProposal] = ()) -> None:
        """Record new proposals and index new audit records in the state database."""
        if self.database is None:
            return
        try:
            await record_promotion(self.database, audit, proposals)
        except Exception as exc:  # the files are the record; a DB hiccup must not stop promotion
            logger.warning("promotion: state database mirror failed: %s", exc)
