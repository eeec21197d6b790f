"""What the daemon costs to run: start-to-READY time, RSS, idle CPU, RSS after one hour of cycles.

Every figure is taken from a real ``python -OO -P -m peaktrade_daemon --root <tmp> --continuous
--poll-interval 300`` subprocess (the interpreter flags the systemd unit, the Docker image and
``make run`` use: ``peaktrade_daemon.bytecode.DEPLOYED_FLAGS``) on a temporary root holding the
shipped ``config/`` and ``data/`` (the embedded default: SQLite state, replay feed, scheduler,
promotion worker, alert outbox; the HTTP listener is off, so neither aiohttp nor
prometheus_client is imported).

- **start to READY**: wall time from ``Popen`` to the ``READY=1`` datagram on a fake
  ``NOTIFY_SOCKET`` (an AF_UNIX datagram socket this script binds); the median of ``STARTS``
  fresh starts, each on a fresh root (so every start creates its database). The package's
  bytecode is compiled first (``compileall``, levels 0 and 2, into ``__pycache__``), which is
  the state an installed daemon starts from: ``pip install .`` and the install's ``compileall``
  step (the Docker image, the systemd unit's venv) byte-compile every module, and an editable install writes its ``__pycache__`` on first run
  unless ``PYTHONDONTWRITEBYTECODE`` is set (it is in some CI and sandbox shells, and then every
  start would compile ~130 modules from source: about 0.3 s more).
- **start to READY, source only**: the same, from a copy of the package without bytecode and
  with ``PYTHONDONTWRITEBYTECODE=1``: what that costs (no target).
- **CPU to READY**: ``utime + stime`` of the daemon at READY (median): the start-up's own cost,
  which a machine busy with other work inflates far less than the wall time.
- **RSS after READY**: ``VmRSS`` from ``/proc/<pid>/status`` right after READY.
- **RSS after READY, plain python**: the same started without the deployed flags (docstrings
  and asserts kept): what -OO saves.
- **idle CPU**: ``utime + stime`` from ``/proc/<pid>/stat`` over ``BENCH_IDLE_S`` seconds
  (default 60) that start ``SETTLE_S`` seconds after READY, so the first cycle (which runs at
  start) is over; with a poll interval of 300 s no further cycle falls in the window.
- **RSS after one hour simulated**: one hour at the shipped interval is 12 cycles. The daemon is
  started with ``--poll-interval 0.25`` and its ``VmRSS`` read once the state database holds 12
  finished cycles (``cycle_summaries`` rows): the same cycles, compressed in time. Scheduled jobs
  whose cron time does not fall in that window do not run, as they would not in a real hour.
- **RSS after one hour simulated, as deployed**: the same with ``MALLOC_ARENA_MAX=2``, which
  the systemd unit and the Docker image set (two glibc malloc arenas instead of one per
  allocating thread); the default's figure is the baseline.
- **RSS after READY, [http] enabled**: one more start with ``PEAKTRADE_HTTP__ENABLED=true`` (port
  0): what the listener, ``/metrics`` and the review page add (no target; the default's RSS is
  the baseline).
- **one-shot CLI**: wall time and peak RSS (``wait4``) of ``config show``, the kind of command
  an operator (and the test suite, hundreds of times) runs; each command imports only its own
  module (no target; ``python -c pass`` is the baseline).

Baselines measured in the same run: ``python -c pass`` (start time, RSS), a bare uvloop
process idling on a sleep (RSS, idle CPU), and for the start-up rows the *library floor*: a
process that only imports the libraries the daemon starts with (SQLAlchemy's asyncio extension
with aiosqlite, APScheduler's SQLAlchemy data store, numpy, pydantic-settings, uvloop), under the
same flags, so a loaded or slow machine shows up in both columns and the difference is the
daemon's own cost.

Run: ``python bench/footprint.py`` (``BENCH_IDLE_S=10`` for a quick look).
"""

from __future__ import annotations

import compileall
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peaktrade_daemon.bytecode import DEPLOYED_FLAGS

PROJECT = Path(__file__).resolve().parent.parent
STARTS = 3
SETTLE_S = 5.0
READY_TIMEOUT_S = 30.0
HOUR_CYCLES = 12  # one hour at the shipped 300 s poll interval
TICK = os.sysconf("SC_CLK_TCK")
#: What the systemd unit and the Docker image add to the environment (deploy/, Dockerfile).
DEPLOYED_ENV = {"MALLOC_ARENA_MAX": "2"}
LIBRARY_FLOOR = (
    "import sqlalchemy.ext.asyncio, sqlalchemy.dialects.sqlite.aiosqlite, numpy, uvloop\n"
    "import apscheduler.datastores.sqlalchemy, pydantic_settings"
)
IDLE_UVLOOP = (
    "import asyncio, uvloop\nasync def m():\n    await asyncio.sleep(3600)\nuvloop.run(m())"
)


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def idle_cpu_percent(pid: int, window_s: float) -> float:
    """CPU use of ``pid`` over ``window_s`` seconds of wall time, in percent of one core."""
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(window_s)
    c1, t1 = cpu_s(pid), time.monotonic()
    return (c1 - c0) / (t1 - t0) * 100


