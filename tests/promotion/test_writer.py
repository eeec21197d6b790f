"""The only writer of auto.toml: lock, gate, backup, atomic replace, verify, refusal, recovery."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from peaktrade_daemon.audit_records import changes_since
from peaktrade_daemon.errors import (
    AuditError,
    GateRefusal,
    HandEditRefusal,
    StateError,
    UnparseableFileError,
)
from peaktrade_daemon.governance.plans import (
    WriteKind,
    WritePlan,
    plan_adopt,
    plan_guard_revert,
    plan_restore,
    plan_rollback,
    plan_unfreeze,
)
from peaktrade_daemon.promotion.audit import file_sha256
from peaktrade_daemon.promotion.file_check import recorded_table
from peaktrade_daemon.promotion.writer import OverridesWriter
from tests.promotion.conftest import T0, fresh_writer, shipped_gate, write

FRESH = "# operator note: keep me\n[auto_applied]\n"


@pytest.fixture
def writer(tmp_path: Path) -> OverridesWriter:
    return fresh_writer(tmp_path, FRESH)


def _set(writer: OverridesWriter, values: dict, now=T0, actor="alice", kind=WriteKind.ADVANCE):
    return write(writer, plan_restore(values, actor, "test"), kind=kind, actor=actor, now=now)


def _steps(writer: OverridesWriter, *values: dict) -> None:
    for i, target in enumerate(values):
        _set(writer, target, now=T0 + timedelta(minutes=i))


def test_write_keeps_comments_backs_up_and_records(writer: OverridesWriter) -> None:
    writer.path.write_text(FRESH + "# trailing comment\n")  # comments are not content
    before = writer.path.read_bytes()
    result = _set(writer, {"portfolio.leverage": 1.25, "macro.regime_weight": 0.35})
    text = writer.path.read_text()
    assert "# operator note: keep me" in text and "# trailing comment" in text
    assert '"macro.regime_weight" = 0.35' in text
    assert writer.path.with_name("auto.toml.backup").read_bytes() == before
    changes = [r for r in result.records if r["event"] == "change"]
    assert {(r["key"], r["before"], r["after"]) for r in changes} == {
        ("portfolio.leverage", None, 1.25),
        ("macro.regime_weight", None, 0.35),
    }
    assert changes[0]["file_sha256_after"] == file_sha256(writer.path)
    assert {r["kind"] for r in result.records} == {"advance"}
    assert writer.audit.verify(writer.path).ok


def test_nothing_to_change_writes_nothing(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    backup = writer.path.with_name("auto.toml.backup").read_bytes()
    stat = writer.path.stat()
    result = write(writer, lambda state: WritePlan())
    assert not result.written
    assert writer.path.stat().st_mtime_ns == stat.st_mtime_ns
    assert writer.path.with_name("auto.toml.backup").read_bytes() == backup


def test_unparseable_file_is_refused_and_left_untouched(writer: OverridesWriter) -> None:
    writer.path.write_text('[auto_applied]\n"portfolio.leverage" = = 2\n')
    broken = writer.path.read_bytes()
    with pytest.raises(UnparseableFileError):
        _set(writer, {"portfolio.leverage": 1.25})
    assert writer.path.read_bytes() == broken
    assert not writer.path.with_name("auto.toml.backup").exists()


def test_unquoted_dotted_keys_are_the_same_content_and_normalised(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    writer.path.write_text("[auto_applied]\nportfolio.leverage = 1.25\n" + _governance(writer))
    assert writer.check().status == "match"  # formatting is not content
    _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(hours=2))
    assert tomllib.loads(writer.path.read_text())["auto_applied"] == {"portfolio.leverage": 1.5}


def _governance(writer: OverridesWriter) -> str:
    text = writer.path.read_text()
    return text[text.index("[governance]") :]


def test_interrupted_write_is_recorded_as_aborted_by_the_next_writer(
    writer: OverridesWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer stopped after its audit append and before the replace (the real kill -9 is in
    test_multiprocess.py)."""
    _set(writer, {"portfolio.leverage": 1.25})
    real_replace = os.replace

    def killed(src: str, dst: str) -> None:
        if Path(dst) == writer.path:
            raise KeyboardInterrupt  # the process "dies" here
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(minutes=1))
    monkeypatch.setattr(os, "replace", real_replace)
    report = writer.audit.verify(writer.path)
    assert report.ok and any("interrupted" in n for n in report.notes)
    _set(writer, {"portfolio.leverage": 1.45}, now=T0 + timedelta(minutes=2))
    records = writer.audit.records()
    assert len([r for r in records if r["event"] == "write_aborted"]) == 1
    assert writer.audit.verify(writer.path).ok
    assert recorded_table(records) == {"portfolio.leverage": 1.45}
    assert [r["after"] for r in changes_since(records)] == [1.25, 1.45]


