"""The promotion audit trail (§8.4, §8.8): append-only, hash-chained JSON lines.

The record format (canonical lines, ``seq``, ``prev_sha256``, the events) is
:mod:`peaktrade_daemon.audit_records`. The chain proves only that the lines agree with each other:
whoever can write ``reports/`` can append records and re-chain them (§8.8's threat model). So the
trail is *anchored*: every append first writes the seq and hash its last record will have (and
those of the record before it) to an anchor file outside ``reports/`` (``state/audit.anchor``;
tests and bare trails keep it beside the trail), then appends. The trail must end at the
anchored record, or at the one before it (an append that was interrupted, or failed and was cut
back, after the anchor was written). Anything else is a *damaged tail* like a torn line, treated
the same way below: records after the anchor (appended or re-chained outside the writer), an
anchored record that no longer matches (the trail was rewritten) or a trail shorter than its
anchor (records were removed). The anchor is rewritten atomically without fsync: after a power
cut it may be the previous one, and the last append then shows as a damaged tail (fail closed:
the emergency paths move it aside, nothing is lost).

Whole or not at all (§8.8): an append writes its records in one batch and fsyncs; a short or
failed write (disk full) is cut back to the file's previous length before the error is raised,
so a failed append never leaves half a record. Should even that fail, the trail has a *damaged
tail* (an incomplete or unreadable last line): normal appends refuse it, while the emergency
paths (``overrides clear`` and ``rollback``) call :meth:`AuditTrail.repair_tail`, which moves
the damaged bytes aside to ``audit.jsonl.damaged-<time>`` (kept as evidence, and reported by
``verify`` until an operator archives it elsewhere), cuts the trail back to its last good
record and records the repair in the chain.

The write-ahead order (audit first, then the file) is what makes recovery simple; see
``promotion/writer.py``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from peaktrade_daemon.audit_records import (
    GENESIS,
    RecordError,
    aborted_writes,
    canonical_line,
    changes_since,
    line_hash,
    parse_record,
    recorded_values,
)
from peaktrade_daemon.errors import AuditError, DataError
from peaktrade_daemon.promotion.file_check import check_file
from peaktrade_daemon.storage.atomic import atomic_write_bytes, atomic_write_text, sidecar_lock
from peaktrade_daemon.storage.untrusted import MAX_TRAIL_BYTES, open_untrusted, read_untrusted

logger = logging.getLogger(__name__)

_BLOCK = 65536
DAMAGED_MARK = ".damaged-"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes; a missing file hashes like an empty one (no overrides)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return hashlib.sha256(b"").hexdigest()


def _decoded(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditError(f"{where}: not UTF-8 text ({exc})") from exc


def _record(line: str, where: str) -> dict[str, Any]:
    try:
        return parse_record(line, where)
    except RecordError as exc:
        raise AuditError(str(exc)) from exc


def _good(raw: bytes) -> bool:
    """A complete line that is an audit record (valid UTF-8 JSON object with an int seq)."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and isinstance(record.get("seq"), int)


@dataclass(frozen=True, slots=True)
class DamagedTail:
    """Bytes at the end of the trail that are not complete records: ``good_length`` bytes of
    good records come first."""

    good_length: int
    size: int
    reason: str


@dataclass(slots=True)
class AuditReport:
    """Result of :meth:`AuditTrail.verify`: ``ok`` unless ``problems``; ``notes`` are benign."""

    records: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain, the anchor and (if checked) auto.toml agree."""
        return not self.problems


@dataclass(frozen=True, slots=True)
class LastWrite:
    """The last effective write of auto.toml, as the trail recorded it."""

    #: SHA-256 of the file it replaced (what the backup it made hashes to).
    file_sha256_before: str
    #: It resolved a hand edit (adopt, clear): the file it replaced, and so the backup, is the
    #: hand-edited one, evidence of the edit and no state the governance passed.
    resolved_hand_edit: bool


class RecordedValues(Mapping[str, list[Any]]):
    """Per key, the values the trail recorded (:func:`~peaktrade_daemon.audit_records.recorded_values`),
    read from the trail on first use: the gate asks only for a change larger than one step."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail
        self._values: dict[str, list[Any]] | None = None

    def _load(self) -> dict[str, list[Any]]:
        if self._values is None:
            self._values = recorded_values(self._trail.records())
        return self._values

    def __getitem__(self, key: str) -> list[Any]:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


