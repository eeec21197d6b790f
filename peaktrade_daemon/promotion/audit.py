"""The promotion audit trail (§8.4): append-only, hash-chained JSON lines.

Every record is one line of canonical JSON (sorted keys, no spaces) with a sequence number
``seq`` (1, 2, 3 ...) and ``prev_sha256``, the SHA-256 of the previous line's exact bytes (64
zeros for the first). Changing, inserting or deleting any line breaks the chain at the next one.
The last line has no successor to vouch for it, so a sidecar ``audit.jsonl.head`` holds the seq
and hash of the last record; it is rewritten atomically after every append. A head that lags the
file by records (a writer killed between the append and the head update) leaves those records
covered by the chain only, which ``verify`` reports as a note, not as tampering.

Record events:

* ``verdict``: the policy's verdict for one candidate;
* ``change``: one key changed in auto.toml (``key``, ``before``, ``after``; ``null`` means the
  key is absent). The records of one file write share a ``write_id`` and carry the SHA-256 of
  auto.toml before and after that write (``file_sha256_before`` / ``file_sha256_after``);
* ``write_aborted``: a write whose change records were appended but whose file replace never
  happened (writer killed in between); found and recorded by the next writer;
* ``file_state``: auto.toml held content no recorded write produced (first write, hand edit);
* ``freeze`` / ``unfreeze``: the rollback guard froze a key, an operator cleared it.

Every record of one file write carries ``write_id`` and the file hashes, so "the last record with
``file_sha256_after``" always says what auto.toml should hold now.

The write-ahead order (audit first, then the file) is what makes recovery simple; see
``promotion/writer.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peaktrade_daemon.errors import AuditError
from peaktrade_daemon.storage.atomic import atomic_write_text, sidecar_lock

GENESIS = "0" * 64
_BLOCK = 65536


def canonical_line(record: Mapping[str, Any]) -> str:
    """The one serialisation hashed and written: sorted keys, compact, UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def line_hash(line: str) -> str:
    """SHA-256 hex of one record line (without its newline)."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes; a missing file hashes like an empty one (no overrides)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return hashlib.sha256(b"").hexdigest()


def parse_record(line: str, where: str) -> dict[str, Any]:
    """One audit line as a JSON object, or AuditError naming ``where`` (file:line)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # not JSON, 5000 digits, deep nesting
        raise AuditError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise AuditError(f"{where}: not a JSON object")
    return record