def test_the_old_file_put_back_is_a_hand_edit_not_an_interrupted_write(
    writer: OverridesWriter,
) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    old = writer.path.read_bytes()
    _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(hours=2))
    writer.path.write_bytes(old)
    assert writer.check().status == "hand_edit"
    with pytest.raises(HandEditRefusal):
        _set(writer, {"portfolio.leverage": 1.75}, now=T0 + timedelta(hours=4))


def test_a_kept_document_never_hides_a_hand_edit(writer: OverridesWriter) -> None:
    # A transaction with nothing to write keeps the document it parsed for the next one: that
    # must hold only while the file has the same bytes (an edit of equal length included).
    _set(writer, {"portfolio.leverage": 1.25})
    assert not write(writer, lambda state: WritePlan()).written
    writer.path.write_text(writer.path.read_text().replace("1.25", "1.35"))
    with pytest.raises(HandEditRefusal) as refused:
        _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(hours=2))
    assert refused.value.differences == ("portfolio.leverage: recorded 1.25, file 1.35",)
    assert writer.read().values == {"portfolio.leverage": 1.35}


def test_hand_edit_refuses_every_governed_write_and_names_the_key(
    writer: OverridesWriter,
) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    writer.path.write_text(writer.path.read_text().replace("1.25", "1.3"))
    edited = writer.path.read_bytes()
    trail = writer.audit.path.read_bytes()
    for kind in (WriteKind.ADVANCE, WriteKind.RETREAT, WriteKind.BOOKKEEPING):
        with pytest.raises(HandEditRefusal) as refused:
            _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(hours=2), kind=kind)
        assert refused.value.differences == ("portfolio.leverage: recorded 1.25, file 1.3",)
    assert writer.path.read_bytes() == edited
    assert writer.audit.path.read_bytes() == trail
    report = writer.audit.verify(writer.path)
    assert not report.ok and "portfolio.leverage: recorded 1.25, file 1.3" in report.problems[0]


