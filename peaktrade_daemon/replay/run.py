"""One replay, start to finish: scratch root, the daemon driven through data time, outputs.

1. The scratch root is filled (:mod:`.scratch`) in a fresh temporary directory.
2. The daemon is composed for replay (:mod:`.composition`) on a ManualClock at ``--from`` and
   run; the driver (:mod:`.driver`) visits every instant and then stops it. Ctrl-C or SIGTERM
   stop it after the instant in progress: nothing is written then (exit 130).
3. From the scratch root's record (the audit trail, auto.toml) the timeline is completed and
   the three books computed; the outputs are written in one move (:mod:`.report`).
4. The scratch root is removed. The real root's ``config/`` and ``state/`` were never opened
   for writing: the only thing the replay adds to the root is its output directory.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.config.loader import PeakConfig, load_config
from peaktrade_daemon.daemon import Daemon
from peaktrade_daemon.errors import PeakTradeError
from peaktrade_daemon.events import AlertRaised
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.replay.books import BOOKS, Book, bars_per_year, replay_books
from peaktrade_daemon.replay.chart import render_replay_chart
from peaktrade_daemon.replay.composition import ReadySignal, ReplayParts, replay_options
from peaktrade_daemon.replay.driver import Outcome, Plan, ReplayDriver
from peaktrade_daemon.replay.inputs import ReplayRequest, iso_z
from peaktrade_daemon.replay.learners import make_learner
from peaktrade_daemon.replay.progress import Progress
from peaktrade_daemon.replay.report import Outputs, summary_bytes, summary_markdown, write_outputs
from peaktrade_daemon.replay.schedule import cycle_times, finest, learning_times
from peaktrade_daemon.replay.scratch import build_scratch
from peaktrade_daemon.replay.timeline import Redactor, Timeline, counts, timeline_bytes
from peaktrade_daemon.settings import DaemonSettings

#: A replay with hundreds of thousands of alerts must not lose one to a full queue.
ALERT_QUEUE = 1_000_000


class ReplayFailed(PeakTradeError):
    """The replay ran and could not finish (exit 1); nothing was written."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """Where the outputs went and what ``summary.json`` says."""

    out_dir: Path
    summary: dict[str, Any]


def plan_for(request: ReplayRequest) -> Plan:
    """The cycles (one per bar of the finest timeframe, or every ``--poll-interval``) and the
    learning steps (every ``[replay] learn_interval_days``)."""
    fine = finest({s: request.history[s].timeframe for s in request.symbols})
    cycles = cycle_times(
        [request.history[s].timestamps for s in fine],
        request.start,
        request.end,
        request.poll_interval_s,
    )
    learning = learning_times(
        request.start, request.end, request.settings.replay.learn_interval_days
    )
    return Plan(cycles, learning, request.start, request.end)


def cadence(request: ReplayRequest) -> str:
    """How the cycles were paced, in words."""
    if request.poll_interval_s is not None:
        return f"every {request.poll_interval_s:g} s of data time"
    fine = finest({s: request.history[s].timeframe for s in request.symbols})
    timeframe = request.history[fine[0]].timeframe
    return f"one per {timeframe} bar of {', '.join(fine)}"


def final_live_values(
    final: PeakConfig, request: ReplayRequest, overridden: Sequence[str]
) -> dict[str, Any]:
    """Every bounded key and every key auto.toml holds, at its effective value."""
    keys = sorted({*request.policy.bounds, *overridden})
    return {key: final.get(key) for key in keys}


def build_summary(
    request: ReplayRequest,
    outcome: Outcome,
    entries: Sequence[dict[str, Any]],
    books: dict[str, Book],
    final_values: dict[str, Any],
    per_year: float,
) -> dict[str, Any]:
    """``summary.json``'s content (see :mod:`.report`)."""
    actions: dict[str, int] = {}
    for entry in entries:
        if entry["kind"] == "decision":
            actions[entry["action"]] = actions.get(entry["action"], 0) + 1
    return {
        "range": {"from": iso_z(request.start), "to": iso_z(request.end)},
        "symbols": list(request.symbols),
        "policy_file": str(request.policy_file),
        "mode": request.effective_mode.value,
        "learner": request.learner.label,
        "cadence": cadence(request),
        "cycles": outcome.cycles,
        "learning": {
            "interval_days": request.settings.replay.learn_interval_days,
            "steps": len(outcome.steps),
        },
        "counts": counts(entries),
        "decisions": dict(sorted(actions.items())),
        "final_live_values": final_values,
        "books": {name: books[name].metrics(per_year) for name in BOOKS},
    }


