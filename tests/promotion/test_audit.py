"""The hash-chained audit trail: verification, tamper detection, the anchor, file consistency."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from peaktrade_daemon.audit_records import GENESIS, canonical_line, line_hash
from peaktrade_daemon.governance.plans import plan_restore
from peaktrade_daemon.promotion import audit as audit_module
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.writer import OverridesWriter
from tests.conftest import cli_command, subprocess_env
from tests.promotion.conftest import T0, root_trail, write


def _trail(tmp_path: Path, n: int = 5) -> AuditTrail:
    audit = AuditTrail(tmp_path / "audit.jsonl")
    for i in range(n):
        audit.append(
            [{"event": "verdict", "key": f"k{i}", "time": T0.isoformat(), "reasons": ["r"]}]
        )
    return audit


def test_chain_links_every_record_to_the_previous_line(tmp_path: Path) -> None:
    audit = _trail(tmp_path)
    lines = audit.path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev_sha256"] == GENESIS
    for previous, record in zip(lines, records[1:], strict=False):
        assert record["prev_sha256"] == line_hash(previous)
    assert all(canonical_line(r) == line for r, line in zip(records, lines, strict=True))
    assert audit.verify().ok


def _edit(path: Path, index: int, change) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[index])
    change(record)
    lines[index] = canonical_line(record)
    path.write_text("\n".join(lines) + "\n")


def test_edited_middle_line_is_detected(tmp_path: Path) -> None:
    audit = _trail(tmp_path)
    _edit(audit.path, 2, lambda r: r.update(key="forged"))
    report = audit.verify()
    assert not report.ok and "line 4" in report.problems[0]


def test_edited_last_line_is_detected_through_the_anchor(tmp_path: Path) -> None:
    audit = _trail(tmp_path)
    _edit(audit.path, 4, lambda r: r.update(reasons=["forged"]))
    report = audit.verify()
    assert not report.ok and "does not match the audit anchor" in " ".join(report.problems)


def test_removed_last_line_is_detected(tmp_path: Path) -> None:
    audit = _trail(tmp_path)
    lines = audit.path.read_text().splitlines()
    audit.path.write_text("\n".join(lines[:-1]) + "\n")
    assert not audit.verify().ok


def test_removed_middle_line_is_detected(tmp_path: Path) -> None:
    audit = _trail(tmp_path)
    lines = audit.path.read_text().splitlines()
    audit.path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert not audit.verify().ok


def _forge_append(audit: AuditTrail, record: dict) -> None:
    """Append a record chained as the writer would, without the writer (its anchor untouched)."""
    last = audit.path.read_text().splitlines()[-1]
    full = {**record, "seq": json.loads(last)["seq"] + 1, "prev_sha256": line_hash(last)}
    with audit.path.open("a") as handle:
        handle.write(canonical_line(full) + "\n")


def test_an_append_interrupted_after_its_anchor_leaves_a_sound_trail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = _trail(tmp_path, 3)
    before = audit.path.read_bytes()

    def killed(path: Path, payload: bytes) -> None:
        raise KeyboardInterrupt  # as if killed after the anchor, before the records

    monkeypatch.setattr(audit_module, "_append_whole", killed)
    with pytest.raises(KeyboardInterrupt):
        audit.append([{"event": "verdict", "key": "late"}])
    monkeypatch.undo()
    assert json.loads(audit.anchor_path.read_text())["seq"] == 4
    assert audit.path.read_bytes() == before
    assert audit.verify().ok and audit.damaged_tail() is None
    audit.append([{"event": "verdict", "key": "next"}])
    assert [r["key"] for r in audit.records()][-1] == "next" and audit.verify().ok


def test_records_appended_outside_the_writer_are_a_damaged_tail(tmp_path: Path) -> None:
    """The chain alone would verify them: the anchor, outside the attacker's reach, does not."""
    from datetime import UTC, datetime

    from peaktrade_daemon.errors import AuditError

    audit = _trail(tmp_path, 3)
    anchored = audit.path.read_bytes()
    _forge_append(audit, {"event": "change", "key": "k", "before": 50.0, "after": 1.0})
    report = audit.verify()
    assert not report.ok
    assert "records after 3 are not vouched for by the audit anchor" in report.problems[0]
    with pytest.raises(AuditError, match="not vouched for"):
        audit.append([{"event": "verdict", "key": "x"}])
    aside = audit.repair_tail(datetime(2026, 12, 7, tzinfo=UTC))
    assert aside is not None and b'"before":50.0' in aside.read_bytes()
    assert audit.path.read_bytes().startswith(anchored)
    assert [r["event"] for r in audit.records()][-1] == "tail_repaired"
    assert audit.verify(include_aside=False).ok


