"""Running one job, however it was triggered (scheduler, ``jobs run``, ``jobs run --due``).

A ``command`` job runs through the workflow engine as an external-command run (so it gets the
same timeout, cancellation and history as every workflow); a ``workflow`` job runs that type
in-process with ``args`` as parameters, or one autonomous cycle for ``workflow = "auto"``.
Every outcome lands in the job runs table (with the fire time it ran for, which ``--due``
compares against) and raises an alert: info on success, critical on failure. A dry run does
neither; it only reports what would happen.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.scheduling.jobs import JobConfig
from peaktrade_daemon.storage.runs import JobRunRow, RunStore
from peaktrade_daemon.workflows.engine import COMMAND_TYPE, WorkflowEngine

logger = logging.getLogger(__name__)


class CycleSummaryLike(Protocol):
    """What a job needs from a cycle's summary."""

    @property
    def success(self) -> bool: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def error(self) -> str | None: ...


class CycleRunnerLike(Protocol):
    """The autonomous cycle (workflows/cycle.py)."""

    async def run_cycle(
        self,
        *,
        workflow_type: str | None = None,
        dry_run: bool = False,
        tag: str | None = None,
        trigger: str = "cycle",
    ) -> CycleSummaryLike:
        """Run one cycle."""
        ...


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How one job run ended."""

    job_name: str
    success: bool
    outcome: str  # completed | failed | timed_out | cancelled | skipped (cycle action) ...
    run_id: str | None
    error: str | None
    fire_time: datetime | None
    dry_run: bool = False


class JobRunner:
    """Executes jobs and records their outcomes."""

    def __init__(
        self,
        *,
        engine: WorkflowEngine,
        clock: Clock,
        cycle: CycleRunnerLike | None = None,
        store: RunStore | None = None,
        alerts: AlertEmitter | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._cycle = cycle
        self._store = store
        self._alerts = alerts

    async def run(
        self,
        job: JobConfig,
        *,
        fire_time: datetime | None,
        trigger: str,
        dry_run: bool = False,
    ) -> JobOutcome:
        """Run ``job`` once (for ``fire_time``, None for an ad-hoc run) and record it."""
        started = self._clock.now()
        logger.info("job %s starting trigger=%s fire_time=%s", job.name, trigger, fire_time)
        try:
            if job.workflow == "auto":
                outcome = await self._run_cycle(job, fire_time, dry_run)
            else:
                outcome = await self._run_workflow(job, fire_time, trigger, dry_run)
        except Exception as exc:
            # Whatever broke under the job (a component, the database), the run failed: it
            # must still land in history and raise the critical alert, not only a log line.
            logger.exception("job %s raised", job.name)
            error = f"{type(exc).__name__}: {exc}"
            outcome = JobOutcome(job.name, False, "failed", None, error, fire_time, dry_run)
        logger.log(
            logging.INFO if outcome.success else logging.WARNING,
            "job %s %s run=%s%s",
            job.name,
            outcome.outcome,
            outcome.run_id,
            f": {outcome.error}" if outcome.error else "",
        )
        if dry_run:
            return outcome
        if self._store is not None:
            await self._store.add(
                JobRunRow(
                    job_name=job.name,
                    trigger=trigger,
                    fire_time=fire_time,
                    started_at=started,
                    finished_at=self._clock.now(),
                    outcome=outcome.outcome,
                    run_id=outcome.run_id,
                    error=outcome.error,
                )
            )
        if self._alerts is not None:
            context: dict[str, Any] = {
                "job": job.name,
                "run_id": outcome.run_id,
                "trigger": trigger,
                "fire_time": fire_time.isoformat() if fire_time else None,
            }
            if outcome.success:
                await self._alerts.emit(
                    AlertLevel.INFO, "scheduler", f"job {job.name} {outcome.outcome}", context
                )
            else:
                await self._alerts.emit(
                    AlertLevel.CRITICAL,
                    "scheduler",
                    f"job {job.name} {outcome.outcome}: {outcome.error}",
                    context,
                )
        return outcome

    async def last_fire_times(self) -> dict[str, datetime]:
        """Per job, the latest fire time it has a recorded run for (none without a store)."""
        return await self._store.last_fire_times() if self._store is not None else {}

    async def record_missed(
        self,
        job_name: str,
        fire_time: datetime | None,
        *,
        reason: str = "fire time passed beyond the misfire grace time",
    ) -> None:
        """A fire that was not run: dropped by the scheduler past the misfire grace time (the
        daemon was down or busy) or refused while the daemon drains. Recorded, so ``--due`` does
        not run it either, with a warning alert."""
        logger.warning("job %s missed its fire time %s (%s)", job_name, fire_time, reason)
        now = self._clock.now()
        if self._store is not None:
            await self._store.add(
                JobRunRow(
                    job_name=job_name,
                    trigger="scheduler",
                    fire_time=fire_time,
                    started_at=now,
                    finished_at=now,
                    outcome="missed",
                    error=reason,
                )
            )
        if self._alerts is not None:
            await self._alerts.emit(
                AlertLevel.WARNING,
                "scheduler",
                f"job {job_name} missed its fire time ({reason})",
                {"job": job_name, "fire_time": fire_time.isoformat() if fire_time else None},
            )

    async def _run_cycle(
        self, job: JobConfig, fire_time: datetime | None, dry_run: bool
    ) -> JobOutcome:
        if self._cycle is None:
            return JobOutcome(
                job.name, False, "failed", None, "no cycle runner configured", fire_time, dry_run
            )
        requested = job.args.get("workflow_type", "auto")
        # timeout_seconds bounds the whole cycle (monitors, decision and workflow), as it bounds
        # a command or workflow job; the engine records a workflow it interrupts as cancelled.
        try:
            async with asyncio.timeout(job.timeout_seconds):
                summary = await self._cycle.run_cycle(
                    workflow_type=str(requested), dry_run=dry_run, tag=job.name, trigger="job"
                )
        except TimeoutError:
            error = f"timed out after {job.timeout_seconds:g}s"
            return JobOutcome(job.name, False, "timed_out", None, error, fire_time, dry_run)
        outcome = f"cycle {summary.action.lower()}"
        return JobOutcome(
            job.name, summary.success, outcome, summary.run_id, summary.error, fire_time, dry_run
        )

    async def _run_workflow(
        self, job: JobConfig, fire_time: datetime | None, trigger: str, dry_run: bool
    ) -> JobOutcome:
        if job.command is not None:
            workflow_type = COMMAND_TYPE
            parameters: dict[str, Any] = {
                "argv": job.argv(),
                "env": dict(job.env),
                "cwd": str(self._engine.settings.root),
            }
        else:
            workflow_type = str(job.workflow)
            parameters = dict(job.args)
        run_id = self._engine.create_workflow(
            job.name,
            workflow_type,
            parameters,
            trigger=f"job:{trigger}",
            tag=job.name,
            timeout_s=job.timeout_seconds,
        )
        result = await self._engine.execute_workflow(run_id, dry_run=dry_run)
        return JobOutcome(
            job.name,
            result.success,
            result.state.value,
            run_id,
            result.error,
            fire_time,
            dry_run,
        )
