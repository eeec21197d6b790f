"""When things happen in a replay, in data time (pure: values in, instants out).

* **Cycles.** Without a poll interval, one at every bar of the finest timeframe among the
  replayed symbols inside ``[start, end]``: bars, not clock hours, so a weekend without FX bars
  has no cycles and the bundled EURUSD history gives one cycle per hourly bar. With a poll
  interval: ``start``, ``start + interval``, ... up to ``end``, as the daemon's cycle loop.
* **Learning steps.** ``start + k x interval`` for ``k >= 1`` up to ``end``: the learner first
  runs one interval into the replay, once it has history to learn from.
* **The promotion worker's checks.** The daemon's worker checks every
  ``[rollback] check_interval_seconds``. Replay checks at the cycles and learning steps (the
  driver says which) and, between them, at the instants a hold can end (:func:`hold_ends`: a
  bake window's end, a key's cooldown end, a slot of the daily rate limit freeing 24 hours
  after an auto-apply), each rounded up to the check grid ``start + n x check interval``
  (:func:`on_check_grid`), where the daemon's check would first see it. At every other check
  nothing can have changed: no new bar, no hold ended; the daemon's check there does nothing,
  so replay skips it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np

from peaktrade_daemon.market.bars import IntArray, from_ns, timeframe_seconds, to_ns

RATE_WINDOW = timedelta(days=1)
#: An auto-apply counts against the rate limit until 24 hours after it, that instant included.
_JUST_AFTER = timedelta(microseconds=1)


def finest(timeframes: Mapping[str, str]) -> list[str]:
    """The symbols whose timeframe is the shortest (in the order given)."""
    seconds = {symbol: timeframe_seconds(tf) for symbol, tf in timeframes.items()}
    shortest = min(seconds.values())
    return [symbol for symbol, s in seconds.items() if s == shortest]


def bar_times(stamps: Iterable[IntArray], start: datetime, end: datetime) -> list[datetime]:
    """Every distinct bar time of ``stamps`` (UTC nanoseconds) inside ``[start, end]``."""
    lo, hi = to_ns(start), to_ns(end)
    chosen = [s[(s >= lo) & (s <= hi)] for s in stamps]
    merged = np.unique(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)
    return [from_ns(int(ns)) for ns in merged]


#: The most instants a replay schedule may hold: a year of one-minute cycles is about 526,000,
#: so a count beyond this is a mistyped interval, refused before any list is built.
MAX_INSTANTS = 2_000_000


def interval_count(start: datetime, end: datetime, interval_s: float) -> int:
    """How many instants ``interval_times`` gives (``interval_s`` > 0 and finite)."""
    if not interval_s > 0 or not math.isfinite(interval_s):
        raise ValueError(f"the interval must be a positive number of seconds, not {interval_s}")
    return int((end - start).total_seconds() // interval_s) + 1


def interval_times(start: datetime, end: datetime, interval_s: float) -> list[datetime]:
    """``start, start + interval, ...`` up to ``end`` (``interval_s`` > 0; at most
    ``MAX_INSTANTS`` of them, else ValueError)."""
    count = interval_count(start, end, interval_s)
    if count > MAX_INSTANTS:
        raise ValueError(f"an interval of {interval_s:g} s makes {count:.3g} instants")
    return [start + timedelta(seconds=interval_s * k) for k in range(count)]


def cycle_times(
    stamps: Sequence[IntArray], start: datetime, end: datetime, poll_interval_s: float | None
) -> list[datetime]:
    """The cycle instants (module docstring): the bars of ``stamps`` (the finest symbols'), or
    every ``poll_interval_s`` from ``start``."""
    if poll_interval_s is None:
        return bar_times(stamps, start, end)
    return interval_times(start, end, poll_interval_s)


def learning_times(start: datetime, end: datetime, interval_days: float) -> list[datetime]:
    """The learning steps: one interval after ``start``, then every interval, up to ``end``."""
    return interval_times(start, end, interval_days * 86_400.0)[1:]


def on_check_grid(moment: datetime, origin: datetime, check_s: float) -> datetime:
    """The first check at or after ``moment`` on the grid ``origin + n x check_s``."""
    if moment <= origin:
        return origin
    # The slack keeps a moment exactly on the grid (3.0000000001 steps in floats) on its point;
    # a moment within the slack after a point (a microsecond past a 1000 s grid) is one later.
    steps = math.ceil((moment - origin).total_seconds() / check_s - 1e-9)
    found = origin + timedelta(seconds=steps * check_s)
    return found if found >= moment else origin + timedelta(seconds=(steps + 1) * check_s)


def hold_ends(
    *,
    watch_ends: Iterable[datetime],
    last_change: Mapping[str, datetime],
    auto_applies: Iterable[datetime],
    cooldown_minutes: float,
    after: datetime,
) -> list[datetime]:
    """Instants after ``after`` at which a hold of the worker can end (sorted, distinct): the
    bake windows' ends, each key's cooldown end, and just after 24 hours from each auto-apply
    (it counts against the rate limit until then, that instant included)."""
    cooldown = timedelta(minutes=cooldown_minutes)
    candidates = {
        *watch_ends,
        *(changed + cooldown for changed in last_change.values()),
        *(applied + RATE_WINDOW + _JUST_AFTER for applied in auto_applies),
    }
    return sorted(moment for moment in candidates if moment > after)
