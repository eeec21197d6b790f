"""The learning step in replay: the snippet learner releases each patch at its data time, the
step writes it as a snippet stamped with that time, and ``learn``'s own cycle publishes the
folder's latest patch per key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.replay.inputs import Release
from peaktrade_daemon.replay.learners import LearnContext, SnippetLearner, learning_step
from peaktrade_daemon.settings import load_settings

T0 = datetime(2017, 6, 1, tzinfo=UTC)


def _patch(target: str, value: float, pid: str) -> ConfigPatch:
    return ConfigPatch(
        id=pid,
        target=target,
        old_value=None,
        new_value=value,
        confidence_score=0.9,
        meta={"is_live_ready": True},
    )


async def test_each_step_releases_what_is_due_and_learn_publishes_the_folder(
    project_root: Path,
) -> None:
    settings = load_settings(project_root)
    workspace = PromotionWorkspace.from_settings(settings)
    context = LearnContext(
        Feeds(settings, ManualClock(T0)),
        trading_config(settings),
        load_policy(workspace.policy_file),
        settings,
    )
    learner = SnippetLearner(
        (
            Release(T0 + timedelta(days=9), _patch("portfolio.leverage", 2.0, "late")),
            Release(T0, _patch("portfolio.leverage", 1.5, "early")),
            Release(T0, _patch("risk.stop_loss", 0.05, "blacklisted")),
        )
    )
    first = await learning_step(learner, T0 + timedelta(days=7), context, workspace)
    assert [p.id for p in first.learned] == ["early", "blacklisted"]
    [written] = first.result.written
    assert (written.id, written.status, written.applied_at) == (
        "early",
        PatchStatus.APPLIED_OFFLINE,
        T0 + timedelta(days=7),
    )
    assert first.result.skipped == [
        ("risk.stop_loss", "blacklisted by policy entry 'risk.stop_loss'")
    ]
    [snippet] = list(workspace.snippets_dir.iterdir())
    assert snippet.name == "snippets-20170608T000000Z.json"
    assert snippet.stat().st_mtime_ns == to_ns(T0 + timedelta(days=7))
    published = json.loads(workspace.published_file.read_text())
    assert [p["id"] for p in published["patches"]] == ["early"]

    second = await learning_step(learner, T0 + timedelta(days=14), context, workspace)
    assert [p.id for p in second.learned] == ["late"]
    # The folder now holds both steps; the later file's patch for the key wins, as in learn.
    assert [p.id for p in second.result.written] == ["late"]
    assert len(list(workspace.snippets_dir.iterdir())) == 2

    third = await learning_step(learner, T0 + timedelta(days=21), context, workspace)
    assert third.learned == () and [p.id for p in third.result.written] == ["late"]
    assert len(list(workspace.snippets_dir.iterdir())) == 2  # nothing new: no new file
    await context.feeds.close()
