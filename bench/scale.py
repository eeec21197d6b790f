"""How the daemon scales with the number of symbols: 3, 30, 150 and 500 replayed symbols.

Each size runs the real daemon as deployed (``python -OO -P -m peaktrade_daemon --root <tmp>
--continuous``: the interpreter flags of the systemd unit, the Docker image and ``make run``,
``peaktrade_daemon.bytecode.DEPLOYED_FLAGS``) on a scratch root holding the shipped ``config/``
with its ``[symbols]`` table replaced by ``N`` replay symbols, each reading its own copy of one
of the bundled samples (BTCUSD monthly, EURUSD hourly, GOOG daily, in turn, with their
timeframes and calendars), so every symbol's file is parsed on its own, as on a desk with ``N``
instruments. Figures per size:

- **start to READY**: ``Popen`` to the ``READY=1`` datagram (the daemon reads no market data
  before READY, so this should not grow with ``N``); at 3 symbols, where it has a target, the
  median of ``READY_STARTS`` starts.
- **RSS after READY**: ``VmRSS`` right after READY (at 3 symbols the median likewise); at 3
  symbols also started without the deployed flags (docstrings and asserts kept), to show what
  -OO saves.
- **first cycle**: the first autonomous cycle's duration as the daemon recorded it
  (``cycle_summaries.finished_at - started_at``): every file parsed, every indicator, strategy
  and paper book computed, the decision taken, the chosen workflow run and its report written.
- **steady cycle**: the median of the next ``STEADY_CYCLES`` cycles (``--poll-interval``
  ``POLL_S``): the windows have not changed (a bar outlasts the shipped 300 s poll interval),
  which is what a running daemon does almost every poll.
- **CPU of the first / a steady cycle**: the daemon's ``utime + stime`` (``/proc/<pid>/stat``)
  from READY to the end of the first cycle, and from there to the end of the last measured one
  divided by their number (the idle poll intervals in between add well under 1 %): the cycle's
  own cost, which a machine busy with other work inflates far less than the wall time.
- **RSS after the cycles**: ``VmRSS`` after ``RSS_CYCLES`` cycles, when it has levelled off:
  the workflow engine keeps the summaries of its newest ``KEEP_SUMMARIES_IN_MEMORY`` runs (a
  market scan of 500 symbols summarises in about a third of a MiB), and every cycle here runs
  one.

Baselines, measured in the same run: for the start-up rows the *library floor* (a process that
only imports the libraries the daemon starts with, as in ``bench/footprint.py``, under the same
flags: its wall time and its RSS), for the cycle and RSS rows the same figure at 3 symbols, so
the table shows what each symbol adds. Targets (issue 17): at 500 symbols first cycle < 2 s,
steady cycle < 0.3 s, RSS < 150 MiB; at 3 symbols READY < 1 s and RSS after READY < 80 MiB.

Run: ``python bench/scale.py`` (``BENCH_SCALE_SIZES=3,500`` for a subset).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import tomlkit

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench.footprint import LIBRARY_FLOOR, compile_package, cpu_s, daemon, rss_mb  # noqa: E402
from peaktrade_daemon.bytecode import DEPLOYED_FLAGS  # noqa: E402
from peaktrade_daemon.workflows.engine import KEEP_SUMMARIES_IN_MEMORY  # noqa: E402

SIZES = (3, 30, 150, 500)
STEADY_CYCLES = 5
POLL_S = 0.5  # longer than the DB polling below: a cycle's CPU is read before the next starts
RSS_CYCLES = 1 + KEEP_SUMMARIES_IN_MEMORY + STEADY_CYCLES
READY_STARTS = 3
CYCLE_TIMEOUT_S = 300.0
COPY = "-copy-of-"  # S0001-copy-of-BTCUSD.csv
#: (file, timeframe, calendar) of the bundled samples, as the shipped daemon.toml replays them.
SAMPLES = (
    ("BTCUSD.csv", "1M", "crypto"),
    ("EURUSD.csv", "1h", "fx"),
    ("GOOG.csv", "1d", "nasdaq"),
)


@dataclass(frozen=True, slots=True)
class Figures:
    """What one size measured."""

    symbols: int
    ready_s: float
    rss_ready_mib: float
    first_cycle_s: float
    steady_cycle_s: float
    first_cycle_cpu_s: float
    steady_cycle_cpu_s: float
    rss_cycles_mib: float


def symbol_table(count: int) -> dict[str, dict[str, str]]:
    """``[symbols]`` of ``count`` replay symbols over copies of the samples (``S0001`` ...)."""
    table = {}
    for i in range(count):
        name, timeframe, calendar = SAMPLES[i % len(SAMPLES)]
        table[f"S{i + 1:04d}"] = {
            "feed": "replay",
            "file": f"S{i + 1:04d}{COPY}{name}",
            "timeframe": timeframe,
            "calendar": calendar,
        }
    return table


def renamed(
    names: Sequence[str], shipped: Mapping[str, Any], table: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """``names`` of the shipped ``[symbols]`` as the first scaled symbol replaying the same
    sample (``EUR/USD`` -> ``S0002``), so settings that name symbols stay valid."""
    first = {}
    for name, spec in table.items():
        first.setdefault(spec["file"].split(COPY, 1)[1], name)
    return [first[shipped[n]["file"]] for n in names]


@contextmanager
def scaled_root(count: int) -> Iterator[Path]:
    """A temporary root: the shipped config with ``count`` symbols, each with its own file."""
    root = Path(tempfile.mkdtemp(prefix=f"pt-scale-{count}-"))
    try:
        shutil.copytree(PROJECT / "config", root / "config")
        samples = root / "data" / "samples"
        samples.mkdir(parents=True)
        table = symbol_table(count)
        for spec in table.values():
            sample = spec["file"].split(COPY, 1)[1]
            shutil.copyfile(PROJECT / "data" / "samples" / sample, samples / spec["file"])
        toml_path = root / "config" / "daemon.toml"
        document = tomlkit.parse(toml_path.read_text(encoding="utf-8"))
        shipped = document["symbols"]
        document["symbols"] = table
        learner = document.get("learning", {}).get("walk_forward", {})
        if learner.get("symbols"):  # a shipped name is not under [symbols] any more
            learner["symbols"] = renamed(learner["symbols"], shipped, table)
        toml_path.write_text(tomlkit.dumps(document), encoding="utf-8")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cycle_durations(root: Path) -> list[float]:
    """Durations (s) of the finished cycles in the state database, oldest first."""
    db = root / "state" / "peaktrade.db"
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT started_at, finished_at FROM cycle_summaries ORDER BY started_at"
            ).fetchall()
    except sqlite3.OperationalError:
        return []  # the table does not exist yet
    return [
        (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        for start, end in rows
    ]


def _wait_cycles(root: Path, proc: subprocess.Popen[bytes], cycles: int) -> list[float]:
    deadline = time.monotonic() + CYCLE_TIMEOUT_S
    while len(durations := cycle_durations(root)) < cycles:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{root}: the daemon stopped or stalled before {cycles} cycles")
        time.sleep(0.05)
    return durations


def measure(count: int) -> Figures:
    """Start a daemon on ``count`` symbols and take its figures (see the module docstring)."""
    with scaled_root(count) as root, daemon(root, POLL_S) as (proc, ready_s):
        cpu_ready, rss_ready = cpu_s(proc.pid), rss_mb(proc.pid)
        _wait_cycles(root, proc, 1)
        cpu_first = cpu_s(proc.pid)
        durations = _wait_cycles(root, proc, 1 + STEADY_CYCLES)
        cpu_last = cpu_s(proc.pid)
        _wait_cycles(root, proc, RSS_CYCLES)
        rss_cycles = rss_mb(proc.pid)
    return Figures(
        symbols=count,
        ready_s=ready_s,
        rss_ready_mib=rss_ready,
        first_cycle_s=durations[0],
        steady_cycle_s=statistics.median(durations[1 : 1 + STEADY_CYCLES]),
        first_cycle_cpu_s=cpu_first - cpu_ready,
        steady_cycle_cpu_s=(cpu_last - cpu_first) / STEADY_CYCLES,
        rss_cycles_mib=rss_cycles,
    )


def ready_median(
    count: int, first: tuple[float, float] | None = None, *, flags: Sequence[str] = DEPLOYED_FLAGS
) -> tuple[float, float]:
    """Median start-to-READY time and RSS after READY over ``READY_STARTS`` starts with the
    interpreter ``flags`` (``first``: one ``measure`` already made), each on a fresh root."""
    times, rss = ([first[0]], [first[1]]) if first else ([], [])
    while len(times) < READY_STARTS:
        with scaled_root(count) as root, daemon(root, 300, flags=flags) as (proc, ready_s):
            times.append(ready_s)
            rss.append(rss_mb(proc.pid))
    return statistics.median(times), statistics.median(rss)


def library_floor() -> tuple[float, float]:
    """Wall time (median of 3) and RSS of a process that only imports the start-up libraries."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, *DEPLOYED_FLAGS, "-c", LIBRARY_FLOOR], check=True)
        times.append(time.perf_counter() - start)
    code = LIBRARY_FLOOR + "\nimport sys; sys.stdout.write('up\\n'); sys.stdout.flush()\n"
    code += "sys.stdin.read()\n"
    proc = subprocess.Popen(
        [sys.executable, *DEPLOYED_FLAGS, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        rss = rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return statistics.median(times), rss


def sizes() -> Sequence[int]:
    """The sizes to run: ``BENCH_SCALE_SIZES`` (comma-separated) or all of SIZES."""
    raw = os.environ.get("BENCH_SCALE_SIZES", "")
    chosen = tuple(int(s) for s in raw.split(",") if s.strip()) or SIZES
    return chosen if 3 in chosen else (3, *chosen)


def rows(
    figures: Sequence[Figures], floor_s: float, floor_rss: float, plain_rss: float
) -> list[dict[str, Any]]:
    """One table: per size READY, RSS after READY, first cycle, steady cycle, RSS after cycles;
    and RSS after READY at 3 symbols without the deployed flags."""
    small = next(f for f in figures if f.symbols == 3)
    out: list[dict[str, Any]] = []
    for f in figures:
        n = f.symbols
        big = n == 500
        out += [
            {"name": f"{n} symbols: start to READY" + (" (median of 3)" if n == 3 else ""),
             "value": f.ready_s, "unit": "s",
             "target": 1.0 if n == 3 else None, "baseline": floor_s},
            {"name": f"{n} symbols: RSS after READY" + (" (median of 3)" if n == 3 else ""),
             "value": f.rss_ready_mib, "unit": "MiB",
             "target": 80.0 if n == 3 else None, "baseline": floor_rss, "better": "lower"},
            *([{"name": "3 symbols: RSS after READY, plain python (median of 3)",
                "value": plain_rss, "unit": "MiB", "target": None,
                "baseline": f.rss_ready_mib, "better": "lower"}] if n == 3 else []),
            {"name": f"{n} symbols: first cycle", "value": f.first_cycle_s, "unit": "s",
             "target": 2.0 if big else None, "baseline": small.first_cycle_s},
            {"name": f"{n} symbols: steady cycle (median of {STEADY_CYCLES})",
             "value": f.steady_cycle_s, "unit": "s", "target": 0.3 if big else None,
             "baseline": small.steady_cycle_s},
            {"name": f"{n} symbols: CPU of the first cycle", "value": f.first_cycle_cpu_s,
             "unit": "s", "target": None, "baseline": small.first_cycle_cpu_s},
            {"name": f"{n} symbols: CPU of a steady cycle", "value": f.steady_cycle_cpu_s,
             "unit": "s", "target": None, "baseline": small.steady_cycle_cpu_s},
            {"name": f"{n} symbols: RSS after {RSS_CYCLES} cycles",
             "value": f.rss_cycles_mib, "unit": "MiB", "target": 150.0 if big else None,
             "baseline": small.rss_cycles_mib, "better": "lower"},
        ]  # fmt: skip
    return out


def main() -> list[dict[str, Any]]:
    """Measure every size and return the rows."""
    compile_package()
    floor_s, floor_rss = library_floor()
    figures = [measure(n) for n in sorted(set(sizes()))]
    small = next(f for f in figures if f.symbols == 3)
    ready_s, rss_ready = ready_median(3, (small.ready_s, small.rss_ready_mib))
    figures = [
        dataclasses.replace(f, ready_s=ready_s, rss_ready_mib=rss_ready) if f is small else f
        for f in figures
    ]
    _, plain_rss = ready_median(3, flags=())
    return rows(figures, floor_s, floor_rss, plain_rss)


if __name__ == "__main__":
    from bench.run_all import print_table

    sys.exit(print_table(main()))
