"""HTTP alert sinks: a generic JSON webhook and the Slack incoming-webhook format.

Both POST JSON and treat any 2xx answer as delivered; anything else (a non-2xx status, a
connection error, a timeout) raises :class:`DeliveryError`, which the outbox turns into a retry.
Every request carries the outbox row's ``delivery_key`` as the ``Idempotency-Key`` header (and, for
the generic format, as the payload ``id``), so a receiver can drop the one duplicate a crash between
its 2xx and our commit could cause.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from peaktrade_daemon.alerts.log import format_timestamp
from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.errors import PeakTradeError
from peaktrade_daemon.settings import AlertSinkSettings

if TYPE_CHECKING:
    import aiohttp

_LEVEL_RANK = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}
_SLACK_ICON = {AlertLevel.INFO: ":information_source:", AlertLevel.WARNING: ":warning:"}
_SLACK_ICON[AlertLevel.CRITICAL] = ":rotating_light:"
_MAX_ERROR_BODY = 300


class DeliveryError(PeakTradeError):
    """One delivery attempt failed; the outbox retries it later."""


def level_at_least(level: AlertLevel, minimum: AlertLevel | str) -> bool:
    """True when ``level`` is as severe as ``minimum`` or more."""
    return _LEVEL_RANK[level] >= _LEVEL_RANK[AlertLevel(minimum)]


def generic_payload(alert: Alert, *, delivery_key: str, alert_id: int) -> dict[str, Any]:
    """The generic webhook body: the alert's five fields plus ids for de-duplication."""
    return {
        "id": delivery_key,
        "alert_id": alert_id,
        "timestamp": format_timestamp(alert.timestamp),
        "level": str(alert.level),
        "source": alert.source,
        "message": alert.message,
        "context": alert.context,
        "host": socket.gethostname(),
    }


def slack_escape(text: object) -> str:
    """``text`` with Slack's control characters escaped (``&``, ``<``, ``>``: Slack's "Escaping
    text"), so text from files (a key, a field name, a reason) can neither ping ``<!channel>``
    nor show a disguised ``<url|link>``."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body: a ``text`` fallback plus blocks with the context fields,
    every text from the alert escaped."""
    source = slack_escape(alert.source)
    headline = f"{_SLACK_ICON[alert.level]} *[{alert.level.upper()}]* `{source}`"
    text = f"{headline} {slack_escape(alert.message)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{slack_escape(key)}*: {slack_escape(value)}"}
        for key, value in sorted(alert.context.items())
    ][:10]  # Slack refuses a section with more than 10 fields
    if fields:
        blocks.append({"type": "section", "fields": fields})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format_timestamp(alert.timestamp)}],
        }
    )
    return {"text": text, "blocks": blocks}


class WebhookSink:
    """One configured sink: where to POST, in which format, for which levels."""

    def __init__(self, settings: AlertSinkSettings) -> None:
        self.settings = settings
        self.name = settings.name

    def accepts(self, level: AlertLevel) -> bool:
        """Whether alerts of ``level`` go to this sink."""
        return self.settings.enabled and level_at_least(level, self.settings.min_level)

    def payload(self, alert: Alert, *, delivery_key: str, alert_id: int) -> dict[str, Any]:
        """The JSON body in this sink's format."""
        if self.settings.kind == "slack":
            return slack_payload(alert)
        return generic_payload(alert, delivery_key=delivery_key, alert_id=alert_id)

    async def deliver(
        self,
        session: aiohttp.ClientSession,
        alert: Alert,
        *,
        delivery_key: str,
        alert_id: int,
    ) -> None:
        """POST one alert; return on 2xx, raise :class:`DeliveryError` otherwise."""
        import aiohttp  # only a daemon with a sink pays for aiohttp (about 20 MiB of RSS)

        body = self.payload(alert, delivery_key=delivery_key, alert_id=alert_id)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            async with session.post(
                self.settings.url,
                json=body,
                timeout=timeout,
                headers={"Idempotency-Key": delivery_key},
            ) as response:
                if 200 <= response.status < 300:
                    return
                detail = (await response.text())[:_MAX_ERROR_BODY]
                raise DeliveryError(f"{self.name}: HTTP {response.status} {detail}".rstrip())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
