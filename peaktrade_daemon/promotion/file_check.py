"""Does auto.toml hold what the audit trail last recorded? (§8.8 "Hand edits")

Every write records, on each of its audit records, the SHA-256 of auto.toml's bytes and of its
*content* (:func:`~peaktrade_daemon.governance.live_state.content_sha256`: values, not comments
or formatting) before and after. Comparing the file with the trail's last such record gives:

* ``match``: the content is what the last write left (or, with no record at all, a fresh
  install's empty ``[auto_applied]``);
* ``aborted``: the content is what the last write found, and that write has no
  ``write_committed`` record: its writer was stopped after its audit records and before its
  file replace (the next writer records ``write_aborted``). Once a write is committed, content
  equal to what it found is a hand edit (someone put the old file back), never an abort;
* ``hand_edit``: anything else. The differing keys are named against the table the trail's
  effective changes add up to.

Release 1's records carry only byte hashes; for them the bytes are compared.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from peaktrade_daemon.audit_records import aborted_writes, changes_since
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.governance.live_state import (
    EMPTY_CONTENT_SHA256,
    LiveState,
    content_sha256,
    live_values,
    parse_time,
    read_state,
)
from peaktrade_daemon.storage.untrusted import read_untrusted
from peaktrade_daemon.toml_depth import MAX_TOML_DEPTH, nesting_depth

Status = Literal["match", "aborted", "hand_edit"]


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The file against the trail (see the module docstring)."""

    status: Status
    file_sha256: str
    content_sha256: str
    last: Mapping[str, Any] | None
    differences: tuple[str, ...] = ()

    def describe(self, path: Path) -> str:
        """One line for an operator."""
        if self.status == "match":
            return f"{path}: matches the audit trail"
        if self.status == "aborted":
            return (
                f"{path}: write {self.last.get('write_id') if self.last else '?'} was interrupted "
                "before the file was replaced; the next write records it as aborted"
            )
        named = "; ".join(self.differences) or "content outside the recorded values"
        return (
            f"{path}: edited outside the promotion writer (content {self.content_sha256[:12]} "
            f"matches no recorded write): {named}; run `overrides adopt --by NAME` to record it "
            "or `overrides clear --by NAME`"
        )


def file_hashes(raw: bytes | None) -> tuple[str, str, dict[str, Any]]:
    """``(bytes sha256, content sha256, parsed document)``; a missing file is empty. Raises
    ValueError (or UnicodeDecodeError) for bytes that do not parse as TOML."""
    data = raw or b""
    doc = tomllib.loads(data.decode("utf-8")) if data else {}
    if nesting_depth(doc) > MAX_TOML_DEPTH:
        # The live loader applies none of such a file, so it is not the recorded content in
        # another form (an empty table is no content to the hash, but it empties the loader).
        raise ValueError(f"tables nest deeper than {MAX_TOML_DEPTH} levels")
    return hashlib.sha256(data).hexdigest(), content_sha256(doc), doc


def recorded_table(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``[auto_applied]`` as the trail's effective changes leave it."""
    table: dict[str, Any] = {}
    for record in changes_since(records):
        key = record.get("key")
        if not isinstance(key, str):
            continue
        if record.get("after") is None:
            table.pop(key, None)
        else:
            table[key] = record["after"]
    return table


def _fmt(value: Any) -> str:
    return "absent" if value is None else repr(value)


def differences(doc: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The keys whose value in the file differs from the trail's, one phrase each."""
    expected, found = recorded_table(records), live_values(doc)
    named = [
        f"{key}: recorded {_fmt(expected.get(key))}, file {_fmt(found.get(key))}"
        for key in sorted(set(expected) | set(found))
        if expected.get(key) != found.get(key)
        or type(expected.get(key)) is not type(found.get(key))
    ]
    frozen = sorted(read_state(doc).frozen)
    recorded_frozen = sorted(_frozen(records))
    if frozen != recorded_frozen:
        named.append(f"frozen keys: recorded {recorded_frozen or '-'}, file {frozen or '-'}")
    return tuple(named)


def _frozen(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    frozen: dict[str, str] = {}
    aborted = aborted_writes(records)
    for record in records:
        if record.get("write_id") in aborted:
            continue
        if record.get("event") == "freeze":
            reasons = record.get("reasons")
            why = "; ".join(map(str, reasons)) if isinstance(reasons, list) else "frozen"
            frozen[str(record.get("key"))] = why
        elif record.get("event") == "unfreeze":
            frozen.pop(str(record.get("key")), None)
    return frozen


def recorded_bookkeeping(records: Sequence[Mapping[str, Any]]) -> LiveState:
    """The writer's ``[governance]`` bookkeeping as the trail's effective records leave it (no
    values): the frozen keys, each key's last change, the times of the auto-applies (actor
    ``auto``). Resolving a hand edit keeps at least this (see ``live_state.stricter``)."""
    last_change: dict[str, datetime] = {}
    applies: list[datetime] = []
    for record in changes_since(records):
        moment = parse_time(record.get("time"))
        key = record.get("key")
        if moment is None or not isinstance(key, str):
            continue
        if key not in last_change or moment > last_change[key]:
            last_change[key] = moment
        if record.get("actor") == "auto" and "undoes" not in record:
            applies.append(moment)
    return LiveState({}, _frozen(records), last_change, applies)


def compare(file_sha: str, content_sha: str, last: Mapping[str, Any] | None) -> Status:
    """The status of a file with these hashes against the trail's last file record."""
    if last is None:
        return "match" if content_sha == EMPTY_CONTENT_SHA256 else "hand_edit"
    if "content_sha256_after" in last:
        now, before = content_sha, last.get("content_sha256_before")
        after = last["content_sha256_after"]
    else:  # release 1: bytes only
        now, before, after = file_sha, last.get("file_sha256_before"), last["file_sha256_after"]
    if now == after:
        return "match"
    if (
        now == before
        and last.get("write_id") is not None
        and last.get("event") not in ("write_aborted", "write_committed")
    ):
        return "aborted"
    return "hand_edit"


def check_document(
    raw: bytes | None,
    last: Mapping[str, Any] | None,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> FileCheck:
    """Check auto.toml's bytes ``raw`` (None: missing) against ``last`` (the trail's last file
    record); ``records`` (all of them) name the differences of a hand edit."""
    file_sha, content_sha, doc = file_hashes(raw)
    status = compare(file_sha, content_sha, last)
    named: tuple[str, ...] = ()
    if status == "hand_edit" and records is not None:
        named = differences(doc, records)
    return FileCheck(status, file_sha, content_sha, last, named)


def check_file(path: Path, records: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """``(problem, note)`` for ``overrides verify-audit``: a hand edit or an unreadable file is a
    problem, an interrupted write a note."""
    try:
        raw: bytes | None = read_untrusted(path)
    except FileNotFoundError:
        raw = None
    except DataError as exc:
        return f"{exc}: cannot be checked", None
    last = next((r for r in reversed(records) if "file_sha256_after" in r), None)
    try:
        check = check_document(raw, last, records)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"{path}: does not parse ({exc})", None
    if check.status == "match":
        return None, (None if last is not None else f"{path}: no recorded write yet")
    if check.status == "aborted":
        return None, check.describe(path)
    return check.describe(path), None