class AuditTrail:
    """Appends to and verifies ``reports/promotion_audit/audit.jsonl``.

    Appends take the audit's own sidecar lock; writers of auto.toml take auto.toml's lock first
    and then this one (always in that order, so the two never deadlock).
    """

    def __init__(
        self, path: Path, *, anchor_path: Path | None = None, lock_timeout_s: float = 30.0
    ) -> None:
        self.path = Path(path)
        #: Outside reports/ in a root (``state/audit.anchor``); beside the trail by default.
        self.anchor_path = anchor_path or self.path.with_name(self.path.name + ".anchor")
        self.lock_timeout_s = lock_timeout_s

    # -- reading -----------------------------------------------------------------------------

    def _open(self) -> BinaryIO:
        """The trail for reading: a regular file (anything that can write reports/ could put a
        named pipe there, which a plain open would wait on forever)."""
        try:
            return open_untrusted(self.path)
        except DataError as exc:
            raise AuditError(f"audit trail unreadable: {exc}") from None

    def _read(self) -> bytes:
        """The trail's bytes: a regular file of at most ``MAX_TRAIL_BYTES``."""
        try:
            return read_untrusted(self.path, MAX_TRAIL_BYTES)
        except DataError as exc:
            raise AuditError(f"audit trail unreadable: {exc}") from None

    def _reversed_lines(self) -> Iterator[bytes]:
        """Lines from the end of the file backwards (cheap: reads blocks from the end); the
        first yielded may be an incomplete last line."""
        try:
            handle = self._open()
        except FileNotFoundError:
            return
        with handle:
            handle.seek(0, os.SEEK_END)
            position = handle.tell()
            tail = b""
            while position > 0:
                size = min(_BLOCK, position)
                position -= size
                handle.seek(position)
                chunk = handle.read(size) + tail
                parts = chunk.split(b"\n")
                tail = parts[0]
                for raw in reversed(parts[1:]):
                    if raw.strip():
                        yield raw
            if tail.strip():
                yield tail

    def damaged_tail(self) -> DamagedTail | None:
        """The damaged tail, if the trail has one (see the module docstring): torn or unreadable
        last lines, then records the anchor does not vouch for. A sound trail costs one small
        read of its end and of the anchor.

        Read without the trail's lock, another process's append in progress looks exactly like
        a torn last line (its anchor already vouches for the end it is writing): damage seen so
        is confirmed under the lock, once that append has finished, and only then reported."""
        if self._damaged_tail() is None:
            return None
        with sidecar_lock(self.path, timeout_s=self.lock_timeout_s):
            return self._damaged_tail()

    def _damaged_tail(self) -> DamagedTail | None:
        """:meth:`damaged_tail` as read now: holding the lock, or as a first look."""
        torn = self._torn_tail()
        if torn is None and self._anchored():
            return None
        try:
            data = self._read()
        except FileNotFoundError:
            data = b""
        end = torn.good_length if torn is not None else len(data)
        unanchored = self._unanchored(data[:end])
        if unanchored is None:
            return torn
        good, reason = unanchored
        reasons = [torn.reason, reason] if torn is not None else [reason]
        return DamagedTail(good, len(data), "; ".join(reasons))

    def _torn_tail(self) -> DamagedTail | None:
        """Bytes after the last complete good record (reads blocks from the end)."""
        try:
            handle = self._open()
        except FileNotFoundError:
            return None
        with handle:
            size = handle.seek(0, os.SEEK_END)
            position, buffer = size, b""
            good_length = None
            while good_length is None and position > 0:
                step = min(_BLOCK, position)
                position -= step
                handle.seek(position)
                buffer = handle.read(step) + buffer  # bytes [position, size)
                good_length = _last_good_end(buffer, position)
            rest = buffer[(good_length or 0) - position :]
        if not rest.strip(b"\n"):
            return None
        reason = (
            "the last line is incomplete"
            if not rest.endswith(b"\n")
            else "the last line is unreadable"
        )
        good = good_length or 0
        return DamagedTail(good, size, f"{reason} ({size - good} byte(s) after the last record)")

    def _last(self) -> tuple[int, str]:
        for raw in self._reversed_lines():
            line = _decoded(raw, str(self.path))
            try:
                return int(_record(line, str(self.path))["seq"]), line_hash(line)
            except (ValueError, KeyError, TypeError, AuditError) as exc:
                raise AuditError(
                    f"{self.path}: last record is unreadable ({exc}); run `overrides verify-audit`"
                ) from exc
        return 0, GENESIS

    def head_seq(self) -> int | None:
        """The seq the anchor names (cheap: one small file; at most one append ahead of the
        trail), or None when it is missing or unreadable (then read the records)."""
        try:
            return int(json.loads(self.anchor_path.read_text(encoding="utf-8"))["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _lines(self) -> list[str]:
        try:
            raw = self._read()
        except FileNotFoundError:
            return []
        lines = [line for line in raw.split(b"\n") if line.strip()]
        return [_decoded(line, f"{self.path}:{n}") for n, line in enumerate(lines, start=1)]

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (unparseable lines raise AuditError)."""
        return [
            _record(line, f"{self.path}:{number}")
            for number, line in enumerate(self._lines(), start=1)
        ]

    def last_file_record(self) -> dict[str, Any] | None:
        """The latest record that states what auto.toml should hold (a write, an abort, or
        release 1's change and file-state records)."""
        for raw in self._reversed_lines():
            record = _record(_decoded(raw, str(self.path)), str(self.path))
            if "file_sha256_after" in record:
                return dict(record)
        return None

    def last_write(self) -> LastWrite | None:
        """The last write that took effect (None without any): what a genuine
        ``auto.toml.backup`` hashes to, and whether that write resolved a hand edit."""
        records = self.records()
        aborted = aborted_writes(records)
        for record in reversed(records):
            if (
                record.get("write_id") is not None
                and record.get("write_id") not in aborted
                and record.get("event") not in ("write_aborted", "write_committed")
                and "file_sha256_before" in record
            ):
                resolved = any(
                    r.get("write_id") == record["write_id"] and r.get("event") == "hand_edit"
                    for r in records
                )
                return LastWrite(str(record["file_sha256_before"]), resolved)
        return None

    def recorded(self) -> RecordedValues:
        """The values recorded per key, read lazily (for the gate's step rule)."""
        return RecordedValues(self)

    # -- writing -----------------------------------------------------------------------------

    def append(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Chain and append ``records`` whole or not at all, after the anchor, fsync; returns
        them as written. Raises AuditError when the trail's tail is damaged or the write fails
        (then the trail is as it was)."""
        if not records:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sidecar_lock(self.path, timeout_s=self.lock_timeout_s):
            self._refuse_damage(self._damaged_tail())
            return self._append_unlocked(records)

    def check_appendable(self) -> None:
        """Raise AuditError when the tail is damaged (an append would refuse): lets a command
        refuse before it writes anything else (a proposal's files)."""
        self._refuse_damage(self.damaged_tail())

    def _refuse_damage(self, damage: DamagedTail | None) -> None:
        if damage is not None:
            raise AuditError(
                f"{self.path}: {damage.reason}; refusing to append (run `overrides "
                "verify-audit`; `overrides clear` and `rollback` move the damage aside)"
            )

    def _append_unlocked(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        seq, previous = self._last()
        chained: list[dict[str, Any]] = []
        lines: list[str] = []
        for record in records:
            seq += 1
            full = {**record, "seq": seq, "prev_sha256": previous}
            line = canonical_line(full)
            previous = line_hash(line)
            chained.append(full)
            lines.append(line)
        # The anchor first: an append it does not vouch for is never trusted (see the module
        # docstring). An anchor that cannot be written fails the append with nothing changed.
        last_seq, last_hash = seq - len(records), chained[0]["prev_sha256"]
        self._write_anchor(seq, previous, last_seq, last_hash)
        try:
            _append_whole(self.path, ("\n".join(lines) + "\n").encode("utf-8"))
        except AuditError:
            # The trail is as it was, which the new anchor also admits (its "before"); put the
            # old anchor back all the same, so that no later append can be taken for this one.
            with contextlib.suppress(AuditError):
                self._write_anchor(last_seq, last_hash, last_seq, last_hash)
            raise
        # Whole: the anchor now admits only this end (a trail cut back to the one before would
        # be records removed, not an interrupted append). Should this rewrite fail, the anchor
        # still vouches for the records just written.
        with contextlib.suppress(AuditError):
            self._write_anchor(seq, previous, seq, previous)
        return chained

    def _write_anchor(self, seq: int, sha256: str, prev_seq: int, prev_sha256: str) -> None:
        anchor = {"seq": seq, "sha256": sha256, "prev_seq": prev_seq, "prev_sha256": prev_sha256}
        try:
            self.anchor_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.anchor_path, json.dumps(anchor) + "\n", durable=False)
        except OSError as exc:
            raise AuditError(
                f"{self.anchor_path}: the audit anchor cannot be written ({exc}); nothing changed"
            ) from exc

    def _anchor(self) -> tuple[tuple[int, str], tuple[int, str]] | str | None:
        """The anchored (seq, hash) and the one before it; None without an anchor; a reason
        string when it is unreadable."""
        try:
            raw = json.loads(self.anchor_path.read_text(encoding="utf-8"))
            current = (int(raw["seq"]), str(raw["sha256"]))
            before = (int(raw.get("prev_seq", current[0])), str(raw.get("prev_sha256", current[1])))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return f"{self.anchor_path} is unreadable ({exc})"
        return current, before

    def _anchored(self) -> bool:
        """The trail ends where its anchor says (the cheap check: one block, one small file)."""
        anchor = self._anchor()
        last = self._last()
        if anchor is None:
            return last[0] == 0
        return not isinstance(anchor, str) and last in anchor

    def _unanchored(self, data: bytes) -> tuple[int, str] | None:
        """In ``data`` (complete records only), the length of the anchored part and why the
        rest is not, or None when it all is."""
        anchor = self._anchor()
        if isinstance(anchor, str):
            return 0, anchor
        current, before = anchor if anchor is not None else ((0, GENESIS), (0, GENESIS))
        good = 0 if before[0] == 0 else None
        good_seq = last_seq = 0
        position = 0
        while position < len(data):
            end = data.find(b"\n", position)
            end = len(data) if end < 0 else end
            raw, position = data[position:end], end + 1
            if not raw.strip():
                continue
            # A line that does not parse is the chain's problem (verify), not the anchor's.
            line = raw.decode("utf-8", errors="replace")
            try:
                seq = json.loads(line).get("seq")
            except (ValueError, RecursionError, AttributeError):
                continue
            last_seq = seq if isinstance(seq, int) else last_seq
            if (seq, line_hash(line)) in (current, before):
                good, good_seq = min(position, len(data)), int(seq)
                if (seq, line_hash(line)) == current:
                    break
            elif seq in (current[0], before[0]):
                return 0, f"record {seq} does not match the audit anchor (the trail was rewritten)"
        if good is None:
            return 0, (
                f"the trail ends at record {last_seq} but its anchor names record {current[0]} "
                "(records were removed)"
            )
        if good >= len(data.rstrip(b"\n")):
            return None
        if anchor is None:
            return 0, f"no audit anchor at {self.anchor_path} vouches for the trail"
        return good, (
            f"records after {good_seq} are not vouched for by the audit anchor {self.anchor_path} "
            "(appended or re-chained outside the writer)"
        )

    def repair_tail(self, now: datetime) -> Path | None:
        """Move a damaged tail aside (see the module docstring); returns the file it went to,
        None when the tail is sound. The repair itself is recorded in the chain."""
        with sidecar_lock(self.path, timeout_s=self.lock_timeout_s):
            damage = self._damaged_tail()
            if damage is None:
                return None
            try:
                data = self._read()
            except FileNotFoundError:
                data = b""
            stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
            aside = self.path.with_name(f"{self.path.name}{DAMAGED_MARK}{stamp}")
            atomic_write_bytes(aside, data[damage.good_length :])
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, damage.good_length)
                os.fsync(fd)
            finally:
                os.close(fd)
            record = {
                "time": now.isoformat(),
                "event": "tail_repaired",
                "actor": "writer",
                "mode": "-",
                "proposal_id": None,
                "moved_to": aside.name,
                "bytes": damage.size - damage.good_length,
                "sha256": hashlib.sha256(data[damage.good_length :]).hexdigest(),
                "reasons": [damage.reason],
            }
            self._append_unlocked([record])
            return aside

    # -- verifying ---------------------------------------------------------------------------

    def damaged_files(self) -> list[Path]:
        """Damaged tails moved aside and not yet archived by an operator."""
        if not self.path.parent.is_dir():
            return []
        return sorted(self.path.parent.glob(f"{self.path.name}{DAMAGED_MARK}*"))

    def verify(
        self, overrides_path: Path | None = None, *, include_aside: bool = True
    ) -> AuditReport:
        """Check the chain, the anchor, damage and, given ``overrides_path``, that auto.toml's
        content matches the trail's last recorded state (or the state before an interrupted
        write). ``include_aside=False`` leaves out the damaged tails already moved aside (the
        emergency paths need the chain, not the operator's archiving)."""
        report = AuditReport()
        for aside in self.damaged_files() if include_aside else []:
            report.problems.append(
                f"{aside}: a damaged trail tail was moved aside here; inspect it, then archive "
                "it outside this directory"
            )
        damage = self.damaged_tail()
        if damage is not None:
            report.problems.append(f"{self.path}: {damage.reason}")
        previous = GENESIS
        try:
            lines = self._lines()
        except AuditError as exc:  # a line that is not UTF-8: nothing after it can be trusted
            report.problems.append(str(exc))
            return report
        records: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            report.records += 1
            try:
                record = _record(line, f"line {number}")
            except AuditError as exc:
                report.problems.append(str(exc))
                previous = line_hash(line)
                continue
            if record.get("seq") != number:
                report.problems.append(
                    f"line {number}: seq {record.get('seq')!r}, expected {number}"
                )
            if record.get("prev_sha256") != previous:
                report.problems.append(
                    f"line {number}: prev_sha256 does not match line {number - 1} "
                    "(a record was edited, inserted or removed)"
                )
            previous = line_hash(line)
            records.append(record)
        if overrides_path is not None:
            problem, note = check_file(overrides_path, records)
            if problem is not None:
                report.problems.append(problem)
            if note is not None:
                report.notes.append(note)
        return report


def _last_good_end(buffer: bytes, position: int) -> int | None:
    """The file offset just past the last complete good record inside ``buffer`` (the bytes
    from file offset ``position`` on), None when there is none whose start is inside it."""
    end = len(buffer)
    while True:
        newline = buffer.rfind(b"\n", 0, end)
        if newline < 0:
            return None
        start = buffer.rfind(b"\n", 0, newline) + 1
        if start == 0 and position > 0:
            return None  # the line may begin before this buffer: read more first
        if _good(buffer[start:newline]):
            return position + newline + 1
        if start == 0:
            return None
        end = start  # the next candidate ends at the newline just before this line


def _append_whole(path: Path, payload: bytes) -> None:
    """Append ``payload`` and fsync, or leave the file as it was and raise AuditError."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.ENOSPC, "no progress writing the audit trail")
                view = view[written:]
            os.fsync(fd)
        except OSError as exc:
            # Cut back to the records that were there: a half record must never stay. If even
            # that fails, the damaged tail is found by the next append and by verify.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
                os.fsync(fd)
            raise AuditError(f"{path}: audit append failed ({exc}); nothing changed") from exc
    finally:
        os.close(fd)


__all__ = [
    "AuditReport",
    "AuditTrail",
    "DamagedTail",
    "LastWrite",
    "RecordedValues",
    "changes_since",
    "file_sha256",
]
