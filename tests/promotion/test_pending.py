"""Pending bounded steps survive a restart: a worker rebuilt on the same state database takes the
next step of the proposal the previous one accepted, after the cooldown, attributed to it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.governance.plans import ApplyOutcome
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.governance.verdicts import build_candidate
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.engine import filter_candidates_for_live
from peaktrade_daemon.promotion.models import PromotionProposal
from peaktrade_daemon.promotion.pending import PendingSteps
from peaktrade_daemon.promotion.proposals import decision_dict, decision_from_dict
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.storage.db import Database
from peaktrade_daemon.storage.promotion_progress import ProgressStore
from tests.promotion.conftest import T0, evidence_off, make_patch, started_worker
from tests.promotion.test_rollback import BASE, Recorder, Series, _live


@pytest.fixture(autouse=True)
def before_after_rule(project_root: Path) -> None:
    """A scripted performance series drives the guard: the before/after rule, evidence off."""
    evidence_off(project_root)


def _audit(root: Path) -> list[dict[str, object]]:
    path = root / "reports/promotion_audit/audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_restart_between_two_steps_resumes_the_proposal(
    project_root: Path, database: Database
) -> None:
    clock, series = ManualClock(T0), Series(BASE)
    first = await started_worker(project_root, clock, series, Recorder(), database)
    run = await first.process([make_patch("portfolio.leverage", 1.75)])
    assert run is not None and run.proposals
    proposal_id = run.proposals[0].proposal_id
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.25
    await first.stop()

    # The daemon restarts inside the bake window: a new worker on the same root and database.
    await clock.set(T0 + timedelta(minutes=20))
    second = await started_worker(project_root, clock, series, Recorder(), database)
    assert "portfolio.leverage" in second.pending
    assert second.pending.steps["portfolio.leverage"].proposal_id == proposal_id
    await second.tick()  # still baking and cooling down: nothing moves
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.25

    await clock.set(T0 + timedelta(minutes=61))
    await second.tick()  # the watch passes, the cooldown is over: the next bounded step
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.5
    steps = [r for r in _audit(project_root) if r.get("event") == "change"]
    assert [(r["before"], r["after"], r["proposal_id"]) for r in steps] == [
        (None, 1.25, proposal_id),
        (1.25, 1.5, proposal_id),
    ]
    assert "portfolio.leverage" in second.pending  # 1.75 is one more step away


async def test_the_killswitch_clears_the_saved_steps_too(
    project_root: Path, database: Database
) -> None:
    clock, series = ManualClock(T0), Series(BASE)
    first = await started_worker(project_root, clock, series, Recorder(), database)
    await first.process([make_patch("portfolio.leverage", 1.75)])
    first._mode_override = AutoApplyMode.DISABLED
    await first.tick()
    assert not first.pending
    await clock.set(T0 + timedelta(hours=3))
    again = await started_worker(project_root, clock, series, Recorder(), database)
    assert not again.pending  # frozen, not applied later, even after a restart
    await again.tick()
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.25


def test_a_decision_round_trips_through_its_stored_form(
    workspace: PromotionWorkspace, demo_patches: list[ConfigPatch]
) -> None:
    policy = workspace.policy()
    candidates = [build_candidate(p, policy) for p in demo_patches]
    decisions = filter_candidates_for_live(candidates, policy, workspace.base(), {})
    for decision in decisions:
        assert decision_from_dict(json.loads(json.dumps(decision_dict(decision)))) == decision


async def test_a_check_that_changes_no_step_writes_nothing(
    workspace: PromotionWorkspace, demo_patches: list[ConfigPatch], database: Database
) -> None:
    """The worker remembers the outcomes of every check of a pending step; only a change of
    the set reaches the database, and a failed write is retried by the next one."""

    class Counting(ProgressStore):
        writes = 0
        fail = False

        async def replace_pending(self, rows, now):  # type: ignore[no-untyped-def]
            self.writes += 1
            if self.fail:
                raise OSError("disk full")
            await super().replace_pending(rows, now)

    policy = workspace.policy()
    decisions = filter_candidates_for_live(
        [build_candidate(p, policy) for p in demo_patches], policy, workspace.base(), {}
    )
    proposal = PromotionProposal("p-1", T0, AutoApplyMode.BOUNDED_AUTO, tuple(decisions))
    key = proposal.accepted[0].target
    held = [ApplyOutcome(key, False, 1.0, 1.0, "cooldown: 20 minutes left")]
    store = Counting(database)
    steps = PendingSteps(store)
    await steps.remember(proposal, held, T0)
    await steps.remember(proposal, held, T0 + timedelta(minutes=1))
    assert store.writes == 1 and key in steps
    store.fail = True
    await steps.remember(proposal, [ApplyOutcome(key, False, 1.0, 1.0, "frozen")], T0)
    assert store.writes == 2 and key not in steps  # memory moved on; the database did not
    store.fail = False
    await steps.remember(proposal, [ApplyOutcome(key, False, 1.0, 1.0, "frozen")], T0)
    assert store.writes == 3
    again = PendingSteps(ProgressStore(database))
    await again.load()
    assert key not in again
