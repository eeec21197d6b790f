"""The workflow engine (§5.2): create, execute, cancel and remember workflow runs.

A run moves ``pending → running → completed | failed | cancelled | timed_out``. Each type has a
timeout and a concurrency limit from ``settings.workflows`` (default one run per type; a run
over the limit is refused as ``cancelled`` rather than queued, so a slow type cannot pile up
work behind it). A type configured with ``command = [...]`` runs that external command instead
of its in-process coroutine; the special type ``command`` runs ``parameters["argv"]`` (scheduled
command jobs) and is limited per run name instead of per type.

Finished runs write ``reports/workflows/<run_id>/`` and a row in the state database; dry runs
compute everything and write nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from peaktrade_daemon.alerts.model import AlertEmitter
from peaktrade_daemon.clock import Clock, SystemClock
from peaktrade_daemon.errors import WorkflowError
from peaktrade_daemon.events import Event
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.storage.runs import RunStore, WorkflowRunRow
from peaktrade_daemon.workflows.command import (
    CommandFailed,
    command_flags,
    command_workflow,
    without_env_values,
)
from peaktrade_daemon.workflows.model import (
    WorkflowFinished,
    WorkflowFn,
    WorkflowOutput,
    WorkflowRecord,
    WorkflowResult,
    WorkflowRun,
    WorkflowState,
)
from peaktrade_daemon.workflows.reports import to_jsonable, write_report

logger = logging.getLogger(__name__)

COMMAND_TYPE = "command"


class Closeable(Protocol):
    """Something holding connections (the feeds behind ``WorkflowEngine()``'s workflows)."""

    async def close(self) -> None:
        """Release them; idempotent."""
        ...


KEEP_FINISHED_IN_MEMORY = 500
#: With a state database, finished runs older than these keep their state in memory but not
#: their summary (get_history reads summaries from the database): a market scan of 500 symbols
#: summarises in about half a MiB, and 500 of them would hold hundreds of MiB.
KEEP_SUMMARIES_IN_MEMORY = 20


class WorkflowEngine:
    """Runs workflows with timeouts, concurrency limits, cancellation and persisted history.

    ``WorkflowEngine()`` (a notebook, a script) builds from the embedded defaults of the current
    root (``PEAKTRADE_ROOT`` or the working directory): its settings, the four in-process types
    over real monitors of its market data, reports under its ``reports/``, the system clock,
    history in memory (the daemon passes its state database as ``store``); ``close()`` releases
    the market data connections it opened."""

    def __init__(
        self,
        *,
        settings: DaemonSettings | None = None,
        workflows: Mapping[str, WorkflowFn] | None = None,
        store: RunStore | None = None,
        alerts: AlertEmitter | None = None,
        clock: Clock | None = None,
        publish: Callable[[Event], object] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self._clock = clock or SystemClock()
        self._owned: Closeable | None = None
        if workflows is None:
            # Imported here: the runtime module assembles engines, so it imports this one.
            from peaktrade_daemon.workflows.components import embedded_workflows

            workflows, self._owned = embedded_workflows(self.settings, self._clock)
        self._workflows = dict(workflows)
        self._store = store
        self._alerts = alerts
        self._publish = publish
        self._records: OrderedDict[str, WorkflowRecord] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[WorkflowOutput]] = {}
        self._active: dict[str, set[str]] = {}
        self._executing = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def close(self) -> None:
        """Release what ``WorkflowEngine()`` opened for its own workflows (market data
        connections); nothing for an engine given its workflows."""
        if self._owned is not None:
            owned, self._owned = self._owned, None
            await owned.close()

    @property
    def reports_root(self) -> Path:
        """``reports/workflows`` under the root."""
        return self.settings.path(self.settings.paths.reports_dir) / "workflows"

    def reload(self, settings: DaemonSettings) -> None:
        """Adopt new settings (timeouts, limits, commands) for runs started from now on."""
        self.settings = settings

    def known_types(self) -> list[str]:
        """Workflow types this engine can run."""
        configured = [t for t, s in self.settings.workflows.items() if s.command]
        return sorted({*self._workflows, *configured, COMMAND_TYPE})

    def create_workflow(
        self,
        name: str,
        workflow_type: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        trigger: str = "manual",
        tag: str | None = None,
        timeout_s: float | None = None,
    ) -> str:
        """Register a pending run and return its id (safe as a directory name)."""
        if workflow_type not in self.known_types():
            raise WorkflowError(
                f"unknown workflow type {workflow_type!r} (known: {', '.join(self.known_types())})"
            )
        now = self._clock.now()
        run_id = f"{now:%Y%m%dT%H%M%S}-{workflow_type}-{secrets.token_hex(4)}"
        self._records[run_id] = WorkflowRecord(
            run_id=run_id,
            name=name,
            workflow_type=workflow_type,
            parameters=dict(parameters or {}),
            created_at=now,
            trigger=trigger,
            tag=tag,
            timeout_s=timeout_s,
        )
        self._forget_old()
        return run_id

    def get_workflow_state(self, run_id: str) -> WorkflowState | None:
        """The state of a run this process knows, else None."""
        record = self._records.get(run_id)
        return record.state if record else None

    def get_workflow(self, run_id: str) -> WorkflowRecord | None:
        """The live record of a run this process knows (with a state database, a finished run
        older than the newest ``KEEP_SUMMARIES_IN_MEMORY`` keeps no summary here: the history
        has it)."""
        return self._records.get(run_id)

    def get_active_workflows(self) -> list[WorkflowRecord]:
        """Runs that are pending or running."""
        return [r for r in self._records.values() if not r.state.is_final]

    async def get_history(self, limit: int | None = None) -> list[WorkflowRecord]:
        """Finished runs, newest first: from the state database when there is one (so history
        survives restarts), else from this process's memory."""
        if self._store is not None:
            return [_record_from_row(row) for row in await self._store.runs(limit)]
        finished = [r for r in reversed(self._records.values()) if r.state.is_final]
        return finished if limit is None else finished[:limit]

    def cancel_workflow(self, run_id: str, reason: str = "cancelled by operator") -> bool:
        """Cancel a pending or running run; False if it is unknown or already final."""
        record = self._records.get(run_id)
        if record is None or record.state.is_final:
            return False
        record.cancel_reason = reason
        task = self._tasks.get(run_id)
        if task is not None:
            task.cancel(reason)
        elif record.state is WorkflowState.PENDING:
            record.state = WorkflowState.CANCELLED
            record.error = reason
            record.finished_at = self._clock.now()
        return True

    def cancel_all(self, reason: str) -> int:
        """Cancel every active run (shutdown after the drain timeout); returns how many."""
        return sum(self.cancel_workflow(r.run_id, reason) for r in self.get_active_workflows())

    async def wait_idle(self) -> None:
        """Return once no run is executing (drain): each has reached its final state and that
        state is recorded (report written, history row saved, event published)."""
        await self._idle.wait()

    def _limit_key(self, record: WorkflowRecord) -> str:
        if record.workflow_type == COMMAND_TYPE:
            return f"{COMMAND_TYPE}:{record.name}"
        return record.workflow_type

    def _implementation(self, record: WorkflowRecord) -> WorkflowFn:
        type_settings = self.settings.workflow(record.workflow_type)
        if record.workflow_type == COMMAND_TYPE:
            argv = [str(a) for a in record.parameters.get("argv", ())]
            env = {str(k): str(v) for k, v in dict(record.parameters.get("env", {})).items()}
            cwd = record.parameters.get("cwd")
            return command_workflow(argv, env, Path(cwd) if cwd else self.settings.root)
        if type_settings.command:
            params = {k: v for k, v in record.parameters.items() if k not in ("env", "cwd")}
            argv = [*type_settings.command, *command_flags(params)]
            cwd = self.settings.path(type_settings.cwd) if type_settings.cwd else None
            return command_workflow(argv, dict(type_settings.env), cwd or self.settings.root)
        return self._workflows[record.workflow_type]

    async def execute_workflow(self, run_id: str, dry_run: bool = False) -> WorkflowResult:
        """Run a pending workflow to a final state and return its result (never raises for a
        failure of the workflow itself; only for an unknown or already executed id)."""
        # Counted until the final state is recorded: a drain that only waited for the
        # workflow's own task let shutdown interrupt the report and the history row.
        self._executing += 1
        self._idle.clear()
        try:
            return await self._execute(run_id, dry_run)
        finally:
            self._executing -= 1
            if self._executing == 0:
                self._idle.set()

    async def _execute(self, run_id: str, dry_run: bool) -> WorkflowResult:
        record = self._records.get(run_id)
        if record is None:
            raise WorkflowError(f"unknown workflow run {run_id!r}")
        if record.state is WorkflowState.CANCELLED:
            return self._result(record, dry_run)
        if record.state is not WorkflowState.PENDING:
            raise WorkflowError(f"workflow run {run_id!r} was already executed")
        key = self._limit_key(record)
        limit = self.settings.workflow(record.workflow_type).max_concurrent
        active = self._active.setdefault(key, set())
        if len(active) >= limit:
            record.error = f"refused: {len(active)} run(s) of {key} already active (limit {limit})"
            return await self._finish(record, WorkflowState.CANCELLED, dry_run)
        # Take the slot before the first await: two runs started together must both count.
        active.add(run_id)
        try:
            timeout_s = record.timeout_s or self.settings.workflow(record.workflow_type).timeout_s
            implementation = self._implementation(record)
            record.state = WorkflowState.RUNNING
            record.started_at = self._clock.now()
            if not dry_run:
                await self._persist(record)
        except BaseException:
            active.discard(run_id)
            raise
        if record.cancel_reason is not None:  # cancelled while the running state was saved
            active.discard(run_id)
            record.error = record.cancel_reason
            return await self._finish(record, WorkflowState.CANCELLED, dry_run)
        run = WorkflowRun(
            run_id, record.name, record.workflow_type, record.parameters, dry_run, record.started_at
        )
        logger.info("workflow %s (%s) started dry_run=%s", run_id, record.workflow_type, dry_run)
        task = asyncio.create_task(implementation(run), name=f"workflow-{run_id}")
        self._tasks[run_id] = task
        try:
            async with asyncio.timeout(timeout_s):
                output = await task
        except TimeoutError:
            record.error = f"timed out after {timeout_s:g}s"
            return await self._finish(record, WorkflowState.TIMED_OUT, dry_run)
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if this is not None and this.cancelling():
                # We are being cancelled ourselves (shutdown): record it, then propagate.
                record.error = record.cancel_reason or "cancelled: the caller was cancelled"
                await asyncio.shield(self._finish(record, WorkflowState.CANCELLED, dry_run))
                raise
            record.error = record.cancel_reason or "cancelled"
            return await self._finish(record, WorkflowState.CANCELLED, dry_run)
        except CommandFailed as exc:
            record.error = str(exc)
            record.summary = {"returncode": exc.returncode, "stderr_tail": exc.stderr}
            return await self._finish(record, WorkflowState.FAILED, dry_run)
        except Exception as exc:
            logger.exception("workflow %s failed", run_id)
            record.error = f"{type(exc).__name__}: {exc}"
            return await self._finish(record, WorkflowState.FAILED, dry_run)
        finally:
            self._tasks.pop(run_id, None)
            active.discard(run_id)
        record.summary = to_jsonable(dict(output.summary))
        if not dry_run:
            try:
                recorded = dataclasses.replace(
                    record, parameters=without_env_values(record.parameters)
                )
                record.report_dir = await write_report(
                    self.reports_root, recorded, output, record.summary
                )
            except (OSError, ValueError) as exc:
                record.error = f"report could not be written: {exc}"
                return await self._finish(record, WorkflowState.FAILED, dry_run)
            for alert in output.alerts:
                await self._emit(alert.level, alert.message, {**alert.context, "run_id": run_id})
        return await self._finish(record, WorkflowState.COMPLETED, dry_run)

    async def _emit(self, level: Any, message: str, context: dict[str, Any]) -> None:
        if self._alerts is not None:
            await self._alerts.emit(level, "workflow", message, context)

    async def _finish(
        self, record: WorkflowRecord, state: WorkflowState, dry_run: bool
    ) -> WorkflowResult:
        record.state = state
        record.finished_at = self._clock.now()
        result = self._result(record, dry_run)
        log = logger.info if state is WorkflowState.COMPLETED else logger.warning
        log(
            "workflow %s (%s) %s in %.2fs%s",
            record.run_id,
            record.workflow_type,
            state.value,
            result.duration_s,
            f": {record.error}" if record.error else "",
        )
        if not dry_run:
            await self._persist(record)
            if self._store is not None:
                retention = self.settings.state.retention
                await self._store.prune_runs(workflow_runs=retention.workflow_runs)
            if self._publish is not None:
                self._publish(
                    WorkflowFinished(
                        run_id=record.run_id,
                        workflow_type=record.workflow_type,
                        state=state,
                        duration_s=result.duration_s,
                        error=record.error,
                    )
                )
        return result

    def _result(self, record: WorkflowRecord, dry_run: bool) -> WorkflowResult:
        duration = 0.0
        if record.started_at and record.finished_at:
            duration = (record.finished_at - record.started_at).total_seconds()
        return WorkflowResult(
            run_id=record.run_id,
            workflow_type=record.workflow_type,
            state=record.state,
            success=record.state is WorkflowState.COMPLETED,
            duration_s=duration,
            summary=record.summary,
            error=record.error,
            report_dir=record.report_dir,
            dry_run=dry_run,
        )

    async def _persist(self, record: WorkflowRecord) -> None:
        if self._store is None:
            return
        duration = None
        if record.started_at and record.finished_at:
            duration = (record.finished_at - record.started_at).total_seconds()
        await self._store.save_run(
            WorkflowRunRow(
                run_id=record.run_id,
                name=record.name,
                workflow_type=record.workflow_type,
                state=record.state.value,
                trigger=record.trigger,
                tag=record.tag,
                parameters=to_jsonable(without_env_values(record.parameters)),
                created_at=record.created_at,
                started_at=record.started_at,
                finished_at=record.finished_at,
                duration_s=duration,
                error=record.error,
                report_dir=str(record.report_dir) if record.report_dir else None,
                summary=record.summary,  # JSON data already (see _execute)
            )
        )

    def _forget_old(self) -> None:
        finished = [k for k, r in self._records.items() if r.state.is_final]
        for run_id in finished[: max(0, len(finished) - KEEP_FINISHED_IN_MEMORY)]:
            del self._records[run_id]
        if self._store is not None:
            for run_id in finished[-KEEP_FINISHED_IN_MEMORY:-KEEP_SUMMARIES_IN_MEMORY]:
                self._records[run_id].summary = {}


def _record_from_row(row: WorkflowRunRow) -> WorkflowRecord:
    return WorkflowRecord(
        run_id=row.run_id,
        name=row.name,
        workflow_type=row.workflow_type,
        parameters=dict(row.parameters or {}),
        created_at=row.created_at,
        trigger=row.trigger,
        tag=row.tag,
        state=WorkflowState(row.state),
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        report_dir=Path(row.report_dir) if row.report_dir else None,
        summary=dict(row.summary or {}),
    )
