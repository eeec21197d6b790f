"""reports/promotion_audit/audit.jsonl (the tamper-evident trail), damaged.

Not an operator-written input, but every promotion command reads it: verify-audit must report a
damaged trail (exit 1), never crash on it; rollback and the writer must refuse to act on it
(AuditError, auto.toml untouched); provenance display must skip what it cannot read.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.config.provenance import last_live_changes
from peaktrade_daemon.errors import AuditError, HandEditRefusal
from peaktrade_daemon.governance.plans import PlannedChange, WritePlan
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.writer import OverridesWriter
from tests.fuzz.conftest import OutsideWatch, run_cli, run_cli_many
from tests.fuzz.mutations import damaged
from tests.promotion.conftest import write

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _step(value: float) -> WritePlan:
    return WritePlan(changes=[PlannedChange("portfolio.leverage", value, ("fuzz",))])


@pytest.fixture
def trail(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    """An auto.toml with three recorded writes; returns (directory, trail bytes, auto bytes)."""
    writer = OverridesWriter(tmp_path / "auto.toml", AuditTrail(tmp_path / "audit.jsonl"))
    for i, value in enumerate((1.25, 1.5, 1.75)):
        write(
            writer,
            functools.partial(lambda v, state: _step(v), value),
            now=T0 + timedelta(hours=i),
        )
    assert AuditTrail(tmp_path / "audit.jsonl").verify(tmp_path / "auto.toml").ok
    return tmp_path, (tmp_path / "audit.jsonl").read_bytes(), (tmp_path / "auto.toml").read_bytes()


@FUZZ
@given(data=st.data())
def test_a_damaged_trail_is_reported_and_refused_never_a_crash(
    trail: tuple[Path, bytes, bytes], data: st.DataObject
) -> None:
    directory, original, auto = trail
    raw = data.draw(damaged(original))
    (directory / "audit.jsonl").write_bytes(raw)
    (directory / "auto.toml").write_bytes(auto)
    audit = AuditTrail(directory / "audit.jsonl")
    report = audit.verify(directory / "auto.toml")
    if raw.split() != original.split():
        assert not report.ok
    try:
        records = audit.records()
    except AuditError as exc:
        assert str(exc).startswith(str(directory / "audit.jsonl"))
    else:
        assert all(isinstance(r, dict) for r in records)
    last_live_changes(directory / "audit.jsonl")
    writer = OverridesWriter(directory / "auto.toml", audit)
    try:
        write(writer, lambda s: _step(1.5), now=T0 + timedelta(hours=4))
    except (AuditError, HandEditRefusal):
        assert (directory / "auto.toml").read_bytes() == auto


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"\n", b"\xff\xfe\n", b"[1, 2]\n5\n", b'{"seq": 1' + b"0" * 5000 + b"}\n"],
    ids=["deep", "binary", "not-objects", "5000-digits"],
)
def test_hand_picked_trails_are_problems_not_crashes(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / "audit.jsonl").write_bytes(raw)
    audit = AuditTrail(tmp_path / "audit.jsonl")
    assert not audit.verify().ok
    with pytest.raises(AuditError):
        audit.records()
    with pytest.raises(AuditError):
        audit.last_file_record()
    assert last_live_changes(tmp_path / "audit.jsonl") == {}


@pytest.mark.slow
def test_cli_on_a_damaged_trail(project_root: Path, outside_root: OutsideWatch) -> None:
    trail_file = project_root / "reports" / "promotion_audit" / "audit.jsonl"
    trail_file.parent.mkdir(parents=True)
    trail_file.write_bytes(b"[" * 100_000 + b"\n")
    auto = (project_root / "config" / "live_overrides" / "auto.toml").read_bytes()
    (verify,) = run_cli_many([(project_root, ("overrides", "verify-audit"))])
    verify.assert_clean_failure(1, "line 1: not JSON", "TAMPERED")
    # The emergency paths work past a damaged tail: it is moved aside, loudly (§8.8).
    rollback, clear = (
        run_cli(project_root, "overrides", "rollback", "--steps", "1"),
        run_cli(project_root, "overrides", "clear"),
    )
    assert (
        rollback.code == 0
        and "moved aside" in rollback.out
        and "nothing to roll back" in rollback.out
    )
    assert clear.code == 0 and "nothing to clear" in clear.out
    (aside,) = trail_file.parent.glob("audit.jsonl.damaged-*")
    assert aside.read_bytes() == b"[" * 100_000 + b"\n"
    again, shown = run_cli_many(
        [
            (project_root, ("overrides", "verify-audit")),
            (project_root, ("config", "show", "--provenance")),
        ]
    )
    again.assert_clean_failure(1, "moved aside", "TAMPERED")
    assert shown.code == 0 and "portfolio.leverage = 1.0" in shown.out
    assert (project_root / "config" / "live_overrides" / "auto.toml").read_bytes() == auto
    alerts = (project_root / "logs" / "autonomous_alerts.log").read_text()
    assert "\tcritical\toverrides\taudit trail: the last line is unreadable" in alerts
