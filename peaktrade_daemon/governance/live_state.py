"""What auto.toml holds, decoded from its parsed document, and its *content* identity (§8.4, §8.8).

The file has two tables: ``[auto_applied]`` (the live values; quoted dotted keys and nested
tables mean the same) and ``[governance]`` (the writer's bookkeeping: auto-apply times for the
rate limit, last change per key for the cooldown, keys frozen by the rollback guard).

Content, not bytes: comments and formatting are not content, so an operator's comment never
counts as a hand edit, while any value anywhere in the document does (a top-level key outside
``[auto_applied]`` too: the loader takes a document without that table whole). The content hash
is the SHA-256 of a canonical JSON rendering of the whole document with ``[auto_applied]``
flattened and an absent or empty ``[governance]`` normalised away, so a fresh install's empty
file and a file the writer emptied have the same content.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from peaktrade_daemon.config.overrides import flatten, override_table

LIVE_TABLE = "auto_applied"
GOVERNANCE_TABLE = "governance"


def parse_time(value: Any) -> datetime | None:
    """An ISO time as an aware datetime (naive: UTC), or None when it does not parse."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    # A time without an offset is UTC (the product's convention for naive times); left naive,
    # comparing it with the aware clock would crash every write.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(slots=True)
class LiveState:
    """What auto.toml holds, as a planner sees it (read under the writer's lock)."""

    values: dict[str, Any]
    frozen: dict[str, str]
    last_change: dict[str, datetime]
    auto_applies: list[datetime]

    def applies_since(self, since: datetime) -> int:
        """Number of auto-applies at or after ``since``."""
        return sum(1 for moment in self.auto_applies if moment >= since)


def stricter(found: LiveState, recorded: LiveState) -> LiveState:
    """``found``'s values with bookkeeping no looser than ``recorded``'s: every freeze of
    either (``recorded``'s reason first), the later last change per key, every auto-apply time
    of either. What resolving a hand edit keeps: an edit of ``[governance]`` must never lift a
    freeze, a cooldown or the rate limit the trail recorded."""
    last_change = dict(found.last_change)
    for key, moment in recorded.last_change.items():
        if key not in last_change or moment > last_change[key]:
            last_change[key] = moment
    return LiveState(
        dict(found.values),
        {**found.frozen, **recorded.frozen},
        last_change,
        # One write's applies share a time: a multiset union, not a set (the max count per time).
        sorted((Counter(found.auto_applies) | Counter(recorded.auto_applies)).elements()),
    )


def live_values(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The override set the live loader would apply, flattened to dotted keys: ``[auto_applied]``,
    or, as the loader reads a file without that table, the whole document (less the writer's
    bookkeeping)."""
    table = override_table(doc, LIVE_TABLE)
    if table is doc:
        table = {k: v for k, v in doc.items() if k != GOVERNANCE_TABLE}
    return dict(flatten(table))


def read_state(doc: Mapping[str, Any]) -> LiveState:
    """Decode auto.toml (a plain dict) into a :class:`LiveState`.

    ``values`` is everything the loader would apply (arrays and other non-scalars included: the
    gate refuses them, so they must be seen). Bookkeeping entries that do not decode are left
    out rather than trusted; a hand edit of them changes the content and is refused anyway.
    """
    governance = doc.get(GOVERNANCE_TABLE)
    gov: Mapping[str, Any] = governance if isinstance(governance, Mapping) else {}
    frozen_raw = gov.get("frozen", {})
    frozen = (
        {str(k): str(v) for k, v in frozen_raw.items()} if isinstance(frozen_raw, Mapping) else {}
    )
    last_change: dict[str, datetime] = {}
    raw_last = gov.get("last_change", {})
    for key, value in raw_last.items() if isinstance(raw_last, Mapping) else ():
        moment = parse_time(value)
        if moment is not None:
            last_change[str(key)] = moment
    raw_applies = gov.get("auto_applies", [])
    applies = (
        [m for m in (parse_time(v) for v in raw_applies) if m is not None]
        if isinstance(raw_applies, list)
        else []
    )
    return LiveState(live_values(doc), frozen, last_change, applies)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return {"$toml": type(value).__name__, "value": value.isoformat()}
    raise TypeError(f"not TOML data: {type(value).__name__}")


def normalised(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document's content: ``[auto_applied]`` flattened, empty bookkeeping dropped."""
    content: dict[str, Any] = {}
    for name, value in doc.items():
        if name == LIVE_TABLE and isinstance(value, Mapping):
            content[name] = dict(flatten(value))
        elif name == GOVERNANCE_TABLE and isinstance(value, Mapping):
            kept = {k: v for k, v in value.items() if v not in ({}, [])}
            if kept:
                content[name] = kept
        else:
            content[name] = value
    content.setdefault(LIVE_TABLE, {})
    return content


def content_sha256(doc: Mapping[str, Any]) -> str:
    """SHA-256 of the document's content (see the module docstring)."""
    text = json.dumps(
        normalised(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: The content of a fresh install's file (an empty ``[auto_applied]``) and of a missing file.
EMPTY_CONTENT_SHA256 = content_sha256({})
