"""The only writer of ``config/live_overrides/auto.toml`` (§8.4, §8.8).

Every change goes through :meth:`OverridesWriter.transact`, which, under auto.toml's sidecar
lock (``storage/atomic.update_toml_locked``):

1. reads and parses auto.toml (an unparseable file is refused and left untouched);
2. checks the audit trail's tail: a damaged tail refuses every write except the emergency
   ``retreat``, ``clear`` and ``adopt`` kinds, which move the damage aside first;
3. checks the file against the trail (:mod:`~peaktrade_daemon.promotion.file_check`): an
   interrupted earlier write is recorded as aborted; a hand edit refuses every write except
   ``clear`` and ``adopt``, which record it (``hand_edit``) and resolve it, keeping at least
   the bookkeeping the trail recorded (an edited ``[governance]`` lifts no freeze, cooldown or
   rate limit);
4. hands the live state to a *planner* (pure, :mod:`peaktrade_daemon.governance.plans`) that
   returns the changes to make; nothing to change means nothing is written;
5. applies them to the document and hands the complete resulting ``[auto_applied]`` table to
   the gate (:func:`peaktrade_daemon.governance.gate.check_table`); any refused key refuses the
   whole write, naming every key;
6. appends the write's audit records, whole or not at all (write-ahead);
7. copies the old file to ``auto.toml.backup``, writes the new one atomically (temp, fsync,
   replace, fsync dir) and re-reads it to verify.

Besides ``[auto_applied]`` the file holds a ``[governance]`` table the writer keeps in the same
atomic write: the rolling list of auto-apply times (rate limit), the last change time per key
(cooldown) and the keys frozen by the rollback guard. Keeping them in the same file makes a
change and its bookkeeping one atomic step, so a crash can never split them.

Recovery rule (why the audit goes first): auto.toml is always the old or the new complete file
(atomic replace). If the writer dies after step 6 and before the replace, the trail's last
record names a write whose ``content_sha256_before`` still matches the file: that write never
happened, and the next writer appends ``write_aborted`` for it before doing anything else.
After the replace the writer appends ``write_committed``: from then on the old content back in
the file is a hand edit (an old copy put back), never mistaken for an interrupted write.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import secrets
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from peaktrade_daemon.errors import (
    AuditError,
    ComponentRefusal,
    DataError,
    GateRefusal,
    HandEditRefusal,
    UnparseableFileError,
    present,
)
from peaktrade_daemon.governance.gate import check_table
from peaktrade_daemon.governance.live_state import (
    GOVERNANCE_TABLE,
    LIVE_TABLE,
    LiveState,
    content_sha256,
    live_values,
    read_state,
    stricter,
)
from peaktrade_daemon.governance.plans import FROM_FILE, Planner, WriteKind, WritePlan
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.file_check import (
    FileCheck,
    check_document,
    compare,
    recorded_bookkeeping,
    recorded_table,
)
from peaktrade_daemon.storage.atomic import read_toml_document, read_toml_values, update_toml_locked
from peaktrade_daemon.storage.untrusted import read_untrusted
from peaktrade_daemon.trading_config import refused_live_value

logger = logging.getLogger(__name__)

DEFAULT_TEXT = """\
# Live overrides, written ONLY by peaktrade-daemon's promotion writer. Every change is locked,
# checked by the governance gate, backed up to auto.toml.backup and recorded in
# reports/promotion_audit/audit.jsonl.

[auto_applied]
"""
#: Kinds that resolve a hand edit, and kinds that work past a damaged trail tail.
RESOLVES_HAND_EDIT = frozenset({WriteKind.CLEAR, WriteKind.ADOPT})
EMERGENCY = frozenset({WriteKind.RETREAT, WriteKind.CLEAR, WriteKind.ADOPT})


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass(frozen=True, slots=True)
class GateContext:
    """What the gate judges a resulting table against: the base config and the policy
    (``None`` when it is missing or invalid: then only an empty table passes)."""

    base: Mapping[str, Any]
    policy: AutoApplyPolicy | None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a transaction did: ``records`` are the audit records of the write (empty: none)."""

    written: bool
    records: tuple[dict[str, Any], ...]
    outcome: Any
    #: Where a damaged audit tail was moved aside before this write (the caller alerts).
    repaired: Path | None = None


