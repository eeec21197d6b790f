"""Component ``calendar-watch``: an alert before an exchange calendar's table runs out.

An exchange calendar knows its sessions only as far as its shipped table (two years after the
release that generated it); beyond that ``is_market_hours`` is missing. At start-up and then
every day, each exchange calendar a configured symbol uses is checked against the clock: a table
ending within :data:`WARN_DAYS` days raises a warning alert (calendar, exchange, last day, days
left), one that has already ended a critical one. The fix is a release with newer tables
(``make calendars`` regenerates them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.market.exchange_table import load_table
from peaktrade_daemon.settings import DaemonSettings

SOURCE = "calendar"
WARN_DAYS = 60
CHECK_INTERVAL_S = 86_400.0


@dataclass(frozen=True, slots=True)
class TableEnd:
    """An exchange calendar whose table ends soon (``days_left`` >= 0) or has ended (< 0)."""

    calendar: str
    exchange: str
    last_day: date
    days_left: int


def ending_tables(
    settings: DaemonSettings, today: date, warn_days: int = WARN_DAYS
) -> list[TableEnd]:
    """The exchange calendars used by a configured symbol whose table ends within
    ``warn_days`` of ``today`` (or before it), by name. Pure."""
    used = {spec.calendar for spec in settings.symbols.values()}
    out = []
    for name in sorted(used):
        calendar = settings.calendars.get(name)
        if calendar is None or calendar.kind != "exchange" or calendar.exchange is None:
            continue
        table = load_table(calendar.exchange)
        days_left = (table.last_day - today).days
        if days_left <= warn_days:
            out.append(TableEnd(name, table.exchange, table.last_day, days_left))
    return out


class CalendarWatch:
    """Checks the exchange tables at start-up and daily (see the module docstring)."""

    name = "calendar-watch"

    def __init__(self, settings: DaemonSettings, clock: Clock, alerts: AlertEmitter) -> None:
        self._settings = settings
        self._clock = clock
        self._alerts = alerts

    async def check(self) -> list[TableEnd]:
        """Alert for every table that ends soon or has ended; returns them."""
        ends = ending_tables(self._settings, self._clock.now().date())
        for end in ends:
            context = {
                "calendar": end.calendar,
                "exchange": end.exchange,
                "last_day": end.last_day.isoformat(),
                "days_left": end.days_left,
            }
            if end.days_left < 0:
                await self._alerts.emit(
                    AlertLevel.CRITICAL,
                    SOURCE,
                    f"trading calendar table {end.exchange} ended on {end.last_day}: market "
                    "hours are unknown; install a release with newer tables",
                    context,
                )
            else:
                await self._alerts.emit(
                    AlertLevel.WARNING,
                    SOURCE,
                    f"trading calendar table {end.exchange} ends on {end.last_day} "
                    f"({end.days_left} days); install a release with newer tables",
                    context,
                )
        return ends

    async def start(self) -> None:
        """Nothing to acquire."""

    async def run(self) -> None:
        """Check now, then every day."""
        while True:
            await self.check()
            await self._clock.sleep(CHECK_INTERVAL_S)

    async def reload(self, settings: DaemonSettings) -> None:
        """The next check uses the new symbols and calendars."""
        self._settings = settings

    async def drain(self) -> None:
        """Nothing in flight."""

    async def stop(self) -> None:
        """Nothing to release."""
