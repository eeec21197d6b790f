"""The only writer of ``config/live_overrides/auto.toml`` (§8.4).

Every change goes through :meth:`OverridesWriter.transact`, which, under auto.toml's sidecar
lock (``storage/atomic.update_toml_locked``):

1. reads and parses auto.toml (an unparseable file is refused and left untouched);
2. checks the file against the audit trail and records what it finds (see *Recovery*);
3. hands the live state to a *planner* (pure, ``promotion/changes.py``) that returns the
   changes to make; nothing to change means nothing is written;
4. appends the change records to the audit trail (fsync) -- write-ahead;
5. copies the old file to ``auto.toml.backup``, writes the new one atomically (temp, fsync,
   replace, fsync dir) and re-reads it to verify.

Besides ``[auto_applied]`` the file holds a ``[governance]`` table the writer keeps in the same
atomic write: the rolling list of auto-apply times (rate limit), the last change time per key
(cooldown) and the keys frozen by the rollback guard. Keeping them in the same file makes a
change and its bookkeeping one atomic step, so a crash can never split them.

Recovery rule (why the audit goes first): auto.toml is always the old or the new complete file
(atomic replace). If the writer dies after step 4 and before the replace, the trail's last
record names a write whose ``file_sha256_before`` still matches the file: that write never
happened, and the next writer appends ``write_aborted`` for it before doing anything else. So
at every moment auto.toml's SHA-256 equals the ``file_sha256_after`` of the trail's last
file-state record, or its ``file_sha256_before`` while such an abort is pending. Content no
recorded write produced (hand edit, first write) is recorded as ``file_state``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from peaktrade_daemon.config.overrides import flatten
from peaktrade_daemon.learning.models import Scalar
from peaktrade_daemon.promotion.audit import AuditTrail, file_sha256
from peaktrade_daemon.storage.atomic import read_toml_document, update_toml_locked

logger = logging.getLogger(__name__)

LIVE_TABLE = "auto_applied"
GOVERNANCE_TABLE = "governance"
DEFAULT_TEXT = """\
# Live overrides, written ONLY by peaktrade-daemon's promotion writer. Every change is locked,
# backed up to auto.toml.backup and recorded in reports/promotion_audit/audit.jsonl.

[auto_applied]
"""


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _parse_time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    # A hand-edited time without an offset is UTC (the product's convention for naive times);
    # left naive, comparing it with the aware clock would crash every write.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(slots=True)
class LiveState:
    """What auto.toml holds, as a planner sees it (read under the lock)."""

    values: dict[str, Scalar]
    frozen: dict[str, str]
    last_change: dict[str, datetime]
    auto_applies: list[datetime]

    def applies_since(self, since: datetime) -> int:
        """Number of auto-applies at or after ``since``."""
        return sum(1 for moment in self.auto_applies if moment >= since)


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """Set ``key`` to ``after`` in ``[auto_applied]`` (``None`` removes it)."""

    key: str
    after: Scalar | None
    reasons: tuple[str, ...]
    auto: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class WritePlan:
    """What a planner wants written; ``outcome`` is passed back to the caller unchanged."""

    changes: list[PlannedChange] = field(default_factory=list)
    freeze: dict[str, str] = field(default_factory=dict)
    unfreeze: list[str] = field(default_factory=list)
    outcome: Any = None

    @property
    def empty(self) -> bool:
        """Nothing to write."""
        return not (self.changes or self.freeze or self.unfreeze)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a transaction did: ``records`` are the audit records of the write (empty: none)."""

    written: bool
    records: tuple[dict[str, Any], ...]
    outcome: Any


class _NothingToWrite(Exception):
    def __init__(self, plan: WritePlan) -> None:
        self.plan = plan


def read_state(doc: Mapping[str, Any]) -> LiveState:
    """Decode auto.toml (plain dict) into a :class:`LiveState`; bad governance entries are
    dropped with a warning rather than trusted."""
    table = doc.get(LIVE_TABLE)
    live = table if isinstance(table, Mapping) else {}
    values = {key: value for key, value in flatten(live) if not isinstance(value, list)}
    governance = doc.get(GOVERNANCE_TABLE)
    gov: Mapping[str, Any] = governance if isinstance(governance, Mapping) else {}
    frozen_raw = gov.get("frozen", {})
    frozen = (
        {str(k): str(v) for k, v in frozen_raw.items()} if isinstance(frozen_raw, Mapping) else {}
    )
    last_change: dict[str, datetime] = {}
    raw_last = gov.get("last_change", {})
    for key, value in raw_last.items() if isinstance(raw_last, Mapping) else ():
        moment = _parse_time(value)
        if moment is not None:
            last_change[str(key)] = moment
    raw_applies = gov.get("auto_applies", [])
    applies = (
        [m for m in (_parse_time(v) for v in raw_applies) if m is not None]
        if isinstance(raw_applies, list)
        else []
    )
    return LiveState(values, frozen, last_change, applies)


def _flat_live_table(doc: TOMLDocument) -> Table:
    """``[auto_applied]`` with only quoted dotted keys (unquoted nested tables are flattened:
    ``portfolio.leverage = 2`` and ``"portfolio.leverage" = 2`` must not become two keys)."""
    table = doc.get(LIVE_TABLE)
    if not isinstance(table, Table):
        table = tomlkit.table()
        doc[LIVE_TABLE] = table
        return table
    if any(isinstance(value, Mapping) for value in table.values()):
        flat = dict(flatten(table.unwrap()))
        for key in list(table.keys()):
            del table[key]
        for key, value in flat.items():
            table[key] = value
    return table