class _NothingToWrite(Exception):
    def __init__(self, plan: WritePlan) -> None:
        self.plan = plan


def _flat_live_table(doc: TOMLDocument, *, normalise: bool, nested: bool) -> Table:
    """``[auto_applied]`` with only quoted dotted keys (unquoted nested tables are flattened:
    ``portfolio.leverage = 2`` and ``"portfolio.leverage" = 2`` must not become two keys).

    ``normalise`` (adopt, clear) also folds what a hand edit put outside the table into it, as
    the loader read such a file, so the written file holds only the two tables. ``nested``
    says whether the table holds nested tables (known from the plain document: iterating a
    tomlkit table is slow)."""
    loose: dict[str, Any] = {}
    if normalise:
        loose = {k: doc[k] for k in list(doc.keys()) if k not in (LIVE_TABLE, GOVERNANCE_TABLE)}
        if LIVE_TABLE in doc and isinstance(doc[LIVE_TABLE], Table):
            loose = {}  # the loader ignored them: drop them, do not promote them into the table
        for key in [k for k in list(doc.keys()) if k not in (LIVE_TABLE, GOVERNANCE_TABLE)]:
            del doc[key]
    table = doc.get(LIVE_TABLE)
    if not isinstance(table, Table):
        # An inline table, or one split around [governance] (tomlkit's out-of-order proxy),
        # holds the same content in another spelling: carry its values into a plain table.
        # tomlkit hands a boolean back as a plain bool (no unwrap): ``auto_applied = true``.
        unwrap = getattr(table, "unwrap", None)
        plain = unwrap() if unwrap is not None else table
        kept = live_values({LIVE_TABLE: plain}) if isinstance(plain, Mapping) else {}
        if LIVE_TABLE in doc:
            del doc[LIVE_TABLE]
        table = tomlkit.table()
        for key, value in kept.items():
            table[key] = value
        doc[LIVE_TABLE] = table
        nested = False
    if loose:
        for key, value in live_values(tomlkit.parse(tomlkit.dumps(loose)).unwrap()).items():
            table[key] = value
    if nested or loose:
        flat = live_values({LIVE_TABLE: table.unwrap()})
        for key in list(table.keys()):
            del table[key]
        for key, value in flat.items():
            table[key] = value
    return table


def _holds_what_was_passed(path: Path, text: str, passed: Mapping[str, Any]) -> None:
    """Refuse the write unless ``text`` parses back to ``passed``: the content the gate judged
    and the audit records name. Whatever spelling of the tables the file had, the new file
    holds exactly that, or nothing is written."""
    written = tomllib.loads(text)
    if content_sha256(written) == content_sha256(passed):
        return
    found, wanted = live_values(written), dict(passed.get(LIVE_TABLE, {}))
    keys = tuple(sorted(k for k in found.keys() | wanted.keys() if found.get(k) != wanted.get(k)))
    raise GateRefusal(
        f"{path}: the rendered file would not hold what the gate passed "
        f"(differs at {', '.join(keys) or 'the bookkeeping'}); nothing written",
        keys,
    )


def _sync_table(table: Table, found: Mapping[str, Any], wanted: Mapping[str, str]) -> None:
    """Make ``table`` (whose plain content is ``found``) hold exactly ``wanted``, touching only
    what differs: tomlkit edits are slow, and rebuilding a 100-key table on every write cost
    more than the write's fsyncs."""
    for key in [k for k in found if k not in wanted]:
        del table[key]
    for key, value in wanted.items():
        if found.get(key) != value:
            table[key] = value


