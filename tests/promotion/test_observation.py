"""Guard bookkeeping: watches survive a restart with their pre-change baseline, and the audit
scan picks exactly the bounded applies still inside their window."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.governance.policy import RollbackGuardPolicy
from peaktrade_daemon.promotion.models import GuardTripped
from peaktrade_daemon.promotion.observation import Observation, watchable
from peaktrade_daemon.storage.db import Database
from tests.promotion.conftest import T0, evidence_off, make_patch, started_worker
from tests.promotion.test_rollback import BASE, Recorder, Series, _live


@pytest.fixture(autouse=True)
def before_after_rule(project_root: Path) -> None:
    """A scripted performance series drives the guard: the before/after rule, evidence off."""
    evidence_off(project_root)


GUARD = RollbackGuardPolicy(bake_window_minutes=60, max_drawdown_increase=0.02, max_sharpe_drop=0.5)


async def test_a_restart_mid_bake_keeps_the_pre_change_baseline(
    project_root: Path, database: Database
) -> None:
    clock, series = ManualClock(T0), Series(BASE)
    first = await started_worker(project_root, clock, series, Recorder(), database)
    await first.process([make_patch("portfolio.leverage", 1.25)])
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.25
    await first.stop()

    # The drawdown rose while the daemon was down. Re-taking the baseline at restart would hide
    # that; the saved one (current_drawdown 0.01) does not.
    series.value = {**BASE, "current_drawdown": 0.045}
    await clock.set(T0 + timedelta(minutes=10))
    recorder = Recorder()
    second = await started_worker(project_root, clock, series, recorder, database)
    [watch] = second.guard.watches.values()
    assert watch.baseline == BASE and watch.ends_at == T0 + timedelta(minutes=60)
    await second.tick()
    tripped = await recorder.next(GuardTripped)
    assert tripped.key == "portfolio.leverage" and "current_drawdown up" in tripped.reasons[0]
    assert "portfolio.leverage" in _live(project_root)["governance"]["frozen"]
    with sqlite3.connect(project_root / "state/peaktrade.db") as conn:
        rows = conn.execute("SELECT key, status FROM promotion_watches").fetchall()
    assert rows == [("portfolio.leverage", "reverted")]

    # Judged once: a third start does not watch (or revert) it again.
    third = await started_worker(project_root, clock, series, Recorder(), database)
    await third.tick()
    assert not third.guard.watches


def _change(seq: int, minutes: int, **extra: Any) -> dict[str, Any]:
    record = {
        "seq": seq,
        "event": "change",
        "time": (T0 + timedelta(minutes=minutes)).isoformat(),
        "actor": "auto",
        "key": "portfolio.leverage",
        "before": None,
        "after": 1.25,
        "patch_id": "p-1",
        "write_id": f"w-{seq}",
    }
    return {**record, **extra}


@pytest.mark.parametrize(
    ("record", "watched"),
    [
        (_change(1, 0), True),
        (_change(1, 0, actor="alice"), True),  # proposals approve
        (_change(1, 0, actor="rollback-guard"), False),
        (_change(1, 0, undoes=3, patch_id=None), False),  # overrides rollback
        ({**_change(1, 0), "patch_id": None}, False),  # overrides clear / restore
        ({**_change(1, 0), "event": "verdict"}, False),
    ],
)
def test_which_records_are_bounded_applies(record: dict[str, Any], watched: bool) -> None:
    assert watchable(record) is watched


def test_the_scan_takes_open_windows_once_and_skips_aborted_writes() -> None:
    observation = Observation()
    now = T0 + timedelta(minutes=90)
    records = [
        _change(1, 0),  # window over at T0 + 60
        _change(2, 40),
        _change(3, 45, key="strategy.trigger_delay"),
        {"seq": 4, "event": "write_aborted", "write_id": "w-3"},
        _change(5, 80, key="macro.regime_weight"),
    ]
    assert [r["seq"] for r in observation.unseen(records, now, GUARD)] == [2, 5]
    assert observation.scanned_seq == 5
    assert observation.unseen(records, now, GUARD) == []  # scanned: not found twice
    assert [r["seq"] for r in observation.unseen([*records, _change(6, 85)], now, GUARD)] == [6]
