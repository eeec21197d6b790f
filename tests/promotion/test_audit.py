"""The hash-chained audit trail: verification, tamper detection, the head, file consistency."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from peaktrade_daemon.audit_records import GENESIS, canonical_line, line_hash
from peaktrade_daemon.governance.plans import plan_restore
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.writer import OverridesWriter
from tests.conftest import cli_command, subprocess_env
from tests.promotion.conftest import T0, write


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


def test_edited_last_line_is_detected_through_the_head(tmp_path: Path) -> None:
    audit = _trail(tmp_path)
    _edit(audit.path, 4, lambda r: r.update(reasons=["forged"]))
    report = audit.verify()
    assert not report.ok and "head" in " ".join(report.problems)


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


def test_head_lagging_after_an_interrupted_append_is_a_note(tmp_path: Path) -> None:
    audit = _trail(tmp_path, 3)
    head = audit.head_path.read_text()
    audit.append([{"event": "verdict", "key": "late"}])
    audit.head_path.write_text(head)  # as if killed between the append and the head update
    report = audit.verify()
    assert report.ok and report.notes


def test_verify_audit_cli_exits_1_on_an_edited_line(project_root: Path) -> None:
    auto = project_root / "config/live_overrides/auto.toml"
    audit = AuditTrail(project_root / "reports/promotion_audit/audit.jsonl")
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
