"""Assembling the workflow side (engine, cycle, job runner) from its collaborators.

One builder for the Daemon (the composition root) and the one-shot CLI commands (``jobs run``):
:func:`~peaktrade_daemon.workflows.components.build_components` makes the real monitors over one
shared :class:`Feeds` and the decision engine; :func:`build_runtime` binds them
with the database, alert emitter and clock into the engine, the cycle runner and the job
runner. Without components the engine still runs external-command workflows and command jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from peaktrade_daemon.alerts.model import AlertEmitter
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.events import Event
from peaktrade_daemon.scheduling.runner import JobRunner
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.components import WorkflowComponents, in_process_workflows
from peaktrade_daemon.workflows.cycle import CycleRunner
from peaktrade_daemon.workflows.engine import WorkflowEngine


@dataclass(frozen=True, slots=True)
class WorkflowRuntime:
    """The assembled workflow side."""

    engine: WorkflowEngine
    runner: JobRunner
    cycle: CycleRunner | None
    store: RunStore | None


def build_runtime(
    settings: DaemonSettings,
    *,
    clock: Clock,
    store: RunStore | None,
    alerts: AlertEmitter | None,
    components: WorkflowComponents | None,
    out: Callable[[str], None] = print,
    publish: Callable[[Event], object] | None = None,
    current_settings: Callable[[], DaemonSettings] | None = None,
) -> WorkflowRuntime:
    """Engine, cycle runner (when components are given) and job runner over one store.

    ``current_settings`` (the daemon's latest snapshot) lets the workflow types follow a reload;
    one-shot commands leave it out and use ``settings`` throughout.
    """
    current = current_settings or (lambda: settings)
    workflows = in_process_workflows(components, current) if components is not None else {}
    engine = WorkflowEngine(
        settings=settings,
        workflows=workflows,
        store=store,
        alerts=alerts,
        clock=clock,
        publish=publish,
    )
    cycle = None
    if components is not None:
        cycle = CycleRunner(
            settings=settings,
            monitors=components.monitors,
            decider=components.decider,
            engine=engine,
            clock=clock,
            store=store,
            alerts=alerts,
            out=out,
            publish=publish,
        )
    runner = JobRunner(engine=engine, clock=clock, cycle=cycle, store=store, alerts=alerts)
    return WorkflowRuntime(engine=engine, runner=runner, cycle=cycle, store=store)
