"""``walk_forward``: the built-in learner as an in-process workflow, for a scheduled job (§10).

One run reads, for each of ``[learning.walk_forward] symbols`` (else the cycle's symbols), the
newest bars the learner needs from the feeds (so its data time is the feeds' now: replay time
or wall time), the effective config (the incumbents) and the promotion policy (the keys and
their bounds), runs :func:`~peaktrade_daemon.learning.walk_forward.run_walk_forward` in a worker
thread, and writes the patches the rule gives to ``reports/learning_snippets/walk_forward.json``
(atomic, deterministic bytes; the same file every run, so the learner's latest view replaces
its previous one and ``learn`` never picks up a recommendation the learner has since dropped;
no patch gives ``{"patches": []}``). The report (``reports/workflows/<run_id>/``) holds every
signal with its evidence.

Parameters (a job's ``args``): ``learn`` (bool, default false): after writing the snippet, run
the learning cycle in-process exactly as ``peaktrade-daemon learn`` does (offline overrides,
``published_patches.json``, which the daemon's patch inbox hands to the promotion worker). A dry
run computes everything and writes nothing. A feed without data, a policy that does not load or
a bad ``[learning]`` setting fails the run with the reason; nothing is written then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from peaktrade_daemon.errors import WorkflowError
from peaktrade_daemon.learning.models import ConfigPatch, LearningSignal
from peaktrade_daemon.market.bars import Bars, timeframe_seconds
from peaktrade_daemon.monitors.market import market_params
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.workflows.model import WorkflowFn, WorkflowOutput, WorkflowRun
from peaktrade_daemon.workflows.reports import markdown_table
from peaktrade_daemon.workflows.sources import WorkflowSources, cycle_symbols

if TYPE_CHECKING:
    from peaktrade_daemon.learning.walk_forward import WalkForwardResult

#: The file the learner writes, ``<learning_snippets_dir>/walk_forward.json``.
SNIPPET_NAME = "walk_forward"
PARAMETERS = frozenset({"learn"})


def _learn_flag(parameters: Mapping[str, Any]) -> bool:
    unknown = sorted(set(parameters) - PARAMETERS)
    if unknown:
        raise WorkflowError(
            f"walk_forward: unknown parameter(s) {', '.join(unknown)} (known: learn)"
        )
    learn = parameters.get("learn", False)
    if not isinstance(learn, bool):
        raise WorkflowError(f"walk_forward: parameter 'learn' must be true or false, not {learn!r}")
    return learn


def _row(signal: LearningSignal) -> list[Any]:
    evidence = signal.evidence
    test = evidence["test"]
    return [
        signal.recommendation["target"],
        evidence["incumbent"],
        evidence["train_best"],
        signal.recommendation["new_value"],
        test["mean_difference"],
        signal.value,
        evidence["confidence"],
        "yes" if evidence["is_live_ready"] else "no",
    ]


def _markdown(run: WorkflowRun, result: WalkForwardResult, patches: list[ConfigPatch]) -> str:
    table = markdown_table(
        [
            "key",
            "live",
            "train best",
            "recommended",
            "OOS mean diff / period",
            "OOS total return diff",
            "confidence",
            "live ready",
        ],
        [_row(signal) for signal in result.signals],
    )
    lines = [
        f"# Walk-forward learner `{run.run_id}`",
        "",
        f"Data time {result.as_of.isoformat()}; symbols: {', '.join(result.symbols) or 'none'}.",
        "",
        table,
        f"Patches: {', '.join(f'{p.target} = {p.new_value!r}' for p in patches) or 'none'}.",
    ]
    lines += [f"- left out: {reason}" for reason in result.skipped]
    return "\n".join(lines) + "\n"


async def _history(
    sources: WorkflowSources, symbols: list[str], count: int
) -> tuple[dict[str, Bars], dict[str, float]]:
    bars: dict[str, Bars] = {}
    per_year: dict[str, float] = {}
    for symbol in symbols:
        bars[symbol] = await sources.feeds.bars(symbol, count)
        tf_s = timeframe_seconds(bars[symbol].timeframe)
        per_year[symbol] = sources.feeds.calendar(symbol).bars_per_year(tf_s)
    return bars, per_year


def workflow(sources: WorkflowSources) -> WorkflowFn:
    """The ``walk_forward`` coroutine bound to ``sources``."""

    async def run(run: WorkflowRun) -> WorkflowOutput:
        # Imported when the learner runs: the daemon starts without the book's grid search and
        # the bootstrap (about 18 ms of start-up), which a disabled job never needs.
        from peaktrade_daemon.learning.cycle import run_learning_cycle
        from peaktrade_daemon.learning.emitter import emit_snippet
        from peaktrade_daemon.learning.walk_forward import (
            history_bars,
            run_walk_forward,
            walk_forward_patches,
        )

        learn = _learn_flag(run.parameters)
        settings = sources.settings
        learner = settings.learning.walk_forward
        workspace = PromotionWorkspace.from_settings(settings)
        config = await asyncio.to_thread(sources.effective_config)
        policy = await asyncio.to_thread(workspace.policy)
        market = market_params(settings.monitors.market)
        symbols = list(learner.symbols) or cycle_symbols(settings)
        bars, per_year = await _history(sources, symbols, history_bars(config, learner, market))
        # The earliest feed time: no symbol contributes a bar another one could not see yet.
        as_of = min(b.as_of for b in bars.values())
        result = await asyncio.to_thread(
            run_walk_forward,
            bars,
            config,
            policy,
            learner,
            as_of,
            market=market,
            bars_per_year=per_year,
        )
        if not result.symbols:
            raise WorkflowError(f"walk_forward: no symbol to learn on: {'; '.join(result.skipped)}")
        patches = walk_forward_patches(result.signals)
        summary: dict[str, Any] = {
            "as_of": result.as_of,
            "symbols": list(result.symbols),
            "skipped": list(result.skipped),
            "signals": [signal.model_dump(mode="json") for signal in result.signals],
            "patches": [patch.to_dict() for patch in patches],
            "snippet": None,
            "learn": None,
        }
        if not run.dry_run:
            directory = workspace.snippets_dir
            path = await asyncio.to_thread(emit_snippet, directory, SNIPPET_NAME, patches)
            summary["snippet"] = str(path)
            if learn:
                cycle = await asyncio.to_thread(
                    run_learning_cycle,
                    snippets_dir=directory,
                    out_file=workspace.offline_file,
                    published_file=workspace.published_file,
                    policy=policy,
                    now=run.started_at,
                )
                summary["learn"] = {
                    "files_used": cycle.files_used,
                    "written": [p.target for p in cycle.written],
                    "skipped": [f"{target}: {why}" for target, why in cycle.skipped],
                }
        return WorkflowOutput(summary=summary, markdown=_markdown(run, result, patches))

    return run