def _governance(
    doc: TOMLDocument, found: Mapping[str, Any], state: LiveState, now: datetime
) -> dict[str, Any]:
    """Write the bookkeeping into ``doc`` (``found``: its plain ``[governance]``); returns it
    as plain data, as the file will parse back."""
    existing = doc.get(GOVERNANCE_TABLE)
    table = existing if isinstance(existing, Table) else tomlkit.table()
    found = found if isinstance(existing, Table) else {}
    # Only the last 24 hours matter for the rate limit; older entries are dropped on write.
    recent = [_iso(m) for m in sorted(m for m in state.auto_applies if m > now - timedelta(days=1))]
    plain: dict[str, Any] = {"auto_applies": recent}
    if found.get("auto_applies") != recent:
        table["auto_applies"] = recent
    for name, wanted in (
        ("last_change", {key: _iso(state.last_change[key]) for key in sorted(state.last_change)}),
        ("frozen", {key: state.frozen[key] for key in sorted(state.frozen)}),
    ):
        sub = table.get(name)
        old = found.get(name)
        if not isinstance(sub, Table) or not isinstance(old, Mapping):
            sub, old = tomlkit.table(), {}
            table[name] = sub
        _sync_table(sub, old, wanted)
        plain[name] = wanted
    if existing is not table:
        doc[GOVERNANCE_TABLE] = table
    return plain