def _outputs(
    request: ReplayRequest,
    settings: DaemonSettings,
    timeline: Timeline,
    outcome: Outcome,
) -> tuple[Outputs, dict[str, Any]]:
    """Complete the timeline from the scratch root's record, compute the books (blocking)."""
    records = AuditTrail(settings.path(settings.paths.audit_log)).records()
    base = load_config(settings.path(settings.paths.config_file))
    timeline.audit(records, base.to_dict())
    entries = timeline.entries()
    final = trading_config(settings)
    overridden = list(PromotionWorkspace.from_settings(settings).writer().read().values)
    books = replay_books(
        request.history,
        settings=settings,
        base=base,
        final=final,
        live_changes=audited_live_changes(settings, final),
        steps=outcome.steps,
        start=request.start,
        end=request.end,
    )
    per_year = bars_per_year(settings, request.history)
    summary = build_summary(
        request, outcome, entries, books, final_live_values(final, request, overridden), per_year
    )
    moments = {
        kind: [
            datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
            for e in entries
            if e["kind"] == kind
        ]
        for kind in ("apply", "revert")
    }
    title = f"Replay of {', '.join(request.symbols)}, mode {request.effective_mode.value}"
    chart = render_replay_chart(books, moments["apply"], moments["revert"], title)
    return (
        Outputs(
            timeline_bytes(entries),
            summary_bytes(summary),
            summary_markdown(summary, entries),
            chart,
        ),
        summary,
    )


async def run_replay(request: ReplayRequest, *, progress: TextIO = sys.stderr) -> ReplayResult:
    """Replay ``request`` (module docstring). Raises KeyboardInterrupt when stopped early,
    :class:`ReplayFailed` when the replay could not finish."""
    with tempfile.TemporaryDirectory(prefix="peaktrade-replay-") as directory:
        scratch = await asyncio.to_thread(build_scratch, request, Path(directory))
        clock = ManualClock(request.start)
        parts = ReplayParts(mode_override=request.mode)
        notifier = ReadySignal()
        timeline = Timeline(Redactor(scratch.root), request.end)
        bar = Progress(progress, request.start, request.end)
        holder: list[Daemon] = []
        driver = ReplayDriver(
            clock=clock,
            bus=lambda: holder[0].bus,
            side=lambda: _part(parts.side),
            worker=lambda: _part(parts.worker),
            settings=lambda: holder[0].snapshot.settings,
            plan=plan_for(request),
            learner=make_learner(request.learner),
            timeline=timeline,
            symbols=request.symbols,
            ready=notifier.ready_event,
            request_stop=lambda reason: holder[0].request_stop(reason),
            progress=bar,
        )
        daemon = Daemon(
            replay_options(str(scratch.root), scratch.overrides, request.symbols),
            plugins=parts.plugins(driver),
            clock=clock,
            notifier=notifier,
        )
        holder.append(daemon)
        daemon.bus.subscribe(
            AlertRaised,
            lambda e: timeline.alert(e.alert),
            name="replay.timeline",
            maxsize=ALERT_QUEUE,
        )
        try:
            await daemon.run()
        finally:
            bar.close()
        outcome = driver.outcome
        if outcome.interrupted:
            raise KeyboardInterrupt
        if outcome.error is not None or not outcome.finished:
            raise ReplayFailed(f"replay stopped at {iso_z(clock.now())}: {outcome.error!r}")
        outputs, summary = await asyncio.to_thread(
            _outputs, request, daemon.snapshot.settings, timeline, outcome
        )
        await asyncio.to_thread(write_outputs, request.out_dir, outputs)
    return ReplayResult(request.out_dir, summary)


def _part(value: Any) -> Any:
    if value is None:
        raise RuntimeError("replay: a part of the daemon was not built")
    return value
