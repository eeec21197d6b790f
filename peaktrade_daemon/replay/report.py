"""What a replay leaves in its output directory: ``timeline.jsonl``, ``summary.json``,
``summary.md`` and ``replay.png``.

``summary.json`` (sorted keys, no wall-clock time, no run id: the same inputs give the same
bytes): the range and symbols, the policy file and the mode in force, the learner, how cycles
were paced, ``counts`` per timeline kind, ``decisions`` per action, ``final_live_values`` (every
bounded key and every key in auto.toml at the end, at its effective value), and ``books``
(:mod:`~peaktrade_daemon.replay.books`).

The four files are written into a staging directory beside the output and moved into place in
one rename, so the output directory holds either all of them or nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peaktrade_daemon.storage.atomic import atomic_write_bytes
from peaktrade_daemon.workflows.reports import markdown_table

TIMELINE = "timeline.jsonl"
SUMMARY = "summary.json"
SUMMARY_MD = "summary.md"
CHART = "replay.png"


def summary_bytes(summary: Mapping[str, Any]) -> bytes:
    """``summary.json``'s bytes."""
    text = json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _money(value: float | None) -> str | None:
    return None if value is None else f"{value:,.2f}"


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.2f}%"


def _changes(entries: Sequence[Mapping[str, Any]], kinds: tuple[str, ...]) -> list[list[Any]]:
    return [
        [e["time"], e["kind"], e["key"], e.get("before"), e.get("after")]
        for e in entries
        if e["kind"] in kinds
    ]


def summary_markdown(summary: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> str:
    """``summary.md``: what was replayed, the three books, what governance did."""
    books = summary["books"]
    book_table = markdown_table(
        ["book", "final equity", "total return", "max drawdown", "sharpe", "trades"],
        [
            [
                name,
                _money(b["final_equity"]),
                _percent(b["total_return"]),
                _percent(b["max_drawdown"]),
                None if b["sharpe"] is None else f"{b['sharpe']:.2f}",
                b["trades"],
            ]
            for name, b in books.items()
        ],
    )
    counts = ", ".join(f"{kind} {n}" for kind, n in summary["counts"].items())
    actions = ", ".join(f"{a} {n}" for a, n in summary["decisions"].items()) or "none"
    changes = _changes(entries, ("apply", "revert"))
    freezes = [
        [e["time"], e["key"], "; ".join(e["reasons"])] for e in entries if e["kind"] == "freeze"
    ]
    lines = [
        f"# Replay {', '.join(summary['symbols'])}: {summary['range']['from']} to "
        f"{summary['range']['to']}",
        "",
        f"Mode `{summary['mode']}` under {summary['policy_file']}; learner "
        f"{summary['learner']}; {summary['cycles']} cycles ({summary['cadence']}), "
        f"{summary['learning']['steps']} learning steps.",
        "",
        f"Timeline: {counts}. Decisions: {actions}.",
        "",
        "## Books",
        "",
        "`governed`: the live values as governance moved them; `static`: the base config "
        "throughout; `ungoverned`: every learned patch applied at once.",
        "",
        book_table,
        "## Changes to the live values",
        "",
        markdown_table(["time", "kind", "key", "before", "after"], changes)
        if changes
        else "None.\n",
    ]
    if freezes:
        lines += [
            "## Frozen by the rollback guard",
            "",
            markdown_table(["time", "key", "why"], freezes),
        ]
    final = summary["final_live_values"]
    lines += [
        "## Final live values",
        "",
        markdown_table(["key", "value"], [[k, final[k]] for k in sorted(final)]),
    ]
    not_applied = books.get("ungoverned", {}).get("not_applied", [])
    if not_applied:
        lines += ["Learned values the ungoverned book could not use:", ""]
        lines += [f"- {item}" for item in not_applied] + [""]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Outputs:
    """The four files' contents."""

    timeline: bytes
    summary: bytes
    markdown: str
    chart: bytes


def write_outputs(out_dir: Path, outputs: Outputs) -> None:
    """Write the four files (module docstring: all or nothing)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        atomic_write_bytes(stage / TIMELINE, outputs.timeline)
        atomic_write_bytes(stage / SUMMARY, outputs.summary)
        atomic_write_bytes(stage / SUMMARY_MD, outputs.markdown.encode("utf-8"))
        atomic_write_bytes(stage / CHART, outputs.chart)
        os.replace(stage, out_dir)  # an empty --out directory is replaced whole
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
