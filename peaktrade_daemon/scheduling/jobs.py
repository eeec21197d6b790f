"""``config/scheduler/jobs.toml``: the job model and its strict loader (§5.3).

Every ``[[job]]`` field of the original scheduler is honoured: ``name`` (unique, required),
``description``, ``command`` (text or list), ``args`` (``script`` first, other keys become
``--key-with-dashes`` flags, ``true`` a bare flag, ``false`` omitted), ``env``,
``schedule_type`` = ``once`` (``run_at``, else at the first start; never again once it has
a recorded fire) | ``interval`` (``interval_seconds``) |
``daily`` (``daily_time = "HH:MM"``) | ``cron`` (``cron = "15 8 * * *"``), ``timezone`` (else
the ``[scheduler]`` default, else UTC), ``enabled``, ``tags``, ``timeout_seconds``. New:
``workflow``, a workflow type run in-process with ``args`` as its parameters (``walk_forward``:
the built-in learner, §10), or ``auto`` for one autonomous cycle (§5.1), as the alternative to
``command``.

Validation is strict: an unknown field, a field that does not belong to the schedule type, a bad
time, zone or cron expression, a duplicate name, or neither/both of ``command`` and ``workflow``
raise :class:`JobConfigError` naming the file, the job and the field; so does ``env`` on a
``workflow`` job, where it would silently do nothing. A command must be startable as written: it
splits like a shell line (quotes closed), its program is not empty, and no part of it, of its
arguments or of its environment holds a NUL byte (the OS refuses those only when the job fires).
``interval_seconds`` and ``timeout_seconds`` are finite; an interval is at most ten years.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from peaktrade_daemon.errors import ConfigError, JobConfigError
from peaktrade_daemon.settings import read_toml_file
from peaktrade_daemon.workflows.command import command_flags

ScheduleType = Literal["once", "interval", "daily", "cron"]
JobWorkflow = Literal[
    "auto", "signal_analysis", "risk_check", "market_scan", "portfolio_analysis", "walk_forward"
]
Scalar = str | int | float | bool
SCHEDULE_FIELDS: dict[str, str] = {
    "once": "run_at",
    "interval": "interval_seconds",
    "daily": "daily_time",
    "cron": "cron",
}
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Longer is a typo (and beyond what datetime arithmetic on the next fire time can hold).
MAX_INTERVAL_S = 10 * 365.25 * 86_400


class JobConfig(BaseModel):
    """One validated ``[[job]]`` entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    description: str = ""
    command: str | list[str] | None = None
    workflow: JobWorkflow | None = None
    args: dict[str, Scalar | list[Scalar]] = {}
    env: dict[str, str] = {}
    schedule_type: ScheduleType
    interval_seconds: float | None = Field(None, gt=0, le=MAX_INTERVAL_S, allow_inf_nan=False)
    daily_time: str | None = None
    cron: str | None = None
    run_at: datetime | None = None
    timezone: str | None = None
    enabled: StrictBool = True
    tags: list[str] = []
    timeout_seconds: float | None = Field(None, gt=0, allow_inf_nan=False)

    def zone(self, default: str | None) -> ZoneInfo:
        """The job's time zone: its own, else the scheduler default, else UTC."""
        return ZoneInfo(self.timezone or default or "UTC")

    def argv(self) -> list[str]:
        """The command line of a command job (``args.script`` first, then flags)."""
        if self.command is None:
            return []
        base = shlex.split(self.command) if isinstance(self.command, str) else list(self.command)
        rest = {k: v for k, v in self.args.items() if k != "script"}
        script = [str(self.args["script"])] if "script" in self.args else []
        return [*base, *script, *command_flags(rest)]

    def schedule_text(self) -> str:
        """A short human description (``daily 08:15``, ``cron 0 * * * *``)."""
        if self.schedule_type == "interval":
            return f"every {self.interval_seconds:g}s"
        if self.schedule_type == "daily":
            return f"daily {self.daily_time}"
        if self.schedule_type == "cron":
            return f"cron {self.cron}"
        return f"once {self.run_at.isoformat() if self.run_at else 'at start'}"

    def spec_hash(self, default_zone: str | None, misfire_grace_s: float) -> str:
        """A digest of everything that shapes the schedule (not what the job runs): a reload
        re-adds a schedule only when this changes, so others keep their next fire time."""
        spec = {
            "schedule_type": self.schedule_type,
            "interval_seconds": self.interval_seconds,
            "daily_time": self.daily_time,
            "cron": self.cron,
            "run_at": self.run_at.isoformat() if self.run_at else None,
            "timezone": self.zone(default_zone).key,
            "misfire_grace_s": misfire_grace_s,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    def matches_tags(self, include: Sequence[str], exclude: Sequence[str]) -> bool:
        """Tag filter: any of ``include`` (when given) and none of ``exclude``."""
        if include and not set(include) & set(self.tags):
            return False
        return not set(exclude) & set(self.tags)


@dataclass(frozen=True, slots=True)
class JobsFile:
    """All jobs of one jobs.toml, in file order."""

    path: Path
    jobs: tuple[JobConfig, ...]

    def get(self, name: str) -> JobConfig | None:
        """A job by name."""
        return next((job for job in self.jobs if job.name == name), None)


def parse_hhmm(text: str) -> tuple[int, int]:
    """``"08:15"`` → ``(8, 15)``; ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    digits = hours + minutes
    if (
        not sep
        or len(hours) != 2
        or len(minutes) != 2
        or not (digits.isascii() and digits.isdigit())
    ):
        raise ValueError(f"invalid time {text!r}: expected HH:MM")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"invalid time {text!r}: expected HH:MM between 00:00 and 23:59")
    return h, m


def _fail(path: Path, job: str, field: str, problem: str) -> JobConfigError:
    shown = job if len(job) <= 60 else job[:57] + "..."
    error = JobConfigError(f"job {shown!r}, field {field!r}: {problem}", file=path)
    error.key = f"{job}.{field}"
    return error


def _cross_check(job: JobConfig, path: Path) -> None:
    from apscheduler.triggers.cron import CronTrigger

    if (job.command is None) == (job.workflow is None):
        field = "command" if job.command is None else "workflow"
        problem = "exactly one of 'command' or 'workflow' is required"
        raise _fail(path, job.name, field, problem)
    if isinstance(job.command, list) and not job.command:
        raise _fail(path, job.name, "command", "must not be empty")
    if job.command is not None:
        _check_command(job, path)
    if job.env and job.command is None:
        # An in-process workflow shares the daemon's environment: env would silently do nothing.
        raise _fail(path, job.name, "env", "only valid with 'command' (an external process)")
    needed = SCHEDULE_FIELDS[job.schedule_type]
    for field in SCHEDULE_FIELDS.values():
        if field != needed and getattr(job, field) is not None:
            problem = f"only valid with schedule_type {_type_of(field)!r}"
            raise _fail(path, job.name, field, f"{problem}, not {job.schedule_type!r}")
    if job.schedule_type != "once" and getattr(job, needed or "") is None:
        raise _fail(
            path, job.name, needed or "", f"required for schedule_type {job.schedule_type!r}"
        )
    try:
        if job.timezone is not None:
            ZoneInfo(job.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long
        zone = (job.timezone or "")[:60]
        raise _fail(path, job.name, "timezone", f"unknown time zone {zone!r}") from None
    if job.daily_time is not None:
        try:
            parse_hhmm(job.daily_time)
        except ValueError as exc:
            raise _fail(path, job.name, "daily_time", str(exc)) from None
    if job.cron is not None:
        try:
            CronTrigger.from_crontab(job.cron, timezone="UTC")
        except (ValueError, TypeError) as exc:
            raise _fail(
                path, job.name, "cron", f"invalid cron expression {job.cron!r}: {exc}"
            ) from None


def _check_command(job: JobConfig, path: Path) -> None:
    """Refuse at load what would only fail when the job fires (exec refuses NUL bytes)."""
    try:
        argv = job.argv()
    except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
        raise _fail(
            path, job.name, "command", f"cannot be split like a shell line: {exc}"
        ) from None
    if not argv or not argv[0]:
        raise _fail(path, job.name, "command", "the program (first word) is empty")
    for part in argv:
        if "\0" in part:
            raise _fail(path, job.name, "command", f"contains a NUL byte: {part!r}")
    for key, value in job.env.items():
        if not ENV_NAME_PATTERN.fullmatch(key):
            raise _fail(path, job.name, "env", f"{key!r} is not a valid environment variable name")
        if "\0" in value:
            raise _fail(path, job.name, "env", f"{key} contains a NUL byte")


def _type_of(field: str) -> str:
    return next(t for t, f in SCHEDULE_FIELDS.items() if f == field)


def validate_jobs(document: Mapping[str, Any], path: Path) -> JobsFile:
    """Validate a parsed jobs.toml document (see the module docstring for the rules)."""
    unknown = sorted(set(document) - {"job"})
    if unknown:
        raise JobConfigError(
            f"unknown top-level key(s) {unknown}; jobs are [[job]] tables", file=path
        )
    entries = document.get("job", [])
    if not isinstance(entries, list):
        raise JobConfigError("'job' must be an array of tables ([[job]])", file=path)
    jobs: list[JobConfig] = []
    seen: set[str] = set()
    for index, raw in enumerate(entries, start=1):
        if not isinstance(raw, Mapping):
            raise JobConfigError(f"job #{index} is not a table", file=path)
        label = str(raw.get("name") or f"#{index}")
        try:
            job = JobConfig.model_validate(dict(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "?"
            raise _fail(path, label, field, first["msg"]) from None
        if job.name in seen:
            raise _fail(path, job.name, "name", "duplicate job name")
        seen.add(job.name)
        _cross_check(job, path)
        jobs.append(job)
    return JobsFile(path, tuple(jobs))


def load_jobs(path: Path) -> JobsFile:
    """Read and validate ``path``; a missing file means no jobs. Raises JobConfigError."""
    if not path.exists():
        return JobsFile(path, ())
    try:
        document = read_toml_file(path, what="jobs file")
    except ConfigError as exc:  # same message, but typed as a jobs.toml problem
        raise JobConfigError(exc.problem, file=exc.file, line=exc.line, column=exc.column) from exc
    return validate_jobs(document, path)
