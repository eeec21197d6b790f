"""The replay's record of what happened, one JSON object per line (``timeline.jsonl``).

Every entry has ``time`` (data time, ISO-8601 UTC, ``Z``) and ``kind``:

* ``decision``: one per cycle, from the cycle's summary: workflow type, symbol, action,
  confidence, reasons, ``executed`` (false in replay: decisions are recorded, workflows not run);
* ``learn``: one per learning step: the learner's new patches and what ``learn`` published;
* ``verdict``, ``apply``, ``revert``, ``freeze``: from the scratch root's promotion audit trail,
  the product's own record (§8.4). A ``verdict`` is the policy's (``stage: policy``, §8.2) or
  the evidence's for a candidate's next step (``stage: evidence``, PASS, FAIL or INCONCLUSIVE,
  §9). An ``apply`` (a change by ``auto``) or a ``revert`` (by the ``rollback-guard``) carries
  ``key``, ``before`` and ``after``: the live values around that one change (a key absent from
  auto.toml is at its base value);
* ``alert``: every warning and critical alert as the dispatcher recorded it (after
  de-duplication). A window's summary of suppressed repeats is stamped with the window's close
  (its first time plus the window, at most the replay's end), whenever the dispatcher wrote it.

Deterministic bytes: entries sorted by time, then by kind in the order above, then in the order
they happened (alerts at one instant by source, level and message); keys sorted; no wall-clock
time anywhere; the random parts of ids the daemon mints (run, cycle, proposal and write ids) and
the scratch root's path are replaced (:class:`Redactor`), and proposal and write ids are left
out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.audit_records import aborted_writes
from peaktrade_daemon.config.overrides import is_missing, lookup
from peaktrade_daemon.replay.inputs import iso_z
from peaktrade_daemon.replay.learners import LearnStep
from peaktrade_daemon.workflows.cycle import CycleSummary

KINDS = ("decision", "learn", "verdict", "apply", "revert", "freeze", "alert")
GUARD_ACTOR = "rollback-guard"
#: ``20170419T090000-market_scan-1a2b3c4d``, ``20170419T090000Z-1a2b3c4d``, ``w-...-1a2b3c4d``.
_RANDOM_SUFFIX = re.compile(r"(\d{8}T\d{6}Z?(?:-[a-z_]+)?)-[0-9a-f]{8}\b")
SCRATCH = "<replay root>"


@dataclass(frozen=True, slots=True)
class Redactor:
    """Makes text independent of the run: the scratch root's path and the random suffixes."""

    root: Path

    def text(self, value: str) -> str:
        """``value`` with the scratch path and random id suffixes replaced."""
        for form in {str(self.root), str(self.root.resolve())}:
            value = value.replace(form, SCRATCH)
        return _RANDOM_SUFFIX.sub(r"\1", value)

    def value(self, value: Any) -> Any:
        """Every string inside ``value`` redacted (lists and mappings walked)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def _time(value: Any) -> str:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return iso_z(moment)


@dataclass(slots=True)
class Timeline:
    """Entries as they are recorded; :meth:`entries` gives them in their final order."""

    redactor: Redactor
    end: datetime
    _entries: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    _alerts: list[dict[str, Any]] = field(default_factory=list)

    def _add(self, kind: str, time: str, body: Mapping[str, Any]) -> None:
        entry = {"time": time, "kind": kind, **self.redactor.value(body)}
        self._entries.append((kind, len(self._entries), entry))

    def decision(self, summary: CycleSummary) -> None:
        """One cycle's decision."""
        self._add(
            "decision",
            iso_z(summary.started_at),
            {
                "workflow_type": summary.workflow_type,
                "symbol": summary.symbol,
                "action": summary.action,
                "confidence": summary.confidence,
                "executed": summary.executed,
                "success": summary.success,
                "selection": summary.selection_reason,
                "reasons": list(summary.reasons),
            },
        )

    def learn(self, step: LearnStep, learner: str) -> None:
        """One learning step."""
        self._add(
            "learn",
            iso_z(step.at),
            {
                "learner": learner,
                "learned": [
                    {
                        "id": p.id,
                        "target": p.target,
                        "new_value": p.new_value,
                        "confidence": p.confidence_score,
                    }
                    for p in step.learned
                ],
                "published": {p.target: p.new_value for p in step.result.written},
                "skipped": [list(pair) for pair in step.result.skipped],
            },
        )

    def alert(self, alert: Alert) -> None:
        """A warning or critical alert as recorded (info alerts are left out: they repeat what
        the other entries say)."""
        if alert.level is AlertLevel.INFO:
            return
        when = alert.timestamp
        if "suppressed" in alert.context and "first_at" in alert.context:
            closes = datetime.fromisoformat(str(alert.context["first_at"]).replace("Z", "+00:00"))
            closes += timedelta(seconds=float(alert.context.get("window_s", 0.0)))
            when = min(closes, self.end)
        body: dict[str, Any] = {
            "level": alert.level.value,
            "source": alert.source,
            "message": alert.message,
        }
        if "suppressed" in alert.context:
            body["suppressed"] = alert.context["suppressed"]
        self._alerts.append({"time": iso_z(when), "kind": "alert", **self.redactor.value(body)})

    def audit(self, records: Sequence[Mapping[str, Any]], base: Mapping[str, Any]) -> None:
        """Verdicts, applies, reverts and freezes from the audit trail, in its order."""
        aborted = aborted_writes(records)
        for record in records:
            if record.get("write_id") in aborted and record.get("event") != "verdict":
                continue
            event, key = record.get("event"), str(record.get("key"))
            if event == "verdict":
                self._add(
                    "verdict",
                    _time(record["time"]),
                    {
                        "stage": "policy",
                        "key": key,
                        "verdict": record.get("verdict"),
                        "proposed": record.get("proposed"),
                        "current": record.get("current"),
                        "patch_id": record.get("patch_id"),
                        "reasons": list(record.get("reasons", ())),
                    },
                )
            elif event == "evidence":
                self._add(
                    "verdict",
                    _time(record["time"]),
                    {
                        "stage": "evidence",
                        "key": key,
                        "verdict": record.get("verdict"),
                        "step": record.get("step_value"),
                        "final_verdict": record.get("final_verdict"),
                        "current": record.get("live_value"),
                        "patch_id": record.get("patch_id"),
                        "reasons": list(record.get("reasons", ())),
                    },
                )
            elif event == "change":
                kind = "revert" if record.get("actor") == GUARD_ACTOR else "apply"
                self._add(
                    kind,
                    _time(record["time"]),
                    {
                        "key": key,
                        "actor": record.get("actor"),
                        "before": _live(record.get("before"), base, key),
                        "after": _live(record.get("after"), base, key),
                        "reasons": list(record.get("reasons", ())),
                    },
                )
            elif event == "freeze":
                self._add(
                    "freeze",
                    _time(record["time"]),
                    {"key": key, "reasons": list(record.get("reasons", ()))},
                )

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in the timeline's order (module docstring)."""
        rank = {kind: i for i, kind in enumerate(KINDS)}
        ordered = sorted(self._entries, key=lambda e: (e[2]["time"], rank[e[0]], e[1]))
        alerts = sorted(
            self._alerts, key=lambda a: (a["time"], a["source"], a["level"], a["message"])
        )
        merged = [e[2] for e in ordered]
        # Alerts rank last at their instant; merge the two sorted lists by time.
        out: list[dict[str, Any]] = []
        i = 0
        for alert in alerts:
            while i < len(merged) and merged[i]["time"] <= alert["time"]:
                out.append(merged[i])
                i += 1
            out.append(alert)
        return out + merged[i:]


def _live(recorded: Any, base: Mapping[str, Any], key: str) -> Any:
    """A recorded before/after value; ``None`` (absent from auto.toml) is the base value."""
    if recorded is not None:
        return recorded
    value = lookup(base, key)
    return None if is_missing(value) else value


def counts(entries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Entries per kind (every kind listed, zeros included)."""
    found = dict.fromkeys(KINDS, 0)
    for entry in entries:
        found[str(entry["kind"])] += 1
    return found


def dumps_line(entry: Mapping[str, Any]) -> str:
    """One entry as its line: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def timeline_bytes(entries: Iterable[Mapping[str, Any]]) -> bytes:
    """The whole ``timeline.jsonl``."""
    return "".join(dumps_line(e) + "\n" for e in entries).encode("utf-8")
