"""The only writer of auto.toml: lock, backup, atomic replace, verify, refusal, recovery."""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from peaktrade_daemon.errors import StateError, UnparseableFileError
from peaktrade_daemon.governance.plans import (
    WritePlan,
    plan_guard_revert,
    plan_restore,
    plan_rollback,
    plan_unfreeze,
)
from peaktrade_daemon.promotion.audit import AuditTrail, file_sha256
from peaktrade_daemon.promotion.writer import OverridesWriter
from tests.promotion.conftest import T0


@pytest.fixture
def writer(tmp_path: Path) -> OverridesWriter:
    auto = tmp_path / "live" / "auto.toml"
    auto.parent.mkdir()
    auto.write_text(
        '# operator note: keep me\n[auto_applied]\n"portfolio.leverage" = 1.0 # inline\n'
    )
    return OverridesWriter(auto, AuditTrail(tmp_path / "audit" / "audit.jsonl"))


def _set(writer: OverridesWriter, values: dict, now=T0, actor="alice"):
    return writer.transact(
        plan_restore(values, actor, "test"), actor=actor, mode="operator", proposal_id=None, now=now
    )


def test_write_keeps_comments_backs_up_and_records(writer: OverridesWriter) -> None:
    before = writer.path.read_bytes()
    result = _set(writer, {"portfolio.leverage": 1.25, "macro.regime_weight": 0.35})
    text = writer.path.read_text()
    assert "# operator note: keep me" in text and "# inline" in text
    assert '"macro.regime_weight" = 0.35' in text
    assert writer.path.with_name("auto.toml.backup").read_bytes() == before
    changes = [r for r in result.records if r["event"] == "change"]
    assert {(r["key"], r["before"], r["after"]) for r in changes} == {
        ("portfolio.leverage", 1.0, 1.25),
        ("macro.regime_weight", None, 0.35),
    }
    assert changes[0]["file_sha256_after"] == file_sha256(writer.path)
    assert writer.audit.verify(writer.path).ok


def test_nothing_to_change_writes_nothing(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    backup = writer.path.with_name("auto.toml.backup").read_bytes()
    stat = writer.path.stat()
    result = writer.transact(
        lambda state: WritePlan(), actor="x", mode="-", proposal_id=None, now=T0
    )
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


def test_unquoted_dotted_keys_are_normalised_not_duplicated(writer: OverridesWriter) -> None:
    writer.path.write_text("[auto_applied]\nportfolio.leverage = 1.5\n")
    _set(writer, {"portfolio.leverage": 1.75})
    data = tomllib.loads(writer.path.read_text())["auto_applied"]
    assert data == {"portfolio.leverage": 1.75}


def test_interrupted_write_is_recorded_as_aborted_by_the_next_writer(
    writer: OverridesWriter,
) -> None:
    """Simulate a writer killed after its audit append and before the replace."""
    _set(writer, {"portfolio.leverage": 1.25})
    old = writer.path.read_bytes()
    _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(minutes=1))
    writer.path.write_bytes(old)  # the replace "never happened"
    report = writer.audit.verify(writer.path)
    assert report.ok and any("interrupted" in n for n in report.notes)
    _set(writer, {"portfolio.leverage": 1.75}, now=T0 + timedelta(minutes=2))
    records = writer.audit.records()
    aborted = [r for r in records if r["event"] == "write_aborted"]
    assert len(aborted) == 1
    assert writer.audit.verify(writer.path).ok
    # Replaying effective changes reproduces the file.
    from peaktrade_daemon.audit_records import changes_since

    final = {}
    for record in changes_since(records):
        final[record["key"]] = record["after"]
    assert final["portfolio.leverage"] == 1.75
    assert [r["after"] for r in changes_since(records)] == [1.25, 1.75]


def test_hand_edit_is_recorded_as_file_state(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    writer.path.write_text(writer.path.read_text().replace("1.25", "1.3"))
    _set(writer, {"portfolio.leverage": 1.5}, now=T0 + timedelta(minutes=1))
    events = [r["event"] for r in writer.audit.records()]
    assert "file_state" in events
    assert writer.audit.verify(writer.path).ok


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
    for steps_back in (1, 1, 1):
        result = writer.transact(
            plan_rollback(writer.audit.records(), steps_back, "bob"),
            actor="bob",
            mode="operator",
            proposal_id=None,
            now=T0,
        )
        assert result.written
    # history[3] changed 2 keys, history[2] 1 key, history[1] 1 key: 3 undos land on snapshot 2.
    assert writer.read().values == snapshots[2]
    writer.transact(
        plan_rollback(writer.audit.records(), 10, "bob"),
        actor="bob",
        mode="operator",
        proposal_id=None,
        now=T0,
    )
    assert writer.read().values == snapshots[0] == {"portfolio.leverage": 1.0}
    assert writer.audit.verify(writer.path).ok


def test_rollback_refuses_when_the_file_disagrees_with_the_trail(writer: OverridesWriter) -> None:
    _set(writer, {"portfolio.leverage": 1.25})
    records = writer.audit.records()
    _set(writer, {"portfolio.leverage": 1.5})
    with pytest.raises(StateError):
        # a stale history view: the last change it knows left 1.25, but the file says 1.5
        writer.transact(
            plan_rollback(records, 1, "bob"), actor="bob", mode="operator", proposal_id=None, now=T0
        )
    assert writer.read().values["portfolio.leverage"] == 1.5


def test_guard_revert_freezes_and_unfreeze_clears(writer: OverridesWriter) -> None:
    result = _set(writer, {"portfolio.leverage": 1.25}, actor="auto")
    record = next(r for r in result.records if r["event"] == "change")
    revert = writer.transact(
        plan_guard_revert(record, ["drawdown up"]),
        actor="rollback-guard",
        mode="bounded_auto",
        proposal_id=None,
        now=T0,
    )
    assert revert.outcome == 1.0
    state = writer.read()
    assert state.values["portfolio.leverage"] == 1.0
    assert state.frozen == {"portfolio.leverage": "drawdown up"}
    events = [
        (r["event"], r["actor"])
        for r in writer.audit.records()
        if r["event"] in ("change", "freeze")
    ]
    assert events[-2:] == [("change", "rollback-guard"), ("freeze", "rollback-guard")]
    writer.transact(
        plan_unfreeze("portfolio.leverage"),
        actor="carol",
        mode="operator",
        proposal_id=None,
        now=T0,
    )
    assert writer.read().frozen == {}


def test_audit_records_carry_the_provenance_fields(writer: OverridesWriter) -> None:
    from peaktrade_daemon.config.provenance import last_live_changes

    _set(writer, {"portfolio.leverage": 1.25}, actor="auto")
    changes = last_live_changes(writer.audit.path)
    assert changes["portfolio.leverage"].actor == "auto"
    assert changes["portfolio.leverage"].time == T0.isoformat()
    line = json.loads(writer.audit.path.read_text().splitlines()[-1])
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
    } <= set(line)
    assert len(line["prev_sha256"]) == len(hashlib.sha256().hexdigest())
