"""Explaining the effective config (§2.5): which layer set each key, and for live keys which
proposal changed it and when (from the promotion audit trail)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.storage.untrusted import MAX_TRAIL_BYTES, read_untrusted

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveChange:
    """The audit record of the change that last wrote a live key."""

    proposal_id: str | None
    time: str | None
    actor: str | None


def last_live_changes(audit_path: Path) -> dict[str, LiveChange]:
    """Per key, the latest ``change`` record of the audit trail (JSON lines); unreadable lines
    are skipped with a warning (``overrides verify-audit`` is the tool that judges integrity)."""
    changes: dict[str, LiveChange] = {}
    try:
        raw = read_untrusted(audit_path, MAX_TRAIL_BYTES)
    except FileNotFoundError:
        return changes
    except DataError as exc:  # a named pipe or a huge file: no provenance, never a hang
        logger.warning("provenance: %s", exc)
        return changes
    lines = raw.decode("utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, 5000 digits, deep nesting
            logger.warning("%s:%d: not JSON, skipped for provenance", audit_path, number)
            continue
        if isinstance(record, dict) and record.get("event") == "change" and record.get("key"):
            changes[str(record["key"])] = LiveChange(
                record.get("proposal_id"), record.get("time"), record.get("actor")
            )
    return changes


def _fmt(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def render_config(
    config: PeakConfig, *, with_provenance: bool, live_changes: Mapping[str, LiveChange]
) -> list[str]:
    """``key = value`` lines for every leaf, with ``# source`` annotations when asked."""
    lines: list[str] = []
    for key, value in config.leaves():
        line = f"{key} = {_fmt(value)}"
        if with_provenance:
            origin = config.provenance.get(key)
            if origin is not None:
                line += f"    # {origin.source}: {origin.file}"
                change = live_changes.get(key) if origin.source == "live" else None
                if change is not None:
                    line += f" (proposal {change.proposal_id or '-'} at {change.time or '-'}"
                    line += f" by {change.actor or '-'})"
        lines.append(line)
    return lines


def render_diff(
    base: PeakConfig, effective: PeakConfig, keys: Iterable[str] | None = None
) -> list[str]:
    """One line per overridden key: ``key: base -> effective  [source file]``."""
    rows: list[str] = []
    for key, value in effective.leaves():
        origin = effective.provenance.get(key)
        if keys is not None and key not in keys:
            continue
        if origin is None or origin.source == "base":
            continue
        rows.append(
            f"{key}: {_fmt(base.get(key))} -> {_fmt(value)}    [{origin.source}: {origin.file}]"
        )
    return rows
