"""Guard bookkeeping (§8.5): which applied changes the rollback guard watches, whoever applied
them, kept across restarts.

* **What is watched**: every bounded apply to auto.toml, i.e. every effective audit ``change``
  record that carries a patch (``patch_id``: the worker's and ``promote``'s auto-applies, and
  ``proposals approve``), that undoes nothing and is not the guard's own revert.
* **Found in the audit trail**: the trail is shared by every process, so the worker scans it on
  each tick (cheaply: the head file says whether anything was appended) and puts applies made by
  other processes under observation. Its own applies are registered at once, with the reading
  taken just before the write as baseline. For another process's apply the baseline is the
  first reading after it is found (within one check interval), taken before the performance
  monitor adopts the new value; the paper book is path-dependent, so that reading differs from
  the pre-change one only by the bars of that interval.
* **Only while a window can still be judged**: an apply whose bake window is already over when
  it is found (made while no daemon ran) is not watched; nothing can be judged after the fact.
* **Kept**: with a state database, watches and their judgements live in ``promotion_watches``;
  a restart resumes each window where it stood (same baseline, same end). Without a row (the
  database write failed) the audit scan finds the change again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from peaktrade_daemon.governance.guard import GuardAction, Health, RollbackGuard, Watch
from peaktrade_daemon.governance.policy import RollbackGuardPolicy
from peaktrade_daemon.storage.promotion_progress import ProgressStore

logger = logging.getLogger(__name__)

GUARD_ACTOR = "rollback-guard"
#: Judged watch rows are dropped this long after their window (the audit keeps the story).
KEEP_JUDGED = timedelta(days=30)


def watchable(record: Mapping[str, Any]) -> bool:
    """A change record the guard must observe (see the module docstring)."""
    return (
        record.get("event") == "change"
        and record.get("patch_id") is not None
        and "undoes" not in record
        and record.get("actor") != GUARD_ACTOR
        and isinstance(record.get("seq"), int)
        and isinstance(record.get("key"), str)
    )


def _time(record: Mapping[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(record.get("time")))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


class Observation:
    """The rollback guard plus its persistence and the audit scan."""

    def __init__(self, store: ProgressStore | None = None) -> None:
        self.guard = RollbackGuard()
        self._store = store
        self._known: set[int] = set()  # seqs watched or judged (never watched twice)
        # Per watch, the reading last written: a check whose reading did not change (most of a
        # bake window) writes nothing.
        self._written: dict[int, tuple[str, str | None, tuple[str, ...]]] = {}
        self.scanned_seq = 0

    async def load(self, now: datetime) -> None:
        """Resume the watches a previous run left; forget long-judged rows."""
        if self._store is None:
            return
        await self._store.forget_judged_before(now - KEEP_JUDGED)
        for row in await self._store.watches():
            if row.status == "watching":
                try:
                    watch = Watch(
                        json.loads(row.record_json), json.loads(row.baseline_json), row.ends_at
                    )
                    if row.last_health is not None:
                        watch.last_health = Health(row.last_health)
                        watch.last_reasons = tuple(json.loads(row.reasons_json))
                except ValueError as exc:  # left unknown: the audit scan finds the change again
                    logger.warning("watch of change %d unreadable: %s", row.change_seq, exc)
                    continue
                self.guard.watches[watch.key] = watch
            self._known.add(row.change_seq)
        if self.guard.watches:
            logger.info("rollback guard: resumed watching %s", sorted(self.guard.watches))

    async def watch(
        self,
        record: Mapping[str, Any],
        baseline: Mapping[str, float],
        now: datetime,
        policy: RollbackGuardPolicy,
    ) -> None:
        """Put the change ``record`` under observation from ``now``."""
        previous = self.guard.watches.get(str(record["key"]))
        self.guard.watch(record, baseline, now, policy)
        self._known.add(int(record["seq"]))
        if previous is not None:
            await self._save(previous, "superseded", ("a newer change of the key is watched",))
        watch = self.guard.watches[str(record["key"])]
        if self._store is not None:
            try:
                await self._store.add_watch(record, watch.baseline, watch.ends_at)
            except Exception as exc:  # the audit scan finds it again after a restart
                logger.warning("watch of %s not saved to the state database: %s", watch.key, exc)

    def unseen(
        self, records: Sequence[Mapping[str, Any]], now: datetime, policy: RollbackGuardPolicy
    ) -> list[Mapping[str, Any]]:
        """Watchable changes after the last scan that nobody watches yet and whose window is
        still open (aborted writes left out); advances the scan position."""
        aborted = {r.get("write_id") for r in records if r.get("event") == "write_aborted"}
        window = timedelta(minutes=policy.bake_window_minutes)
        found: list[Mapping[str, Any]] = []
        for record in records:
            seq = record.get("seq")
            if not isinstance(seq, int) or seq <= self.scanned_seq:
                continue
            if not watchable(record) or seq in self._known:
                continue
            applied = _time(record)
            if record.get("write_id") in aborted or applied is None or applied + window <= now:
                continue
            found.append(record)
        self.scanned_seq = max([self.scanned_seq, *(r.get("seq", 0) for r in records)])
        return found

    async def check(
        self,
        current: Mapping[str, float],
        now: datetime,
        policy: RollbackGuardPolicy,
        canary: Mapping[str, tuple[Health, tuple[str, ...]]] | None = None,
    ) -> list[GuardAction]:
        """One guard check (``canary``: the shadow-book readings, §9); readings and judgements
        are saved."""
        watched = list(self.guard.watches.values())
        actions = self.guard.check(current, now, policy, canary)
        judged = {id(a.watch): a for a in actions}
        for watch in watched:
            action = judged.get(id(watch))
            if action is None:
                await self._save(watch, "watching", watch.last_reasons)
            else:
                status = "reverted" if action.action == "revert" else "passed"
                await self._save(watch, status, action.reasons)
        return actions

    async def _save(self, watch: Watch, status: str, reasons: tuple[str, ...]) -> None:
        if self._store is None:
            return
        health = watch.last_health.value if watch.last_health is not None else None
        seq = int(watch.record["seq"])
        reading = (status, health, tuple(reasons))
        if self._written.get(seq) == reading:
            return
        try:
            await self._store.update_watch(seq, status=status, health=health, reasons=reasons)
        except Exception as exc:  # judged in memory; a restart re-judges from the saved state
            logger.warning("watch of %s not updated in the state database: %s", watch.key, exc)
            self._written.pop(seq, None)
            return
        if status == "watching":
            self._written[seq] = reading
        else:  # judged: never checked again
            self._written.pop(seq, None)
