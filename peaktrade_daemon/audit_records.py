"""The promotion audit record format (§8.4): one neutral module that the trail's writer
(:mod:`peaktrade_daemon.promotion.audit`), its database mirror
(:mod:`peaktrade_daemon.storage.promotion_store`) and the governance core all read.

A record is one line of canonical JSON (sorted keys, no spaces) with ``seq`` (1, 2, 3 ...) and
``prev_sha256``, the SHA-256 of the previous line's exact bytes (64 zeros for the first). Events:

* ``verdict``: the policy's verdict for one candidate (``proposal_sha256`` seals the proposal);
* ``change``: one key changed in auto.toml (``key``, ``before``, ``after``; ``null`` means the
  key is absent). The records of one file write share a ``write_id``;
* ``write``: the last record of each file write: the complete ``[auto_applied]`` table and the
  frozen keys it left, the hashes of the file's bytes and content before and after;
* ``write_aborted``: a write whose records were appended but whose file replace never happened
  (the writer was killed in between); found and recorded by the next writer;
* ``freeze`` / ``unfreeze``, ``review`` (an operator's approval or rejection), ``adopt`` (an
  operator recorded a hand-edited file), ``tail_repaired`` (a damaged tail moved aside);
* ``file_state``: written by release 1 for content no recorded write produced (read, never
  written now: a hand edit is refused until adopted or cleared).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

GENESIS = "0" * 64


class RecordError(ValueError):
    """A line that is not an audit record (not JSON, not an object)."""


def canonical_line(record: Mapping[str, Any]) -> str:
    """The one serialisation hashed and written: sorted keys, compact, UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def line_hash(line: str) -> str:
    """SHA-256 hex of one record line (without its newline)."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def parse_record(line: str, where: str) -> dict[str, Any]:
    """One audit line as a JSON object, or RecordError naming ``where`` (file:line)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # not JSON, 5000 digits, deep nesting
        raise RecordError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise RecordError(f"{where}: not a JSON object")
    return record


def aborted_writes(records: Sequence[Mapping[str, Any]]) -> set[Any]:
    """The ``write_id`` of every write recorded as aborted."""
    return {r.get("write_id") for r in records if r.get("event") == "write_aborted"}


def changes_since(records: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The ``change`` records whose write took effect (aborted writes are left out)."""
    aborted = aborted_writes(records)
    for record in records:
        if record.get("event") == "change" and record.get("write_id") not in aborted:
            yield record


def recorded_values(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Per key, every value an effective change recorded it at (``before`` and ``after``;
    ``None`` left out): the values a rollback or restore may return a key to."""
    found: dict[str, list[Any]] = {}
    for record in changes_since(records):
        key = record.get("key")
        if not isinstance(key, str):
            continue
        for side in ("before", "after"):
            value = record.get(side)
            if value is not None and value not in found.setdefault(key, []):
                found[key].append(value)
    return found
