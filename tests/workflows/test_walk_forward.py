"""The ``walk_forward`` workflow and the shipped job: the learner on the replay feed's bundled
EURUSD history writes a snippet that ``learn`` reads, and with ``learn = true`` runs the
learning cycle itself; dry runs and bad input write nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from peaktrade_daemon.learning.emitter import snippet_bytes
from peaktrade_daemon.learning.models import ConfigPatch, patches_from_json
from peaktrade_daemon.learning.snippets import read_snippets
from peaktrade_daemon.scheduling.jobs import load_jobs
from peaktrade_daemon.scheduling.runner import JobRunner
from peaktrade_daemon.workflows.model import WorkflowResult, WorkflowState
from tests.conftest import cli_command, subprocess_env
from tests.workflows.conftest import Stack

#: The last bar of the bundled EURUSD sample: the data time of these runs.
END = "2018-02-07T15:00"


async def execute(stack: Stack, dry_run: bool = False, **parameters: Any) -> WorkflowResult:
    run_id = stack.engine.create_workflow("test-walk_forward", "walk_forward", parameters)
    async with asyncio.timeout(60):
        return await stack.engine.execute_workflow(run_id, dry_run=dry_run)


def snippet(root: Path) -> Path:
    return root / "reports" / "learning_snippets" / "walk_forward.json"


def written(root: Path) -> list[Path]:
    """Files the learner or the learning cycle may write."""
    found = [
        root / "reports" / "learning_snippets",
        root / "reports" / "learning",
        root / "config" / "auto",
    ]
    return sorted(p for d in found if d.exists() for p in d.iterdir())


async def test_the_job_writes_a_snippet_that_learn_reads(stack: Stack) -> None:
    root = stack.settings.root
    async with asyncio.timeout(60):
        await stack.at(END)
    result = await execute(stack)
    assert result.state is WorkflowState.COMPLETED, result.error
    summary = result.summary
    assert summary["symbols"] == ["EUR/USD"] and summary["skipped"] == []
    assert [s["recommendation"]["target"] for s in summary["signals"]] == [
        "portfolio.leverage",
        "strategy.trigger_delay",
        "macro.regime_weight",
    ]
    patches = [ConfigPatch.from_dict(p) for p in summary["patches"]]
    assert {p.target for p in patches} == {"portfolio.leverage", "macro.regime_weight"}
    path = snippet(root)
    assert summary["snippet"] == str(path)
    assert path.read_bytes() == snippet_bytes(patches)  # the emitter's canonical bytes
    assert read_snippets(path.parent).patches == patches
    assert "# Walk-forward learner" in (result.report_dir / "summary.md").read_text()  # type: ignore[operator]

    learn = await asyncio.to_thread(
        subprocess.run,
        cli_command("--root", str(root), "learn"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert learn.returncode == 0, learn.stderr
    for patch in patches:
        assert f"wrote {patch.target} = {patch.new_value!r}" in learn.stdout
    published = patches_from_json((root / "reports/learning/published_patches.json").read_text())
    assert [p.id for p in published] == [p.id for p in patches]
    assert all(p.confidence_score is not None and p.is_live_ready for p in published)


async def test_learn_true_runs_the_learning_cycle_in_process(stack: Stack) -> None:
    root = stack.settings.root
    async with asyncio.timeout(60):
        await stack.at(END)
    result = await execute(stack, learn=True)
    assert result.state is WorkflowState.COMPLETED, result.error
    assert result.summary["learn"]["written"] == ["portfolio.leverage", "macro.regime_weight"]
    offline = (root / "config/auto/learning.override.toml").read_text()
    assert '"portfolio.leverage" = 2.0' in offline and '"macro.regime_weight" = 0.0' in offline
    published = json.loads((root / "reports/learning/published_patches.json").read_text())
    assert {p["status"] for p in published["patches"]} == {"APPLIED_OFFLINE"}


async def test_same_data_same_snippet_bytes(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at(END)
    await execute(stack)
    first = snippet(stack.settings.root).read_bytes()
    await execute(stack)
    assert snippet(stack.settings.root).read_bytes() == first


async def test_a_later_run_replaces_the_learner_s_earlier_view(stack: Stack) -> None:
    root = stack.settings.root
    async with asyncio.timeout(60):
        await stack.at(END)
    await execute(stack)
    assert read_snippets(snippet(root).parent).patches
    # A run that fails (a week of bars: too few for the windows) leaves the last view alone.
    async with asyncio.timeout(60):
        await stack.at("2017-04-26T00:00")
    failed = await execute(stack)
    assert failed.state is WorkflowState.FAILED
    assert failed.error is not None and "no symbol to learn on: EUR/USD: " in failed.error
    assert read_snippets(snippet(root).parent).patches
    # A run with nothing to propose (no key whitelisted now) empties it: `learn` no longer
    # picks up a recommendation the learner has dropped.
    async with asyncio.timeout(60):
        await stack.at(END)
    policy = root / "config" / "promotion.toml"
    text = policy.read_text()
    policy.write_text(text.replace("auto_apply_whitelist = [", "auto_apply_whitelist = [] # ["))
    empty = await execute(stack)
    assert empty.state is WorkflowState.COMPLETED, empty.error
    assert empty.summary["signals"] == [] and empty.summary["patches"] == []
    assert json.loads(snippet(root).read_text()) == {"patches": []}
    assert read_snippets(snippet(root).parent).patches == []


async def test_dry_run_and_bad_input_write_nothing(stack: Stack) -> None:
    root = stack.settings.root
    async with asyncio.timeout(60):
        await stack.at(END)
    before = written(root)
    dry = await execute(stack, dry_run=True, learn=True)
    assert dry.state is WorkflowState.COMPLETED and dry.summary["snippet"] is None
    assert dry.summary["patches"]  # computed, not written
    for parameters, phrase in (
        ({"lean": True}, "unknown parameter(s) lean"),
        ({"learn": "yes"}, "parameter 'learn' must be true or false"),
    ):
        bad = await execute(stack, **parameters)
        assert bad.state is WorkflowState.FAILED
        assert bad.error is not None and phrase in bad.error
    (root / "config" / "promotion.toml").write_text("mode = 'sometimes'\n")
    no_policy = await execute(stack)
    assert no_policy.state is WorkflowState.FAILED
    assert no_policy.error is not None and "promotion.toml" in no_policy.error
    assert written(root) == before


async def test_the_shipped_job_is_disabled_and_runs_the_learner(stack: Stack) -> None:
    root = stack.settings.root
    jobs = load_jobs(root / "config" / "scheduler" / "jobs.toml")
    job = jobs.get("walk_forward_learner")
    assert job is not None
    assert (job.workflow, job.enabled, dict(job.args)) == ("walk_forward", False, {"learn": True})
    async with asyncio.timeout(60):
        await stack.at(END)
    runner = JobRunner(engine=stack.engine, clock=stack.clock, store=stack.store)
    async with asyncio.timeout(60):
        outcome = await runner.run(job, fire_time=None, trigger="manual")
    assert outcome.success and outcome.outcome == "completed", outcome.error
    assert snippet(root).exists()
    assert (root / "config/auto/learning.override.toml").exists()