def test_a_rechained_trail_or_a_missing_anchor_is_damaged(tmp_path: Path) -> None:
    audit = _trail(tmp_path, 3)
    lines = [json.loads(line) for line in audit.path.read_text().splitlines()]
    previous, out = GENESIS, []
    for record in lines:
        record.update(prev_sha256=previous, reasons=["forged"])
        out.append(canonical_line(record))
        previous = line_hash(out[-1])
    audit.path.write_text("\n".join(out) + "\n")  # a consistent chain, every line changed
    assert "the trail was rewritten" in " ".join(audit.verify().problems)
    audit.anchor_path.unlink()
    assert "no audit anchor" in " ".join(audit.verify().problems)


def test_verify_audit_cli_exits_1_on_an_edited_line(project_root: Path) -> None:
    auto = project_root / "config/live_overrides/auto.toml"
    audit = root_trail(project_root)
    writer = OverridesWriter(auto, audit)
    for value in (1.25, 1.5):
        write(writer, plan_restore({"portfolio.leverage": value}, "alice", "test"))
    run = lambda: subprocess.run(  # noqa: E731
        cli_command("--root", str(project_root), "overrides", "verify-audit"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    _edit(
        audit.path,
        1,
        lambda r: r.update(after=9.0) if r.get("event") == "change" else r.update(actor="x"),
    )
    bad = run()
    assert bad.returncode == 1
    assert "PROBLEM" in bad.stdout


def test_file_not_matching_the_trail_is_a_problem(tmp_path: Path) -> None:
    auto = tmp_path / "auto.toml"
    audit = AuditTrail(tmp_path / "audit.jsonl")
    writer = OverridesWriter(auto, audit)
    write(writer, plan_restore({"portfolio.leverage": 1.25}, "op", "t"))
    assert audit.verify(auto).ok
    auto.write_text(auto.read_text().replace("1.25", "1.5"))
    assert not audit.verify(auto).ok
    auto.write_text(auto.read_text().replace("1.5", "1.25") + "# a comment is not content\n")
    assert audit.verify(auto).ok


def test_an_anchor_that_cannot_be_written_fails_the_append_with_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from peaktrade_daemon.errors import AuditError

    audit = _trail(tmp_path, 2)
    before, anchor = audit.path.read_bytes(), audit.anchor_path.read_bytes()

    def full(path: object, text: str, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_module, "atomic_write_text", full)
    with pytest.raises(AuditError, match="anchor cannot be written"):
        audit.append([{"event": "verdict", "key": "x"}])
    monkeypatch.undo()
    assert audit.path.read_bytes() == before and audit.anchor_path.read_bytes() == anchor
    assert audit.verify().ok


def test_an_append_in_progress_elsewhere_is_not_taken_for_a_torn_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in CI (tests/promotion/test_multiprocess.py, eight promoting processes): from
    outside the trail's lock, another process's append half written looks exactly like a torn
    last line. ``run_promotion``'s early ``check_appendable`` and the writer's reconcile read the
    tail without the lock and refused ("the last line is incomplete"), or an emergency path
    would have moved a sound append aside. Damage seen without the lock is now confirmed under
    it, after the append in progress has finished."""
    audit = _trail(tmp_path, n=2)
    halfway, resume = threading.Event(), threading.Event()
    whole = audit_module._append_whole

    def slow_append(path: Path, payload: bytes) -> None:
        with path.open("ab") as handle:  # the first half, then the writer is "descheduled"
            handle.write(payload[: len(payload) // 2])
        halfway.set()
        assert resume.wait(10)
        with path.open("rb+") as handle:
            handle.truncate(len(path.read_bytes()) - len(payload) // 2)
        whole(path, payload)

    monkeypatch.setattr(audit_module, "_append_whole", slow_append)
    writer = threading.Thread(target=audit.append, args=([{"event": "x", "n": 99}],))
    writer.start()
    try:
        assert halfway.wait(10)
        reader = AuditTrail(audit.path, anchor_path=audit.anchor_path)
        results: list[object] = []
        checker = threading.Thread(
            target=lambda: results.append(reader.damaged_tail() or reader.check_appendable())
        )
        checker.start()
        checker.join(0.3)
        assert checker.is_alive(), "decided while the append was still in progress"
        resume.set()
        checker.join(10)
        assert results == [None]
    finally:
        resume.set()
        writer.join(10)
    last = AuditTrail(audit.path, anchor_path=audit.anchor_path).records()[-1]
    assert last["n"] == 99 and last["seq"] == 3
