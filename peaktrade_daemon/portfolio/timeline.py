"""The paper book's parameters over time: a live change applies from the moment it was applied.

A real book does not re-trade its past when ``portfolio.leverage`` changes; only the orders
placed after the change see the new value. The paper book is made path-dependent the same way,
so a bounded step does not rewrite the historical drawdown the rollback guard compares against
(§8.5, "against the pre-change baseline").

Where the times come from: the promotion audit trail, the single record of every change of
auto.toml (``change`` records with ``time``, ``key``, ``before``, ``after``; aborted writes left
out). The timeline is walked *back* from the values in force now (the effective config): the
segment before a change held the change's ``before``, and ``before = null`` (the key was absent
from auto.toml) means the base config's value. A value no record explains (auto.toml edited by
hand) counts as in force since the key's last recorded change, over the whole window when there
is none. Only a live-like environment reads
auto.toml (§2.2), so elsewhere the timeline is the current parameters alone.

Clock time to bar time: a change made ``age`` ago on the clock took effect at
``as_of - age x speed`` in the feed's time (``as_of`` is the feed's now, ``speed`` the replay
speed, 1 for live feeds). Bars stamped after that moment are traded with the new value (they
became visible after the change); bars at or before it keep the old one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from peaktrade_daemon.audit_records import changes_since
from peaktrade_daemon.config import PeakConfig, load_config
from peaktrade_daemon.config.overrides import is_live_like
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market.bars import IntArray, to_ns
from peaktrade_daemon.portfolio.paper import PaperParams
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.settings import DaemonSettings

#: The live keys the book reads at trade time (the capital only matters at the first bar).
TIMED_KEYS = (
    "portfolio.leverage",
    "portfolio.fee_bps",
    "portfolio.max_position_pct",
    "risk.stop_loss",
)
Schedule = list[tuple[int, PaperParams]]


class _Overlay:
    """``config`` with some keys replaced (the values of an earlier segment)."""

    def __init__(self, config: PeakConfig, values: Mapping[str, Any]) -> None:
        self._config, self._values = config, values

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._values:
            value = self._values[key]
            return default if value is None else value
        return self._config.get(key, default)


def _time(record: Mapping[str, Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(record.get("time")))
    except ValueError as exc:
        raise DataError(
            f"audit record {record.get('seq')}: time {record.get('time')!r} is not ISO"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ParamsTimeline:
    """``initial`` params, then ``changes`` (clock time applied, params from then on), oldest
    first."""

    initial: PaperParams
    changes: tuple[tuple[datetime, PaperParams], ...] = ()

    @property
    def current(self) -> PaperParams:
        """The params in force now."""
        return self.changes[-1][1] if self.changes else self.initial

    def schedule(
        self, timestamps: IntArray, as_of: datetime, now: datetime, speed: float
    ) -> tuple[PaperParams, Schedule]:
        """The params of the first bar and the later (bar index, params) switches for bars
        stamped ``timestamps`` seen at feed time ``as_of`` and clock time ``now``."""
        first: PaperParams = self.initial
        switches: Schedule = []
        for applied_at, params in self.changes:
            took_effect = as_of - (now - applied_at) * speed
            index = int(np.searchsorted(timestamps, to_ns(took_effect), side="right"))
            if index == 0:
                first, switches = params, []
            elif index < len(timestamps):
                switches.append((index, params))
        return first, switches


def params_timeline(
    current: PeakConfig, base: PeakConfig, records: Iterable[Mapping[str, Any]]
) -> ParamsTimeline:
    """The timeline of the book's params from the audit ``records`` (see the module docstring).
    ``current`` is the effective config, ``base`` the base file alone. Raises ConfigError for a
    recorded value the book cannot use and DataError for a record without a time."""
    now_params = PaperParams.from_config(current)
    if not is_live_like(current.to_dict()):
        return ParamsTimeline(now_params)
    values: dict[str, Any] = {key: current.get(key) for key in TIMED_KEYS}
    relevant = [r for r in changes_since(list(records)) if r.get("key") in TIMED_KEYS]
    changes: list[tuple[datetime, PaperParams]] = []
    after = now_params
    for record in reversed(relevant):
        before = record.get("before")
        key = str(record["key"])
        values[key] = base.get(key) if before is None else before
        earlier = PaperParams.from_config(_Overlay(current, values))
        if earlier != after:
            changes.append((_time(record), after))
        after = earlier
    changes.reverse()
    return ParamsTimeline(after, tuple(changes))


def audited_timeline(settings: DaemonSettings, current: PeakConfig) -> ParamsTimeline:
    """The timeline at the paths ``settings`` names, for the effective config ``current``
    (blocking: reads the base config and the audit trail)."""
    if not is_live_like(current.to_dict()):
        return ParamsTimeline(PaperParams.from_config(current))
    base = load_config(settings.path(settings.paths.config_file))
    records = AuditTrail(settings.path(settings.paths.audit_log)).records()
    return params_timeline(current, base, records)
