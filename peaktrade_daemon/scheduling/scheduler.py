"""The in-daemon scheduler: APScheduler 4.0.0a6 over jobs.toml, persisted in the state database.

Facts this relies on (STACK_NOTES, verified against 4.0.0a6):

* ``SQLAlchemyDataStore`` on the state database keeps schedules across restarts; fires missed
  while the daemon was down are coalesced into one job (``CoalescePolicy.latest``) that runs on
  start if it is within ``misfire_grace_s`` of its fire time, and is dropped after it (recorded
  as ``missed`` with a warning alert).
* A fixed ``identity`` lets a restarted daemon reclaim its own leases at once.
* Cron triggers get ``start_time`` in the job's zone (bug #1061), see ``triggers.py``.
* Re-adding a schedule needs ``ConflictPolicy.replace`` to take effect, and replacing resets the
  next fire time; so a reload replaces only schedules whose spec hash (kept in the schedule's
  metadata) changed, removes jobs that went away or were disabled, and leaves the rest alone.
* The scheduler must be entered and exited in the same task (anyio cancel scopes), so
  :meth:`JobScheduler.run` owns it for its whole life; ``start`` only validates.

Each job has its own task (``peaktrade.job:<name>``, at most one running instance) bound to
this object's ``_run_scheduled``; the stored schedule carries only the job's name, and the job's
current definition is looked up when it fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apscheduler import (
    AsyncScheduler,
    CoalescePolicy,
    ConflictPolicy,
    Event,
    JobOutcome,
    JobReleased,
    current_job,
)
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import present
from peaktrade_daemon.scheduling.jobs import JobConfig, JobsFile, load_jobs
from peaktrade_daemon.scheduling.runner import JobRunner
from peaktrade_daemon.scheduling.triggers import build_trigger, run_time
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.db import create_engine_for

logger = logging.getLogger(__name__)

SCHEDULE_PREFIX = "job:"
TASK_PREFIX = "peaktrade.job:"
#: After a cut-short drain, how long jobs get to record their (cancelled) outcome: the command
#: kill grace (2 s) plus a database write.
JOB_RECORD_GRACE_S = 3.0


@dataclass(slots=True)
class SyncReport:
    """What one synchronisation of jobs.toml with the data store changed."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class JobScheduler:
    """The scheduler component (``start``/``run``/``reload``/``drain``/``stop``)."""

    name = "scheduler"

    def __init__(
        self,
        *,
        settings: DaemonSettings,
        runner: JobRunner,
        clock: Clock,
        jobs: JobsFile | None = None,
        include_tags: Sequence[str] = (),
        exclude_tags: Sequence[str] = (),
        jobs_source: Callable[[], JobsFile] | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self._jobs_source = jobs_source
        self._runner = runner
        self._clock = clock
        self._include = tuple(include_tags)
        self._exclude = tuple(exclude_tags)
        self._scheduler: AsyncScheduler | None = None
        self._ready = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._draining = False
        self._running_jobs = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_sync = SyncReport()

    def _jobs_path(self, settings: DaemonSettings) -> Any:
        return settings.path(settings.paths.jobs_file)

    async def start(self) -> None:
        """Load and validate jobs.toml (raises JobConfigError); the scheduler starts in run()."""
        if self.jobs is None:
            self.jobs = await asyncio.to_thread(load_jobs, self._jobs_path(self.settings))
        self._stop_requested.clear()
        self._draining = False

    async def run(self) -> None:
        """Own the APScheduler instance until stop() (or drain()) is requested."""
        if self.jobs is None:
            await self.start()
        engine = create_engine_for(self.settings.database_url)
        try:
            async with AsyncScheduler(
                data_store=SQLAlchemyDataStore(engine),
                identity=self.settings.scheduler.identity,
            ) as scheduler:
                scheduler.subscribe(self._on_released, {JobReleased})
                self.last_sync = await self._sync(scheduler)
                await scheduler.start_in_background()
                self._scheduler = scheduler
                self._ready.set()
                logger.info(
                    "scheduler running with %d schedule(s)", len(await scheduler.get_schedules())
                )
                await self._stop_requested.wait()
                await scheduler.stop()
        finally:
            self._scheduler = None
            self._ready.clear()
            await engine.dispose()

    async def wait_ready(self) -> None:
        """Return once schedules are synced and the scheduler is processing them."""
        await self._ready.wait()

    async def reload(self, settings: DaemonSettings) -> None:
        """Adopt new settings and jobs (from ``jobs_source``, the daemon's validated snapshot,
        else by re-reading jobs.toml); re-sync only changed schedules. On an invalid jobs.toml
        this raises and the old jobs stay in force."""
        if self._jobs_source is not None:
            jobs = self._jobs_source()
        else:
            jobs = await asyncio.to_thread(load_jobs, self._jobs_path(settings))
        self.settings, self.jobs = settings, jobs
        if self._scheduler is not None:
            self.last_sync = await self._sync(self._scheduler)

    async def drain(self) -> None:
        """Stop taking new fires and wait for running jobs to finish, then stop the scheduler.

        APScheduler's ``stop()`` cancels the jobs it is running, so it is only asked to stop once
        they are done; fires that arrive meanwhile are refused (and recorded) instead.
        """
        self._draining = True
        try:
            await self._idle.wait()
        except asyncio.CancelledError:
            # Cut short: the workflow side cancels the runs; let the jobs record how they
            # ended (history row, alert) before the scheduler, and with it their tasks, stops.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), JOB_RECORD_GRACE_S)
            raise
        self._stop_requested.set()

    async def stop(self) -> None:
        """Ask run() to stop the scheduler; idempotent."""
        self._stop_requested.set()

    async def next_fire_times(self) -> dict[str, Any]:
        """``{job name: next fire time}`` as the data store has them (for status and tests)."""
        if self._scheduler is None:
            return {}
        return {
            s.id.removeprefix(SCHEDULE_PREFIX): s.next_fire_time
            for s in await self._scheduler.get_schedules()
            if s.id.startswith(SCHEDULE_PREFIX)
        }

    async def _sync(self, scheduler: AsyncScheduler) -> SyncReport:
        jobs = present(self.jobs, "jobs.toml")
        report = SyncReport()
        default_zone = self.settings.scheduler.timezone or self.settings.daemon.timezone
        grace = self.settings.scheduler.misfire_grace_s
        fired = await self._runner.last_fire_times()
        wanted = {
            SCHEDULE_PREFIX + job.name: job
            for job in jobs.jobs
            if job.enabled
            and job.matches_tags(self._include, self._exclude)
            and not _once_done(job, fired.get(job.name), default_zone)
        }
        existing = {
            s.id: s for s in await scheduler.get_schedules() if s.id.startswith(SCHEDULE_PREFIX)
        }
        for schedule_id in sorted(set(existing) - set(wanted)):
            await scheduler.remove_schedule(schedule_id)
            report.removed.append(schedule_id.removeprefix(SCHEDULE_PREFIX))
        now = self._clock.now()
        for schedule_id, job in wanted.items():
            task_id = TASK_PREFIX + job.name
            # The callable lives only in this process; register it on every start.
            await scheduler.configure_task(
                task_id, func=self._run_scheduled, max_running_jobs=1, misfire_grace_time=grace
            )
            spec_hash = job.spec_hash(default_zone, grace)
            current = existing.get(schedule_id)
            if current is not None and current.metadata.get("spec_hash") == spec_hash:
                report.kept.append(job.name)
                continue
            await scheduler.add_schedule(
                task_id,
                build_trigger(job, job.zone(default_zone), now),
                id=schedule_id,
                kwargs={"job_name": job.name},
                coalesce=CoalescePolicy.latest,
                misfire_grace_time=grace,
                metadata={"spec_hash": spec_hash, "job": job.name},
                conflict_policy=ConflictPolicy.replace,
            )
            (report.replaced if current is not None else report.added).append(job.name)
        logger.info(
            "schedules synced: added=%s replaced=%s removed=%s kept=%d",
            report.added,
            report.replaced,
            report.removed,
            len(report.kept),
        )
        return report

    async def _run_scheduled(self, job_name: str) -> None:
        """The task every schedule runs: look up the job's current definition and run it."""
        job = self.jobs.get(job_name) if self.jobs else None
        if job is None:
            logger.warning("scheduled job %s no longer exists; skipped", job_name)
            return
        fire_time = current_job.get().scheduled_fire_time
        if self._draining:
            await self._runner.record_missed(job_name, fire_time, reason="the daemon is stopping")
            return
        self._running_jobs += 1
        self._idle.clear()
        try:
            await self._runner.run(job, fire_time=fire_time, trigger="scheduler")
        finally:
            self._running_jobs -= 1
            if self._running_jobs == 0:
                self._idle.set()

    async def _on_released(self, event: Event) -> None:
        if not isinstance(event, JobReleased):
            return
        if event.outcome is not JobOutcome.missed_start_deadline:
            return
        job_name = event.task_id.removeprefix(TASK_PREFIX)
        await self._runner.record_missed(job_name, event.scheduled_start)


def _once_done(job: JobConfig, last_fire: datetime | None, default_zone: str | None) -> bool:
    """A once job with a recorded fire at or after its time ran (or was missed) already.

    APScheduler deletes a finished schedule, so without this a restart would add it again and
    run it a second time (or record it missed again, with another alert).
    """
    if job.schedule_type != "once" or last_fire is None:
        return False
    # Without run_at the job's time is "at start": any recorded fire counts.
    return last_fire >= run_time(job, job.zone(default_zone), last_fire)
