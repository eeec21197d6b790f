"""Writing a run's report directory: ``reports/workflows/<run_id>/``.

Extra files (charts) first, the Markdown summary next and ``report.json`` last, put in place by a
rename: a directory with ``report.json`` is complete, so a reader never mistakes a half-written
report for a finished one. Reports are outputs, not state (nothing is decided from them, a run
can be repeated), so they are written with aiofiles and without fsync (§11): the durable,
fsynced writer (storage/atomic.py) is for the files the daemon's behaviour depends on. A crash
can leave a directory without ``report.json``; file retention removes it once it is old.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from peaktrade_daemon.storage.atomic import temp_path_for
from peaktrade_daemon.workflows.model import WorkflowOutput, WorkflowRecord

REPORT_JSON = "report.json"
REPORT_MD = "summary.md"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from summaries: datetimes as ISO text, enums by value, NaN as null."""
    # Exact built-in types first: a market scan's summary holds thousands of them, and the
    # generic checks below (an ABC lookup for Mapping) cost several times more per value.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return to_jsonable(value.item())
    return str(value)


def report_document(
    record: WorkflowRecord, output: WorkflowOutput, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON document of one run: identity, timing, parameters and the workflow's summary
    (``summary``: the output's already converted by to_jsonable, as the engine has it; else
    converted here)."""
    return {
        "run_id": record.run_id,
        "name": record.name,
        "workflow_type": record.workflow_type,
        "trigger": record.trigger,
        "tag": record.tag,
        "parameters": to_jsonable(record.parameters),
        "started_at": to_jsonable(record.started_at),
        "files": sorted([REPORT_MD, *output.files]),
        "summary": summary if summary is not None else to_jsonable(output.summary),
    }


async def _write_file(path: Path, data: bytes) -> None:
    async with aiofiles.open(path, "wb") as file:
        await file.write(data)


async def _put_in_place(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path`` and rename it there: ``path`` is whole or absent."""
    temp = temp_path_for(path)
    try:
        await _write_file(temp, data)
        await aiofiles.os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            await aiofiles.os.remove(temp)
        raise


async def write_report(
    reports_root: Path,
    record: WorkflowRecord,
    output: WorkflowOutput,
    summary: dict[str, Any] | None = None,
) -> Path:
    """Write the report of ``record`` under ``reports_root/<run_id>/`` and return the directory
    (``summary``: see :func:`report_document`)."""
    if not _SAFE_NAME.match(record.run_id):
        raise ValueError(f"run id {record.run_id!r} is not safe as a directory name")
    for name in output.files:
        if not _SAFE_NAME.match(name) or name in (REPORT_JSON, REPORT_MD):
            raise ValueError(f"unsafe or reserved report file name {name!r}")
    document = report_document(record, output, summary)
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    directory = reports_root / record.run_id
    await aiofiles.os.makedirs(directory, exist_ok=True)
    for name, data in output.files.items():
        await _write_file(directory / name, data)
    await _write_file(directory / REPORT_MD, output.markdown.encode("utf-8"))
    await _put_in_place(directory / REPORT_JSON, text.encode("utf-8"))
    return directory


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-style Markdown table; floats with 4 significant digits, None as an em dash."""

    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def ranked_markdown(
    title: str,
    run_id: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, Any]],
    notes: Sequence[str],
) -> str:
    """A ranking report: a heading, one table row per ranked entry (``columns`` pairs a header
    with the row key it shows) and a bullet list of what could not be ranked, and why."""
    table = markdown_table(
        [header for header, _ in columns], [[r[k] for _, k in columns] for r in rows]
    )
    text = f"# {title} `{run_id}`\n\n{table}"
    return text + ("\n" + "\n".join(notes) + "\n" if notes else "")
