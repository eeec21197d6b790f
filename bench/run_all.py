"""Run every benchmark in bench/ and print one table: name, value, unit, target, baseline, ok?

Each ``bench/<name>.py`` that defines ``main()`` returning a list of rows is run in turn (this
file excepted), each in a fresh interpreter: one benchmark's imports, threads and memory must not
skew the next (numpy fixes its BLAS thread count at its first import, and a child process's peak
RSS includes the size of the process it was forked from). A row is a dict with ``name``, ``value``, ``unit``, ``target`` and
``baseline`` (target and baseline may be None). Whether a value meets its target depends on the
direction: a row may say ``"better": "higher"`` or ``"lower"``; otherwise time units (s, ms,
us, µs, ns) mean lower is better and anything else (rates, ratios, "x") higher is better.
A script that raises, or returns something that is not a list of rows, gives one failed row
naming the error, and the other scripts still run.

Run: ``python bench/run_all.py`` (``make bench``); exits 1 when any row misses its target.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TIME_UNITS = frozenset({"s", "sec", "seconds", "ms", "us", "µs", "ns"})
ROWS_OF = "--rows-of"  # internal: run one script and write its rows as JSON to a file
REQUIRED_KEYS = ("name", "value", "unit")
HEADERS = ("name", "value", "unit", "target", "baseline", "ok?")


def discover(bench_dir: Path = BENCH_DIR) -> list[Path]:
    """Benchmark scripts in name order, without this runner and private modules."""
    return sorted(
        p
        for p in bench_dir.glob("*.py")
        if p.name != Path(__file__).name and not p.name.startswith("_")
    )


def load(path: Path) -> ModuleType:
    """Import a bench script by path under a private module name."""
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing, as a normal import does: dataclasses (and pickling) look the
    # defining module up in sys.modules while the class body is being processed.
    sys.modules[spec.name] = module
    # As when run as a script: its own folder first on sys.path (the shared helpers, _live.py).
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    finally:
        if added:
            sys.path.remove(folder)
    return module


def _failed(path: Path, why: str) -> list[dict[str, Any]]:
    return [{"name": f"{path.stem}: {why}", "value": None, "unit": ""}]


def rows_in_process(path: Path) -> list[dict[str, Any]]:
    """Import one script here and return its rows, or one failed row saying why there are none."""
    try:
        module = load(path)
        main = getattr(module, "main", None)
        if not callable(main):
            return []  # not a benchmark (a shared module); nothing to report
        rows = main()
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TypeError(f"main() returned {type(rows).__name__}, not a list of dicts")
        for row in rows:
            missing = [k for k in REQUIRED_KEYS if k not in row]
            if missing:
                raise KeyError(f"row {row!r} lacks {', '.join(missing)}")
        return rows
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return _failed(path, f"{type(exc).__name__}: {exc}")


def _plain(value: Any) -> Any:
    """numpy scalars (and the like) as plain Python values for JSON."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def run_script(path: Path) -> list[dict[str, Any]]:
    """The rows of one script run in a fresh interpreter (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="bench-rows-") as directory:
        out = Path(directory) / "rows.json"
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), ROWS_OF, str(path), str(out)],
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            return _failed(path, f"its process exited with {proc.returncode}")
        rows: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
        return rows


def lower_is_better(row: dict[str, Any]) -> bool:
    """Direction of a row: its ``better`` key, else inferred from the unit."""
    better = row.get("better")
    if better in ("higher", "lower"):
        return bool(better == "lower")
    return str(row.get("unit", "")).strip() in TIME_UNITS


def verdict(row: dict[str, Any]) -> bool | None:
    """True/False against the target; None when there is no target; False when no value."""
    value, target = row.get("value"), row.get("target")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return False
    if target is None:
        return None
    return bool(value <= target if lower_is_better(row) else value >= target)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table with one line per row."""
    marks = {True: "ok", False: "MISS", None: "-"}
    cells = [
        [_cell(r.get(k)) for k in ("name", "value", "unit", "target", "baseline")]
        + [marks[verdict(r)]]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for c in cells:
        lines.append(
            "  ".join(
                v.rjust(w) if i in (1, 3, 4) else v.ljust(w)
                for i, (v, w) in enumerate(zip(c, widths, strict=True))
            )
        )
    return "\n".join(line.rstrip() for line in lines)


def print_table(rows: Sequence[dict[str, Any]]) -> int:
    """Print the table; 1 when any row misses its target or failed, else 0."""
    print(format_table(rows))
    return 1 if any(verdict(r) is False for r in rows) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run every script (or the named ones) and print one table."""
    args = list(argv if argv is not None else sys.argv[1:])
    if args[:1] == [ROWS_OF]:  # the child side of run_script
        found = rows_in_process(Path(args[1]))
        Path(args[2]).write_text(json.dumps(found, default=_plain), encoding="utf-8")
        return 0
    names = set(args)
    rows: list[dict[str, Any]] = []
    for path in discover():
        if names and path.stem not in names:
            continue
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        rows.extend(run_script(path))
    if not rows:
        print("no benchmark rows", file=sys.stderr)
        return 1
    return print_table(rows)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR.parent))
    sys.exit(main())
