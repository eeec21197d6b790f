"""The paper book's parameters over time: a live change applies from the moment it was applied.

A real book does not re-trade its past when ``portfolio.leverage`` changes; only the orders
placed after the change see the new value. The paper book is made path-dependent the same way,
so a bounded step does not rewrite the historical drawdown the rollback guard compares against
(§8.5, "against the pre-change baseline").

Where the times come from: a port, :data:`LiveChanges`, that the composition root supplies (it
reads governance's record of every change of the live overrides; the book does not know that
record's format). Each :class:`LiveChange` says when a key changed and the value in force
before and after (None: no value anywhere, the book's default). The timeline is walked *back*
from the values in force now (the effective config): the segment before a change held the
change's ``before``. A value no change explains (edited by hand) counts as in force since the
key's last recorded change, over the whole window when there is none.

Clock time to bar time: a change made ``age`` ago on the clock took effect at
``as_of - age x speed`` in the feed's time (``as_of`` is the feed's now, ``speed`` the replay
speed, 1 for live feeds). Bars stamped after that moment are traded with the new value (they
became visible after the change); bars at or before it keep the old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from peaktrade_daemon.market.bars import IntArray, to_ns
from peaktrade_daemon.portfolio.params import (
    KEYS,
    ConfigLookup,
    ConfigOverlay,
    PaperParams,
    Schedule,
)

#: The live keys the book reads at trade time (the capital only matters at the first bar).
TIMED_KEYS = tuple(key for key in KEYS if key != "portfolio.initial_capital")


@dataclass(frozen=True, slots=True)
class LiveChange:
    """One applied live change of ``key`` at ``time`` (aware), with the values in force before
    and after it (None: the key had no value, so the book's default held)."""

    time: datetime
    key: str
    before: Any
    after: Any


#: The port: every live change still in effect, oldest first (blocking; raises DataError when
#: the record cannot be read, ConfigError when it is not the book's to use).
LiveChanges = Callable[[], Sequence[LiveChange]]


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


def params_timeline(current: ConfigLookup, changes: Iterable[LiveChange]) -> ParamsTimeline:
    """The timeline of the book's params from the live ``changes`` (see the module docstring);
    ``current`` is the effective config. Raises ConfigError for a recorded value the book cannot
    use."""
    now_params = PaperParams.from_config(current)
    values: dict[str, Any] = {key: current.get(key) for key in TIMED_KEYS}
    relevant = [c for c in changes if c.key in TIMED_KEYS]
    steps: list[tuple[datetime, PaperParams]] = []
    after = now_params
    for change in reversed(relevant):
        values[change.key] = change.before
        earlier = PaperParams.from_config(ConfigOverlay(current, values))
        if earlier != after:
            steps.append((change.time, after))
        after = earlier
    steps.reverse()
    return ParamsTimeline(after, tuple(steps))
