"""A run's report directory: every file written, ``report.json`` last and whole, nothing left
half-named; written without fsync (aiofiles), as outputs may be."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peaktrade_daemon.storage.atomic import TEMP_SUFFIX
from peaktrade_daemon.workflows.model import WorkflowOutput, WorkflowRecord
from peaktrade_daemon.workflows.reports import REPORT_JSON, REPORT_MD, write_report

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def temp_files(root: Path) -> list[Path]:
    return list(root.rglob(f"*{TEMP_SUFFIX}"))


def record(run_id: str = "20261206T090000-abc") -> WorkflowRecord:
    return WorkflowRecord(
        run_id=run_id,
        name="scan",
        workflow_type="market_scan",
        parameters={"symbols": ["GOOG"], "at": T0},
        created_at=T0,
        started_at=T0,
    )


async def test_report_directory_holds_every_file_and_a_whole_report_json(tmp_path: Path) -> None:
    output = WorkflowOutput(
        summary={"ranked": 2, "nan": float("nan")},
        markdown="# Scan\n",
        files={"chart.png": b"\x89PNG data"},
    )
    directory = await write_report(tmp_path / "workflows", record(), output)
    assert directory == tmp_path / "workflows" / "20261206T090000-abc"
    assert sorted(p.name for p in directory.iterdir()) == ["chart.png", REPORT_JSON, REPORT_MD]
    assert (directory / "chart.png").read_bytes() == b"\x89PNG data"
    assert (directory / REPORT_MD).read_text() == "# Scan\n"
    document = json.loads((directory / REPORT_JSON).read_text())
    assert document["files"] == ["chart.png", REPORT_MD]
    assert document["summary"] == {"ranked": 2, "nan": None}
    assert document["parameters"]["at"] == T0.isoformat()


async def test_a_failed_write_leaves_no_report_json_and_no_temp_file(tmp_path: Path) -> None:
    run = record()
    directory = tmp_path / "workflows" / run.run_id
    (directory / "chart.png").mkdir(parents=True)  # the chart cannot be written
    output = WorkflowOutput(summary={}, markdown="x", files={"chart.png": b"png"})
    with pytest.raises(IsADirectoryError):
        await write_report(tmp_path / "workflows", run, output)
    assert not (directory / REPORT_JSON).exists()  # so readers take the report as unfinished
    (directory / "chart.png").rmdir()
    (directory / REPORT_JSON).mkdir()  # now report.json itself cannot be put in place
    with pytest.raises(IsADirectoryError):
        await write_report(tmp_path / "workflows", run, output)
    assert not temp_files(tmp_path)


@pytest.mark.parametrize("name", ["../escape.png", REPORT_JSON, ".hidden"])
async def test_unsafe_or_reserved_names_are_refused_before_anything_is_written(
    tmp_path: Path, name: str
) -> None:
    output = WorkflowOutput(summary={}, markdown="x", files={name: b"x"})
    with pytest.raises(ValueError, match="unsafe or reserved"):
        await write_report(tmp_path / "workflows", record(), output)
    assert not (tmp_path / "workflows").exists()