class OverridesWriter:
    """Locked, gated, audited, atomic changes of auto.toml (blocking; call from a thread in
    asyncio)."""

    def __init__(self, path: Path, audit: AuditTrail, *, lock_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.audit = audit
        self.lock_timeout_s = lock_timeout_s
        # The document this writer last wrote or found with nothing to write (and its plain
        # content), keyed by the SHA-256 of its bytes: when the file still holds exactly those
        # bytes, re-parsing it and unwrapping it (the dominant costs of a small update, and of
        # the worker's many checks that write nothing) are skipped.
        self._cached: tuple[str, TOMLDocument, dict[str, Any]] | None = None
        self._cached_plain: tuple[TOMLDocument, dict[str, Any]] | None = None
        self._raw: bytes | None = None
        self._repaired: Path | None = None

    def _read_document(self, path: Path) -> TOMLDocument | None:
        cached, self._cached = self._cached, None
        self._cached_plain = None
        try:
            self._raw = read_untrusted(path)
        except FileNotFoundError:
            self._raw = None
            return None
        except DataError as exc:  # a named pipe or a huge file where auto.toml should be
            raise UnparseableFileError(f"{exc}; refusing to overwrite") from None
        if cached is not None and hashlib.sha256(self._raw).hexdigest() == cached[0]:
            self._cached_plain = (cached[1], cached[2])
            return cached[1]
        return read_toml_document(path)

    def _plain(self, doc: TOMLDocument) -> dict[str, Any]:
        """``doc`` as plain data (a deep copy: the planner and gate must not see later edits)."""
        if self._cached_plain is not None and self._cached_plain[0] is doc:
            return copy.deepcopy(self._cached_plain[1])
        plain: dict[str, Any] = doc.unwrap()
        return plain

    def read(self) -> LiveState:
        """The current state without locking (for display; planners get a locked read)."""
        return read_state(read_toml_values(self.path) or {})

    def check(self) -> FileCheck:
        """The file against the audit trail, without locking (``verify-audit``, the daemon's
        periodic comparison). Raises AuditError for an unreadable trail."""
        try:
            raw: bytes | None = read_untrusted(self.path)
        except FileNotFoundError:
            raw = None
        except DataError as exc:  # to the check, a file that cannot be read does not parse
            raise ValueError(str(exc)) from None
        check = check_document(raw, self.audit.last_file_record())
        if check.status == "hand_edit":
            check = check_document(raw, check.last, self.audit.records())
        return check

    def transact(
        self,
        planner: Planner,
        *,
        kind: WriteKind,
        gate: GateContext,
        actor: str,
        mode: str,
        proposal_id: str | None,
        now: datetime,
        preface: Sequence[Mapping[str, Any]] = (),
    ) -> WriteResult:
        """Plan, gate and perform one write under the lock (see the module docstring).
        ``preface`` records (an operator's approval) go into the same audit batch, first."""
        written: list[dict[str, Any]] = []
        rendered: list[tuple[str, TOMLDocument, str, dict[str, Any]]] = []
        untouched: list[tuple[str, TOMLDocument, dict[str, Any]]] = []
        self._repaired = None

        def mutate(doc: TOMLDocument) -> WritePlan:
            file_sha = hashlib.sha256(self._raw or b"").hexdigest()
            plain = self._plain(doc)
            content_before = content_sha256(plain)
            preamble = self._reconcile(kind, now, file_sha, content_before)
            state = read_state(plain)
            governed: dict[str, Any] | None = None
            if any(r["event"] == "hand_edit" for r in preamble):
                # The edited file is evidence, not history: what the trail recorded (freezes,
                # cooldowns, the rate limit) survives adopt and clear, and their change records
                # start from the recorded values, so no rollback brings the edit back.
                trail = self.audit.records()
                state = stricter(state, recorded_bookkeeping(trail))
                governed = recorded_table(trail)
            plan = planner(state)
            if plan.empty and not preamble:
                # Nothing edited the document: it still parses these bytes.
                untouched.append((file_sha, doc, self._plain(doc)))
                raise _NothingToWrite(plan)
            current = dict(state.values)
            normalise = kind in RESOLVES_HAND_EDIT
            live = plain.get(LIVE_TABLE)
            nested = isinstance(live, Mapping) and any(
                isinstance(v, Mapping) for v in live.values()
            )
            table = _flat_live_table(doc, normalise=normalise, nested=nested)
            pending = self._apply(plan, table, state, now, governed)
            result = dict(state.values)
            verdict = check_table(
                result,
                current,
                base=gate.base,
                policy=gate.policy,
                recorded=self.audit.recorded(),
                step_rule=kind is not WriteKind.ADOPT,
            )
            if not verdict.ok:
                raise GateRefusal(
                    f"{self.path}: the resulting live overrides fail the gate, nothing written: "
                    f"{verdict.summary()}",
                    verdict.keys,
                )
            if kind is WriteKind.ADVANCE:
                self._components_accept(gate, result)
            found_gov = plain.get(GOVERNANCE_TABLE)
            bookkeeping = _governance(
                doc, found_gov if isinstance(found_gov, Mapping) else {}, state, now
            )
            text = tomlkit.dumps(doc)
            after_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
            # What the file will parse back to (the writer's own two tables; anything else a
            # hand edit left is only there when it matched the trail, i.e. never for a writer).
            after_plain: dict[str, Any] = (
                {k: v for k, v in plain.items() if k not in (LIVE_TABLE, GOVERNANCE_TABLE)}
                if not normalise
                else {}
            )
            after_plain.update({LIVE_TABLE: result, GOVERNANCE_TABLE: bookkeeping})
            _holds_what_was_passed(self.path, text, after_plain)
            rendered.append((after_sha, doc, text, after_plain))
            common = {
                "time": _iso(now),
                "actor": actor,
                "mode": mode,
                "kind": kind.value,
                "proposal_id": proposal_id,
                "write_id": f"w-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}",
                "file_sha256_before": file_sha,
                "file_sha256_after": after_sha,
                "content_sha256_before": content_before,
                "content_sha256_after": content_sha256(after_plain),
            }
            records = [*preamble, *preface, *pending]
            if kind in RESOLVES_HAND_EDIT and not pending:
                records.append({"event": kind.value, "reasons": [f"{kind.value} by {actor}"]})
            written.extend(self.audit.append([{**common, **r} for r in records]))
            return plan

        try:
            plan = update_toml_locked(
                self.path,
                mutate,
                default_text=DEFAULT_TEXT,
                backup=True,
                timeout_s=self.lock_timeout_s,
                read=self._read_document,
                # Under the same lock: the next writer must find the commit, not an intent.
                after_write=lambda _: self._commit(written[-1], now),
                render=lambda _: rendered[-1][2],
            )
        except _NothingToWrite as nothing:
            if untouched and self._raw is not None:
                self._cached = untouched[0]
            return WriteResult(False, (), nothing.plan.outcome, self._repaired)
        after_sha, doc, _, after_plain = rendered[-1]
        self._cached = (after_sha, doc, after_plain)
        logger.info("auto.toml: %d audit record(s) written by %s (%s)", len(written), actor, kind)
        return WriteResult(True, tuple(written), plan.outcome, self._repaired)

    def _commit(self, last: Mapping[str, Any], now: datetime) -> None:
        """Record that the write's replace happened: from now on the content it found is a
        hand edit, not an interrupted write (someone putting the old file back)."""
        try:
            self.audit.append(
                [
                    {
                        "time": _iso(now),
                        "event": "write_committed",
                        "actor": "writer",
                        "mode": "-",
                        "proposal_id": last.get("proposal_id"),
                        "write_id": last["write_id"],
                        "file_sha256_after": last["file_sha256_after"],
                        "content_sha256_after": last["content_sha256_after"],
                        "reasons": ["auto.toml replaced"],
                    }
                ]
            )
        except AuditError as exc:  # the write stands; an uncommitted one still matches the file
            logger.warning("auto.toml: write %s not marked committed: %s", last["write_id"], exc)

    def _components_accept(self, gate: GateContext, result: Mapping[str, Any]) -> None:
        """An advance's resulting table must also pass what the components check (the loader
        would drop a value they refuse, so a governed, recorded change would not be in force):
        policy bounds can reach past a component's range."""
        refused = refused_live_value(gate.base, result)
        if refused is not None:
            raise ComponentRefusal(
                f"{self.path}: the resulting live overrides are refused by the component that "
                f"reads {refused.key}, nothing written: {refused.problem}",
                (refused.key,) if refused.key else (),
            )

    @staticmethod
    def _apply(
        plan: WritePlan,
        table: Table,
        state: LiveState,
        now: datetime,
        governed: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Edit ``table`` and ``state`` as ``plan`` says; returns the change records. A change's
        recorded ``before`` is the file's value, or ``governed``'s (the trail's table) when the
        write resolves a hand edit."""
        pending: list[dict[str, Any]] = []
        previous = state.values if governed is None else governed
        for change in plan.changes:
            before = previous.get(change.key) if change.before is FROM_FILE else change.before
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
            pending.append({"event": "unfreeze", "key": key, "reasons": ["cleared by operator"]})
        return pending

    def _reconcile(
        self, kind: WriteKind, now: datetime, file_sha: str, content_sha: str
    ) -> list[dict[str, Any]]:
        """Bring the trail in line with the file before a write; returns the records this write
        must carry first (a resolved hand edit). Raises for a damaged trail or a hand edit the
        write may not resolve."""
        damage = self.audit.damaged_tail()
        if damage is not None:
            if kind not in EMERGENCY:
                raise AuditError(
                    f"{self.audit.path}: {damage.reason}; refusing "
                    "to write (`overrides clear` and `rollback` still work)"
                )
            self._repaired = self.audit.repair_tail(now)
            logger.critical("audit trail: damaged tail moved aside to %s", self._repaired)
        last = self.audit.last_file_record()
        status = compare(file_sha, content_sha, last)
        if status == "match":
            return []
        base = {"time": _iso(now), "actor": "writer", "mode": "-", "proposal_id": None}
        if status == "aborted":
            last = present(last, "the interrupted write's audit record")
            logger.warning(
                "auto.toml: write %s was interrupted; recording it as aborted", last.get("write_id")
            )
            self.audit.append(
                [
                    {
                        **base,
                        "event": "write_aborted",
                        "write_id": last.get("write_id"),
                        "file_sha256_after": file_sha,
                        "content_sha256_after": content_sha,
                        "reasons": [
                            "the writer stopped after the audit record and before the file replace"
                        ],
                    }
                ]
            )
            return []
        check = check_document(self._raw, last, self.audit.records())
        named = check.differences
        if kind not in RESOLVES_HAND_EDIT:
            raise HandEditRefusal(check.describe(self.path), named)
        logger.warning("auto.toml: resolving a hand edit (%s): %s", kind, "; ".join(named))
        return [
            {
                "event": "hand_edit",
                "differences": list(named),
                "found_content_sha256": content_sha,
                "reasons": [f"auto.toml was edited outside the writer; resolved by {kind.value}"],
            }
        ]