def _decoded(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditError(f"{where}: not UTF-8 text ({exc})") from exc


def _reversed_lines(path: Path) -> Iterator[str]:
    """Complete lines from the end of the file backwards (cheap: reads blocks from the end)."""
    try:
        handle = path.open("rb")
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
                    yield _decoded(raw, str(path))
        if tail.strip():
            yield _decoded(tail, str(path))


@dataclass(slots=True)
class AuditReport:
    """Result of :meth:`AuditTrail.verify`: ``ok`` unless ``problems``; ``notes`` are benign."""

    records: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain, the head and (if checked) auto.toml agree."""
        return not self.problems


class AuditTrail:
    """Appends to and verifies ``reports/promotion_audit/audit.jsonl``.

    Appends take the audit's own sidecar lock; writers of auto.toml take auto.toml's lock first
    and then this one (always in that order, so the two never deadlock).
    """

    def __init__(self, path: Path, *, lock_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.lock_timeout_s = lock_timeout_s

    def _last(self) -> tuple[int, str]:
        for line in _reversed_lines(self.path):
            try:
                return int(parse_record(line, str(self.path))["seq"]), line_hash(line)
            except (ValueError, KeyError, TypeError, AuditError) as exc:
                raise AuditError(
                    f"{self.path}: last record is unreadable ({exc}); run `overrides verify-audit`"
                ) from exc
        return 0, GENESIS

    def append(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Chain and append ``records`` in one write, fsync, update the head; returns them."""
        if not records:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sidecar_lock(self.path, timeout_s=self.lock_timeout_s):
            if self.path.exists() and self.path.stat().st_size:
                with self.path.open("rb") as handle:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        raise AuditError(
                            f"{self.path}: last line is incomplete; refusing to append "
                            "(run `overrides verify-audit` and repair the trail)"
                        )
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
            payload = ("\n".join(lines) + "\n").encode("utf-8")
            # One write() of the whole batch with O_APPEND: a killed writer leaves all or none.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            atomic_write_text(self.head_path, json.dumps({"seq": seq, "sha256": previous}) + "\n")
        return chained

    def head_seq(self) -> int | None:
        """The seq the head file names (cheap: one small file), or None when it is missing or
        unreadable (then read the records)."""
        try:
            return int(json.loads(self.head_path.read_text(encoding="utf-8"))["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (unparseable lines raise AuditError)."""
        return [
            parse_record(line, f"{self.path}:{number}")
            for number, line in enumerate(self._lines(), start=1)
        ]

    def _lines(self) -> list[str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        lines = [line for line in raw.split(b"\n") if line.strip()]
        return [_decoded(line, f"{self.path}:{n}") for n, line in enumerate(lines, start=1)]

    def last_file_record(self) -> dict[str, Any] | None:
        """The latest record that states what auto.toml should hold (change, abort, file state)."""
        for line in _reversed_lines(self.path):
            record = parse_record(line, str(self.path))
            if "file_sha256_after" in record:
                return dict(record)
        return None

    def verify(self, overrides_path: Path | None = None) -> AuditReport:
        """Check the chain, the head and, given ``overrides_path``, that auto.toml matches the
        trail's last file state (or is the state before an interrupted write)."""
        report = AuditReport()
        previous = GENESIS
        last_file: dict[str, Any] | None = None
        hashes: dict[int, str] = {}
        try:
            lines = self._lines()
        except AuditError as exc:  # a line that is not UTF-8: nothing after it can be trusted
            report.problems.append(str(exc))
            return report
        for number, line in enumerate(lines, start=1):
            report.records += 1
            try:
                record = parse_record(line, f"line {number}")
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
            hashes[number] = previous
            if isinstance(record, dict) and "file_sha256_after" in record:
                last_file = record
        self._verify_head(report, hashes)
        if overrides_path is not None:
            self._verify_file(report, overrides_path, last_file)
        return report

    def _verify_head(self, report: AuditReport, hashes: Mapping[int, str]) -> None:
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            seq, digest = int(head["seq"]), str(head["sha256"])
        except FileNotFoundError:
            if hashes:
                report.problems.append(f"{self.head_path} is missing")
            return
        except (ValueError, KeyError, TypeError) as exc:
            report.problems.append(f"{self.head_path} is unreadable ({exc})")
            return
        if seq > len(hashes):
            report.problems.append(
                f"head names record {seq} but the trail has {len(hashes)} (records were removed)"
            )
        elif seq and hashes.get(seq) != digest:
            report.problems.append(f"record {seq} does not match the head hash (it was edited)")
        elif seq < len(hashes):
            report.notes.append(
                f"records {seq + 1}..{len(hashes)} are after the head (interrupted append?); "
                "the chain covers them"
            )

    @staticmethod
    def _verify_file(report: AuditReport, path: Path, last: Mapping[str, Any] | None) -> None:
        actual = file_sha256(path)
        if last is None:
            report.notes.append(f"{path}: no recorded write yet")
            return
        if actual == last["file_sha256_after"]:
            return
        if actual == last.get("file_sha256_before"):
            report.notes.append(
                f"{path}: write {last.get('write_id')} was interrupted before the file was "
                "replaced; the next write records it as aborted"
            )
            return
        report.problems.append(
            f"{path}: content (sha256 {actual[:12]}) matches no recorded write; "
            "edited outside the promotion writer?"
        )


def changes_since(records: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The ``change`` records whose write took effect (aborted writes are left out)."""
    aborted = {r.get("write_id") for r in records if r.get("event") == "write_aborted"}
    for record in records:
        if record.get("event") == "change" and record.get("write_id") not in aborted:
            yield record