def test_adopt_records_the_file_dropping_what_the_gate_refuses(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    text = writer.path.read_text().replace("1.25", "1.9")
    writer.path.write_text(text.replace("[auto_applied]", '[auto_applied]\n"risk.stop_loss" = 0.5'))
    result = write(
        writer,
        plan_adopt(
            shipped_gate().base,
            shipped_gate().policy,
            "carol",
            recorded_table(writer.audit.records()),
        ),
        kind=WriteKind.ADOPT,
        actor="carol",
    )
    kept, dropped = result.outcome
    assert kept == {"portfolio.leverage": 1.9}
    assert [r.key for r in dropped] == ["risk.stop_loss"]
    assert writer.read().values == {"portfolio.leverage": 1.9}  # 1.25 -> 1.9: adopt has no step
    events = [r["event"] for r in result.records]
    assert events[0] == "hand_edit" and "change" in events
    assert writer.audit.verify(writer.path).ok
    _set(writer, {"portfolio.leverage": 1.75}, now=T0 + timedelta(hours=2))  # writes work again


def test_clear_resolves_a_hand_edit_and_works_without_a_policy(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    writer.path.write_text('[auto_applied]\n"portfolio.leverage" = 50.0\n')
    gate = type(shipped_gate())(base={}, policy=None)
    result = write(writer, plan_restore({}, "carol", "clear"), kind=WriteKind.CLEAR, gate=gate)
    assert result.written and writer.read().values == {}
    assert writer.audit.verify(writer.path).ok


def test_the_gate_refuses_the_whole_write_and_names_each_key(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    before, trail = writer.path.read_bytes(), writer.audit.path.read_bytes()
    with pytest.raises(GateRefusal) as refused:
        _set(
            writer,
            {
                "portfolio.leverage": 1.5,  # fine on its own
                "risk.stop_loss": 0.5,  # blacklisted
                "portfolio.fee_bps": 1.0,  # no bounds in the policy
                "macro.regime_weight": 0.8,  # 0.25 -> 0.8 is more than max_step 0.1
            },
            now=T0 + timedelta(hours=2),
        )
    assert set(refused.value.keys) == {"risk.stop_loss", "portfolio.fee_bps", "macro.regime_weight"}
    message = str(refused.value)
    assert "no bounds in the policy" in message and "MAX_STEP" in message
    assert writer.path.read_bytes() == before and writer.audit.path.read_bytes() == trail


def test_the_step_rule_allows_returns_to_recorded_values_and_toward_base(
    writer: OverridesWriter,
) -> None:
    _steps(writer, {"portfolio.leverage": 1.25}, {"portfolio.leverage": 1.5})
    _steps(writer, {"portfolio.leverage": 1.75}, {"portfolio.leverage": 2.0})
    _set(writer, {"portfolio.leverage": 1.25}, kind=WriteKind.RETREAT)  # recorded earlier
    assert writer.read().values == {"portfolio.leverage": 1.25}
    _steps(writer, {"portfolio.leverage": 1.5}, {"portfolio.leverage": 1.75})
    _set(writer, {"portfolio.leverage": 1.1}, kind=WriteKind.RETREAT)  # toward base 1.0
    with pytest.raises(GateRefusal):
        _set(writer, {"portfolio.leverage": 1.9})  # never recorded, away from base


def test_rollback_restores_exact_earlier_values(writer: OverridesWriter) -> None:
    history = [
        {"portfolio.leverage": 1.25},
        {"portfolio.leverage": 1.25, "macro.regime_weight": 0.35},
        {"portfolio.leverage": 1.5, "macro.regime_weight": 0.35},
        {"portfolio.leverage": 1.5, "macro.regime_weight": 0.45, "strategy.trigger_delay": 8.0},
    ]
    snapshots = [writer.read().values]
    for i, values in enumerate(history):
        _set(writer, values, now=T0 + timedelta(minutes=i))
        snapshots.append(writer.read().values)
    for _ in range(3):
        records = writer.audit.records()
        result = write(writer, plan_rollback(records, 1, "bob"), kind=WriteKind.RETREAT)
        assert result.written
    # history[3] changed 2 keys, history[2] 1 key, history[1] 1 key: 3 undos land on snapshot 2.
    assert writer.read().values == snapshots[2]
    write(writer, plan_rollback(writer.audit.records(), 10, "bob"), kind=WriteKind.RETREAT)
    assert writer.read().values == snapshots[0] == {}
    assert writer.audit.verify(writer.path).ok


def test_rollback_refuses_when_its_history_is_stale(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    records = writer.audit.records()
    _set(writer, {"portfolio.leverage": 1.5})
    with pytest.raises(StateError):
        # a stale history view: the last change it knows left 1.25, but the file says 1.5
        write(writer, plan_rollback(records, 1, "bob"), kind=WriteKind.RETREAT)
    assert writer.read().values["portfolio.leverage"] == 1.5


def test_guard_revert_freezes_and_unfreeze_clears(writer: OverridesWriter) -> None:
    result = _set(writer, {"portfolio.leverage": 1.25}, actor="auto")
    record = next(r for r in result.records if r["event"] == "change")
    revert = write(
        writer,
        plan_guard_revert(record, ["drawdown up"]),
        kind=WriteKind.RETREAT,
        actor="rollback-guard",
    )
    assert revert.outcome is None
    state = writer.read()
    assert state.values == {}
    assert state.frozen == {"portfolio.leverage": "drawdown up"}
    events = [
        (r["event"], r["actor"])
        for r in writer.audit.records()
        if r["event"] in ("change", "freeze")
    ]
    assert events[-2:] == [("change", "rollback-guard"), ("freeze", "rollback-guard")]
    write(writer, plan_unfreeze("portfolio.leverage"), kind=WriteKind.BOOKKEEPING, actor="carol")
    assert writer.read().frozen == {}
    # Removing the freeze by hand is a hand edit too (bookkeeping is content).
    write(writer, plan_guard_revert(record, ["again"]), kind=WriteKind.RETREAT)
    writer.path.write_text(writer.path.read_text().replace('"portfolio.leverage" = "again"', ""))
    assert writer.check().status == "hand_edit"


def test_audit_records_carry_the_provenance_fields(writer: OverridesWriter) -> None:
    from peaktrade_daemon.config.provenance import last_live_changes

    _set(writer, {"portfolio.leverage": 1.25}, actor="auto")
    changes = last_live_changes(writer.audit.path)
    assert changes["portfolio.leverage"].actor == "auto"
    assert changes["portfolio.leverage"].time == T0.isoformat()
    lines = [json.loads(x) for x in writer.audit.path.read_text().splitlines()]
    line = next(r for r in reversed(lines) if r["event"] == "change")
    assert lines[-1]["event"] == "write_committed"
    assert {
        "event",
        "key",
        "proposal_id",
        "time",
        "actor",
        "before",
        "after",
        "mode",
        "reasons",
        "prev_sha256",
        "content_sha256_after",
    } <= set(line)
    assert len(line["prev_sha256"]) == len(hashlib.sha256().hexdigest())


def test_a_damaged_trail_tail_refuses_advances_but_not_the_emergency_paths(
    writer: OverridesWriter,
) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    with writer.audit.path.open("ab") as handle:
        handle.write(b'{"seq": 99, "half a rec')  # a short write
    with pytest.raises(AuditError):
        _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(hours=2))
    result = write(writer, plan_restore({}, "carol", "clear"), kind=WriteKind.CLEAR)
    assert result.written and result.repaired is not None
    assert result.repaired.read_bytes() == b'{"seq": 99, "half a rec'
    assert writer.read().values == {}
    report = writer.audit.verify(writer.path)
    assert [p for p in report.problems if "moved aside" in p]  # reported until archived
    assert writer.audit.verify(writer.path, include_aside=False).ok
    assert any(r["event"] == "tail_repaired" for r in writer.audit.records())


def test_a_short_audit_append_aborts_the_change_and_clear_still_works(
    writer: OverridesWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full in the middle of the audit append: the trail is cut back, auto.toml is
    untouched, and the killswitch still works once space is back."""
    _set(writer, {"portfolio.leverage": 1.25})
    before, trail = writer.path.read_bytes(), writer.audit.path.read_bytes()
    real_write = os.write
    calls: list[int] = []

    def disk_full(fd: int, data: bytes | memoryview) -> int:
        if os.fstat(fd).st_ino == os.stat(writer.audit.path).st_ino:
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd, bytes(data)[: len(data) // 2])  # a short write
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(AuditError, match="nothing changed"):
        _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(hours=2))
    monkeypatch.setattr(os, "write", real_write)
    assert calls and writer.path.read_bytes() == before
    assert writer.audit.path.read_bytes() == trail  # the half record was cut back
    assert writer.audit.verify(writer.path).ok
    write(writer, plan_restore({}, "carol", "clear"), kind=WriteKind.CLEAR)
    assert writer.read().values == {} and writer.audit.verify(writer.path).ok