def _governance(doc: TOMLDocument, state: LiveState, now: datetime) -> None:
    table = tomlkit.table()
    # Only the last 24 hours matter for the rate limit; older entries are dropped on write.
    recent = sorted(m for m in state.auto_applies if m > now - timedelta(days=1))
    table["auto_applies"] = [_iso(m) for m in recent]
    last = tomlkit.table()
    for key in sorted(state.last_change):
        last[key] = _iso(state.last_change[key])
    table["last_change"] = last
    frozen = tomlkit.table()
    for key in sorted(state.frozen):
        frozen[key] = state.frozen[key]
    table["frozen"] = frozen
    doc[GOVERNANCE_TABLE] = table


class OverridesWriter:
    """Locked, audited, atomic changes of auto.toml (blocking; call from a thread in asyncio)."""

    def __init__(self, path: Path, audit: AuditTrail, *, lock_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.audit = audit
        self.lock_timeout_s = lock_timeout_s
        # The document this writer last wrote, keyed by the SHA-256 of its bytes: when the file
        # still holds exactly those bytes, re-parsing it (the dominant cost) is skipped.
        self._cached: tuple[str, TOMLDocument] | None = None

    def _read_document(self, path: Path) -> TOMLDocument | None:
        cached, self._cached = self._cached, None
        if cached is not None:
            try:
                if hashlib.sha256(path.read_bytes()).hexdigest() == cached[0]:
                    return cached[1]
            except FileNotFoundError:
                return None
        return read_toml_document(path)

    def read(self) -> LiveState:
        """The current state without locking (for display; planners get a locked read)."""
        doc = read_toml_document(self.path)
        return read_state(doc.unwrap() if doc is not None else {})

    def transact(
        self,
        planner: Callable[[LiveState], WritePlan],
        *,
        actor: str,
        mode: str,
        proposal_id: str | None,
        now: datetime,
    ) -> WriteResult:
        """Plan and perform one write under the lock; see the module docstring for the steps."""
        written: list[dict[str, Any]] = []

        rendered: list[tuple[str, TOMLDocument]] = []

        def mutate(doc: TOMLDocument) -> WritePlan:
            before_hash = self._reconcile(now)
            state = read_state(doc.unwrap())
            plan = planner(state)
            if plan.empty:
                raise _NothingToWrite(plan)
            table = _flat_live_table(doc)
            write_id = f"w-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
            pending: list[dict[str, Any]] = []
            for change in plan.changes:
                before = state.values.get(change.key)
                if change.after is None:
                    if change.key in table:
                        del table[change.key]
                    state.values.pop(change.key, None)
                else:
                    table[change.key] = change.after
                    state.values[change.key] = change.after
                state.last_change[change.key] = now
                if change.auto:
                    state.auto_applies.append(now)
                pending.append(
                    {
                        **dict(change.extra),
                        "event": "change",
                        "key": change.key,
                        "before": before,
                        "after": change.after,
                        "reasons": list(change.reasons),
                    }
                )
            for key, reason in plan.freeze.items():
                state.frozen[key] = reason
                pending.append({"event": "freeze", "key": key, "reasons": [reason]})
            for key in plan.unfreeze:
                state.frozen.pop(key, None)
                pending.append(
                    {"event": "unfreeze", "key": key, "reasons": ["cleared by operator"]}
                )
            _governance(doc, state, now)
            after_hash = hashlib.sha256(tomlkit.dumps(doc).encode("utf-8")).hexdigest()
            rendered.append((after_hash, doc))
            common = {
                "time": _iso(now),
                "actor": actor,
                "mode": mode,
                "proposal_id": proposal_id,
                "write_id": write_id,
                "file_sha256_before": before_hash,
                "file_sha256_after": after_hash,
            }
            written.extend(self.audit.append([{**common, **r} for r in pending]))
            return plan

        try:
            plan = update_toml_locked(
                self.path,
                mutate,
                default_text=DEFAULT_TEXT,
                backup=True,
                timeout_s=self.lock_timeout_s,
                read=self._read_document,
            )
        except _NothingToWrite as nothing:
            return WriteResult(False, (), nothing.plan.outcome)
        self._cached = rendered[-1]
        logger.info("auto.toml: %d audit record(s) written by %s", len(written), actor)
        return WriteResult(True, tuple(written), plan.outcome)

    def _reconcile(self, now: datetime) -> str:
        """Bring the audit trail in line with the file before a write; returns the file hash."""
        actual = file_sha256(self.path)
        last = self.audit.last_file_record()
        if last is not None and last.get("file_sha256_after") == actual:
            return actual
        base = {"time": _iso(now), "actor": "writer", "mode": "-", "proposal_id": None}
        if last is not None and last.get("file_sha256_before") == actual:
            logger.warning(
                "auto.toml: write %s was interrupted; recording it as aborted", last.get("write_id")
            )
            record = {
                **base,
                "event": "write_aborted",
                "write_id": last.get("write_id"),
                "file_sha256_after": actual,
                "reasons": [
                    "the writer stopped after the audit record and before the file replace"
                ],
            }
        else:
            if last is not None:
                logger.warning("auto.toml: content matches no recorded write (edited by hand?)")
            record = {
                **base,
                "event": "file_state",
                "file_sha256_after": actual,
                "reasons": ["content not produced by a recorded write (first write or hand edit)"],
            }
        self.audit.append([record])
        return actual
