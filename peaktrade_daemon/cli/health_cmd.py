"""``health``: exit 0 when the daemon running on this root is healthy (Docker HEALTHCHECK)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.errors import EXIT_FAILED, EXIT_OK
from peaktrade_daemon.heartbeat import STALE_AFTER_INTERVALS, read_heartbeat
from peaktrade_daemon.instance import is_held, read_pid
from peaktrade_daemon.settings import DaemonSettings

HELP = """\
Exit 0 when a daemon on this root is running and healthy, 1 otherwise (one line says why).

With the HTTP listener on (http.enabled), this asks GET /healthz on the daemon's address
(from state/daemon.heartbeat, else http.host:http.port): 200 is healthy. With the listener off,
it checks locally: the instance lock on state/daemon.pid is held, the recorded pid is alive,
state/daemon.heartbeat says running and is younger than 3 heartbeat intervals
(daemon.heartbeat_interval_s, default 10 s), so a hung daemon turns unhealthy.
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``health``."""
    parser = subparsers.add_parser(
        "health",
        parents=[common],
        help="exit 0 when the running daemon on this root is healthy",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="HTTP timeout (default 5)"
    )
    parser.set_defaults(handler=check_health)


async def _http_check(url: str, timeout_s: float) -> tuple[bool, str]:
    import aiohttp  # only when the daemon serves HTTP; the heartbeat check needs none of it

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as client,
            client.get(f"{url}/healthz") as response,
        ):
            body: dict[str, Any] = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
        return False, f"no answer from {url}/healthz: {type(exc).__name__}: {exc}"
    state = body.get("status", "?")
    if response.status == 200:
        return True, f"healthy ({state}) pid {body.get('pid')} at {url}"
    return False, f"unhealthy ({state}, HTTP {response.status}) at {url}"


def _local_check(settings: DaemonSettings) -> tuple[bool, str]:
    state_dir = settings.path(settings.paths.state_dir)
    if not is_held(state_dir):
        return False, f"no daemon running on {settings.root} (instance lock not held)"
    pid = read_pid(state_dir)
    beat = read_heartbeat(state_dir)
    if pid is None or beat is None:
        return False, "daemon is starting (no pid or heartbeat yet)"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"recorded pid {pid} is not running"
    except PermissionError:
        pass
    updated = datetime.fromisoformat(str(beat.get("updated_at")))
    age = (datetime.now(UTC) - updated).total_seconds()
    limit = STALE_AFTER_INTERVALS * float(beat.get("interval_s") or 10.0)
    if age > limit:
        return False, f"heartbeat is {age:.0f}s old (limit {limit:.0f}s): daemon pid {pid} hung?"
    if beat.get("run_state") not in ("running", "reloading"):
        return False, f"daemon pid {pid} is {beat.get('run_state')}"
    return True, f"healthy: pid {pid} {beat.get('run_state')}, heartbeat {age:.0f}s ago"


def check_health(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    """Run the HTTP check (a coroutine the CLI runs on uvloop) or the local one; one line out."""
    settings = settings_from_args(args)
    if settings.http.enabled:
        beat = read_heartbeat(settings.path(settings.paths.state_dir)) or {}
        url = beat.get("http_url") or f"http://{settings.http.host}:{settings.http.port}"
        return _report_http(str(url), args.timeout)
    healthy, line = _local_check(settings)
    print(line)
    return EXIT_OK if healthy else EXIT_FAILED


async def _report_http(url: str, timeout_s: float) -> int:
    healthy, line = await _http_check(url, timeout_s)
    print(line)
    return EXIT_OK if healthy else EXIT_FAILED