@contextmanager
def project_root() -> Iterator[Path]:
    """A temporary root with the shipped config/ and data/ (what ``make run`` would use)."""
    root = Path(tempfile.mkdtemp(prefix="pt-footprint-"))
    try:
        shutil.copytree(PROJECT / "config", root / "config")
        shutil.copytree(PROJECT / "data", root / "data")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    """A bound AF_UNIX datagram socket standing in for systemd's notify socket."""
    directory = tempfile.mkdtemp(prefix="ptn", dir="/tmp")  # AF_UNIX paths are short
    path = os.path.join(directory, "n.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        sock.settimeout(READY_TIMEOUT_S)
        yield path, sock
    finally:
        sock.close()
        shutil.rmtree(directory, ignore_errors=True)


def compile_package() -> None:
    """Byte-compile the package into its ``__pycache__``, as ``pip install`` does."""
    if not compileall.compile_dir(PROJECT / "peaktrade_daemon", quiet=1, optimize=[0, 2]):
        raise RuntimeError("the package does not byte-compile")


@contextmanager
def source_only_package() -> Iterator[Path]:
    """A directory holding a copy of the package without any bytecode (for ``PYTHONPATH``)."""
    directory = Path(tempfile.mkdtemp(prefix="pt-source-"))
    try:
        shutil.copytree(
            PROJECT / "peaktrade_daemon",
            directory / "peaktrade_daemon",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def daemon(
    root: Path,
    poll_s: float,
    package_dir: Path = PROJECT,
    extra_env: Mapping[str, str] | None = None,
    flags: Sequence[str] = DEPLOYED_FLAGS,
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """A running daemon (started with the interpreter ``flags``) and its start-to-READY time;
    stopped with SIGTERM afterwards."""
    with notify_socket() as (path, sock):
        env = dict(os.environ, NOTIFY_SOCKET=path, PYTHONPATH=str(package_dir), **(extra_env or {}))
        args = ["--root", str(root), "--continuous", "--poll-interval", str(poll_s)]
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, *flags, "-m", "peaktrade_daemon", *args],
            env=env,
            cwd=root,  # not the project: ``-m`` puts the working directory first on sys.path
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while b"READY=1" not in sock.recv(4096).split(b"\n"):
                pass
            yield proc, time.perf_counter() - start
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def python_pass() -> tuple[float, float]:
    """Start time of ``python -c pass`` (median of STARTS) and the RSS of an idle bare python."""
    times = []
    for _ in range(STARTS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        time.sleep(0.5)
        rss = rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return statistics.median(times), rss


def library_floor() -> float:
    """Median wall time of a process that only imports the daemon's start-up libraries."""
    times = []
    for _ in range(STARTS):
        start = time.perf_counter()
        subprocess.run([sys.executable, *DEPLOYED_FLAGS, "-c", LIBRARY_FLOOR], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_uvloop(window_s: float) -> tuple[float, float]:
    """RSS and idle CPU of a bare uvloop process awaiting a long sleep."""
    proc = subprocess.Popen([sys.executable, "-c", IDLE_UVLOOP])
    try:
        time.sleep(1.0)
        return rss_mb(proc.pid), idle_cpu_percent(proc.pid, window_s)
    finally:
        proc.kill()
        proc.wait()


def finished_cycles(root: Path) -> int:
    """Rows in ``cycle_summaries`` (0 until the daemon has created its database)."""
    db = root / "state" / "peaktrade.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM cycle_summaries").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the table does not exist yet


def hour_rss(extra_env: Mapping[str, str] | None = None) -> float:
    """RSS once HOUR_CYCLES cycles have run back to back (one simulated hour)."""
    with project_root() as root, daemon(root, 0.25, extra_env=extra_env) as (proc, _):
        deadline = time.monotonic() + 300
        while finished_cycles(root) < HOUR_CYCLES:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon stopped or stalled before {HOUR_CYCLES} cycles")
            time.sleep(0.2)
        return rss_mb(proc.pid)


def source_only_ready() -> float:
    """Median start-to-READY time of a package copy without bytecode that may not write any."""
    times = []
    with source_only_package() as package_dir:
        for _ in range(STARTS):
            with (
                project_root() as root,
                daemon(root, 300, package_dir, {"PYTHONDONTWRITEBYTECODE": "1"}) as (_, elapsed),
            ):
                times.append(elapsed)
    return statistics.median(times)


def plain_rss() -> float:
    """Median RSS right after READY of daemons started without the deployed flags."""
    rss = []
    for _ in range(STARTS):
        with project_root() as root, daemon(root, 300, flags=()) as (proc, _):
            rss.append(rss_mb(proc.pid))
    return statistics.median(rss)


def http_rss() -> float:
    """RSS right after READY of a daemon with the HTTP listener on (an ephemeral port)."""
    with project_root() as root:
        http = {"PEAKTRADE_HTTP__ENABLED": "true", "PEAKTRADE_HTTP__PORT": "0"}
        with daemon(root, 300, extra_env=http) as (proc, _):
            return rss_mb(proc.pid)


def cli_config_show() -> tuple[float, float]:
    """Median wall time of ``config show`` over STARTS runs, and its peak RSS in MiB."""
    times, peaks = [], []
    with project_root() as root:
        env = dict(os.environ, PYTHONPATH=str(PROJECT))
        argv = [sys.executable, "-m", "peaktrade_daemon", "--root", str(root), "config", "show"]
        for _ in range(STARTS):
            start = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            times.append(time.perf_counter() - start)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise RuntimeError(f"config show exited {proc.returncode}")
            peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(times), max(peaks)


def main() -> list[dict[str, Any]]:
    """Measure and return the rows (see the module docstring)."""
    idle_s = float(os.environ.get("BENCH_IDLE_S", "60"))
    compile_package()
    pass_s, pass_rss = python_pass()
    floor_s = library_floor()
    uv_rss, uv_cpu = bare_uvloop(min(idle_s, 10.0))
    ready, cpu_ready, rss_ready = [], [], []
    idle_cpu = rss_idle = 0.0
    for i in range(STARTS):
        with project_root() as root, daemon(root, 300) as (proc, elapsed):
            ready.append(elapsed)
            cpu_ready.append(cpu_s(proc.pid))
            rss_ready.append(rss_mb(proc.pid))
            if i == STARTS - 1:
                time.sleep(SETTLE_S)
                idle_cpu = idle_cpu_percent(proc.pid, idle_s)
                rss_idle = rss_mb(proc.pid)
    ready_source = source_only_ready()
    rss_plain = plain_rss()
    rss_hour = hour_rss()
    rss_hour_deployed = hour_rss(DEPLOYED_ENV)
    rss_http = http_rss()
    cli_s, cli_rss = cli_config_show()
    return [
        {"name": "start to READY (median)", "value": statistics.median(ready), "unit": "s",
         "target": 1.5, "baseline": floor_s},
        {"name": "start to READY, source only (median)", "value": ready_source, "unit": "s",
         "target": None, "baseline": statistics.median(ready)},
        {"name": "CPU time to READY (median)", "value": statistics.median(cpu_ready),
         "unit": "s", "target": None, "baseline": floor_s},
        {"name": "RSS after READY (median)", "value": statistics.median(rss_ready), "unit": "MiB",
         "target": 90.0, "baseline": pass_rss, "better": "lower"},
        {"name": "RSS after READY, plain python (median)", "value": rss_plain, "unit": "MiB",
         "target": None, "baseline": statistics.median(rss_ready), "better": "lower"},
        {"name": f"idle CPU over {idle_s:g} s (poll 300 s)", "value": idle_cpu, "unit": "%",
         "target": 0.3, "baseline": uv_cpu, "better": "lower"},
        {"name": "RSS after idle window", "value": rss_idle, "unit": "MiB",
         "target": 90.0, "baseline": uv_rss, "better": "lower"},
        {"name": f"RSS after one hour simulated ({HOUR_CYCLES} cycles)", "value": rss_hour,
         "unit": "MiB", "target": 90.0, "baseline": uv_rss, "better": "lower"},
        {"name": "RSS after one hour simulated, as deployed", "value": rss_hour_deployed,
         "unit": "MiB", "target": 90.0, "baseline": rss_hour, "better": "lower"},
        {"name": "RSS after READY, [http] enabled", "value": rss_http, "unit": "MiB",
         "target": None, "baseline": statistics.median(rss_ready), "better": "lower"},
        {"name": "one-shot CLI: config show (median)", "value": cli_s, "unit": "s",
         "target": None, "baseline": pass_s},
        {"name": "one-shot CLI: config show peak RSS", "value": cli_rss, "unit": "MiB",
         "target": None, "baseline": pass_rss, "better": "lower"},
    ]  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT))
    from bench.run_all import print_table

    sys.exit(print_table(main()))
