"""``jobs run --due --once``: run every job whose latest fire time has passed since its last run.

This is how jobs.toml works without the daemon (a system cron entry every few minutes): the
state database remembers, per job, the fire time it last ran for; a job is due when a fire time
lies after that, is not in the future and is within the misfire grace time (see
``triggers.due_fire_time``). Each due job runs once, for its latest fire time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from peaktrade_daemon.scheduling.jobs import JobConfig, JobsFile
from peaktrade_daemon.scheduling.runner import JobOutcome, JobRunner
from peaktrade_daemon.scheduling.triggers import due_fire_time

logger = logging.getLogger(__name__)


def due_jobs(
    jobs: JobsFile,
    *,
    now: datetime,
    last_fire_times: dict[str, datetime],
    default_zone: str | None,
    grace_s: float,
    include_tags: Sequence[str] = (),
    exclude_tags: Sequence[str] = (),
) -> list[tuple[JobConfig, datetime]]:
    """The enabled, tag-selected jobs that are due at ``now``, each with its fire time."""
    due: list[tuple[JobConfig, datetime]] = []
    for job in jobs.jobs:
        if not job.enabled or not job.matches_tags(include_tags, exclude_tags):
            continue
        fire = due_fire_time(
            job, job.zone(default_zone), now, last_fire_times.get(job.name), grace_s
        )
        if fire is not None:
            due.append((job, fire))
    return due


async def run_due_jobs(
    due: Sequence[tuple[JobConfig, datetime]], runner: JobRunner, *, dry_run: bool = False
) -> list[JobOutcome]:
    """Run each job of :func:`due_jobs` once, for its fire time, in order; their outcomes."""
    logger.info("due jobs: %s", [(job.name, fire.isoformat()) for job, fire in due])
    outcomes = []
    for job, fire in due:
        outcomes.append(await runner.run(job, fire_time=fire, trigger="due", dry_run=dry_run))
    return outcomes
