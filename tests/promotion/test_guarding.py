"""Every bounded apply to auto.toml is guarded, whoever made it: the worker finds the applies of
``promote --auto-apply-mode bounded_auto`` and ``proposals approve`` (other processes) in the
shared audit trail on its next tick, watches them, and reverts a degrading one."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.learning.models import patches_to_json
from peaktrade_daemon.promotion.models import GuardTripped, OverridesChanged
from peaktrade_daemon.storage.db import Database
from tests.daemon_harness import run_cli
from tests.promotion.conftest import evidence_off, make_patch, started_worker
from tests.promotion.test_rollback import BASE, Recorder, Series, _live

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def before_after_rule(project_root: Path) -> None:
    """A scripted performance series drives the guard: the before/after rule, evidence off
    (the CLI's own evidence would otherwise hold these applies: see test_attacks.py)."""
    evidence_off(project_root)


def _watch_rows(root: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(root / "state/peaktrade.db") as conn:
        return conn.execute(
            "SELECT key, status FROM promotion_watches ORDER BY change_seq"
        ).fetchall()


async def test_applies_by_other_processes_are_watched_and_reverted_when_degrading(
    project_root: Path, database: Database
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    clock, series, recorder = ManualClock(start), Series(BASE), Recorder()
    worker = await started_worker(project_root, clock, series, recorder, database)
    patches = project_root / "patches.json"
    patches.write_text(patches_to_json([make_patch("portfolio.leverage", 1.25)]))

    code, _, err = await run_cli(
        project_root, "promote", "--auto-apply-mode", "bounded_auto", "--input", str(patches)
    )
    assert code == 0, err
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.25

    async with asyncio.timeout(30):
        await worker.tick()
    changed = await recorder.next(OverridesChanged)  # the monitors re-read the live config
    assert (changed.actor, changed.changes) == ("auto", (("portfolio.leverage", None, 1.25),))
    assert [a[1] for a in recorder.alerts] == [
        "watching portfolio.leverage: None -> 1.25 applied by auto"
    ]
    assert worker.guard.watches["portfolio.leverage"].baseline == BASE
    assert worker.guard.hold_reason("portfolio.leverage") is not None

    series.value = {**BASE, "current_drawdown": 0.04}
    await clock.advance(60)
    async with asyncio.timeout(30):
        await worker.tick()
    # Published in this order: the monitors follow auto.toml back, then the trip itself.
    reverted = await recorder.next(OverridesChanged)
    assert (reverted.actor, reverted.changes) == (
        "rollback-guard",
        (("portfolio.leverage", 1.25, None),),
    )
    tripped = await recorder.next(GuardTripped)
    assert tripped.key == "portfolio.leverage" and tripped.reverted_to is None
    assert "portfolio.leverage" not in _live(project_root)["auto_applied"]
    assert "portfolio.leverage" in _live(project_root)["governance"]["frozen"]

    # An operator's approval goes through the same bounded writer and is watched too; a healthy
    # window lets it stand.
    series.value = dict(BASE)
    regime = project_root / "regime.json"
    regime.write_text(patches_to_json([make_patch("macro.regime_weight", 0.35)]))
    proposals = project_root / "reports/live_promotion"
    before = set(proposals.iterdir())
    code, _, err = await run_cli(project_root, "promote", "--input", str(regime))
    assert code == 0, err
    # The new proposal, not the newest name: two proposals made in one second sort by their
    # random suffix, so the leverage one could come last.
    [proposal] = set(proposals.iterdir()) - before
    code, _, err = await run_cli(
        project_root, "proposals", "approve", proposal.name, "--by", "alice"
    )
    assert code == 0, err
    await clock.advance(60)
    async with asyncio.timeout(30):
        await worker.tick()
    assert worker.guard.watches["macro.regime_weight"].record["actor"] == "alice"
    await clock.set(start + timedelta(minutes=62))
    async with asyncio.timeout(30):
        await worker.tick()
    assert not worker.guard.watches
    assert _live(project_root)["auto_applied"]["macro.regime_weight"] == 0.35
    assert _watch_rows(project_root) == [
        ("portfolio.leverage", "reverted"),
        ("macro.regime_weight", "passed"),
    ]


async def test_an_apply_whose_window_ended_while_no_daemon_ran_is_not_watched(
    project_root: Path, database: Database
) -> None:
    patches = project_root / "patches.json"
    patches.write_text(patches_to_json([make_patch("portfolio.leverage", 1.25)]))
    code, _, err = await run_cli(
        project_root, "promote", "--auto-apply-mode", "bounded_auto", "--input", str(patches)
    )
    assert code == 0, err
    later = ManualClock(datetime.now(UTC) + timedelta(minutes=61))
    worker = await started_worker(project_root, later, Series(BASE), Recorder(), database)
    async with asyncio.timeout(30):
        await worker.tick()
    assert not worker.guard.watches and _watch_rows(project_root) == []
