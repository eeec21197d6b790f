"""External-command workflows: a process run through asyncio, never blocking the loop.

The child runs in its own session (process group), so a timeout or a cancellation can kill it
*and everything it spawned*: SIGTERM to the group, a short grace, then SIGKILL, and the child is
always reaped before this returns. A non-zero exit raises :class:`CommandFailed` with the tail
of stderr, which the engine stores as the run's error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peaktrade_daemon.errors import WorkflowError
from peaktrade_daemon.workflows.model import WorkflowFn, WorkflowOutput, WorkflowRun

logger = logging.getLogger(__name__)

OUTPUT_TAIL_CHARS = 8000
KILL_GRACE_S = 2.0


class CommandFailed(WorkflowError):
    """The command exited non-zero (or could not be started)."""

    def __init__(self, message: str, *, returncode: int | None, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A finished command: its exit code and the tails of its output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    pid: int


def _tail(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")[-OUTPUT_TAIL_CHARS:]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """Stop the process group: SIGTERM, a grace period, then SIGKILL; always reap the child."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_GRACE_S)
    # Children may ignore SIGTERM or outlive the leader; the group still exists until they die.
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


async def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_start: asyncio.Future[int] | None = None,
) -> CommandResult:
    """Run ``argv`` with ``env`` added to this process's environment, in ``cwd``.

    Cancel the awaiting task (``asyncio.timeout`` does) to stop it: the process group is killed
    and reaped before the cancellation propagates. ``on_start`` receives the child's pid.
    """
    if not argv:
        raise CommandFailed("empty command", returncode=None, stderr="")
    full_env = {**os.environ, **(env or {})}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise CommandFailed(
            f"cannot start {argv[0]!r}: {exc.strerror or exc}", returncode=None, stderr=""
        ) from exc
    logger.info("command started pid=%d argv=%s", process.pid, list(argv))
    if on_start is not None and not on_start.done():
        on_start.set_result(process.pid)
    try:
        stdout, stderr = await process.communicate()
    except BaseException:
        await asyncio.shield(_terminate(process))
        logger.warning("command pid=%d killed (cancelled or timed out)", process.pid)
        raise
    finally:
        # The leader may exit while children it started keep running in the group.
        _signal_group(process.pid, signal.SIGKILL)
    returncode = process.returncode if process.returncode is not None else -1
    result = CommandResult(tuple(argv), returncode, _tail(stdout), _tail(stderr), process.pid)
    if returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        raise CommandFailed(
            f"command {argv[0]!r} exited with code {returncode}: {detail[0]}",
            returncode=returncode,
            stderr=result.stderr,
        )
    return result


def command_flags(parameters: Mapping[str, Any]) -> list[str]:
    """``{"symbol": "X", "dry_run": True, "quiet": False}`` → ``--symbol X --dry-run``.

    ``true`` is a bare flag, ``false`` and ``None`` are omitted, a list repeats the flag.
    """
    argv: list[str] = []
    for key, value in parameters.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list | tuple):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


def without_env_values(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """``parameters`` as they may be recorded: a command's ``env`` keeps its names only.

    Job environments carry credentials (API keys, tokens); the child process gets them, but
    the state database, ``history`` and the run's report must not.
    """
    env = parameters.get("env")
    if not isinstance(env, Mapping) or not env:
        return dict(parameters)
    return {**parameters, "env": dict.fromkeys(env, "<redacted>")}


def _command_output(result: CommandResult) -> WorkflowOutput:
    summary = {
        "argv": list(result.argv),
        "returncode": result.returncode,
        "pid": result.pid,
        "stdout_tail": result.stdout,
        "stderr_tail": result.stderr,
    }
    markdown = (
        f"# Command run\n\n- command: `{' '.join(result.argv)}`\n- exit code: {result.returncode}\n"
    )
    return WorkflowOutput(summary=summary, markdown=markdown)


def command_workflow(argv: list[str], env: dict[str, str], cwd: Path) -> WorkflowFn:
    """A workflow implementation that runs ``argv`` (a dry run only says what it would run)."""

    async def run(run: WorkflowRun) -> WorkflowOutput:
        if run.dry_run:
            return WorkflowOutput(
                summary={"argv": argv, "would_run": True},
                markdown=f"# Dry run\n\nwould run `{' '.join(argv)}`\n",
            )
        return _command_output(await run_command(argv, env=env, cwd=cwd))

    return run
