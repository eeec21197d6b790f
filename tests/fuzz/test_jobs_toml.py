"""config/scheduler/jobs.toml against malformed files.

Contract: load_jobs returns jobs whose schedule, command line and next fire time can all be
computed without an exception, or raises JobConfigError naming the file (and, for a bad job,
the job and the field). The CLI turns it into exit 2 with one line and no traceback.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings

from peaktrade_daemon.cli.app import main
from peaktrade_daemon.errors import JobConfigError
from peaktrade_daemon.scheduling.jobs import JobsFile, load_jobs
from peaktrade_daemon.scheduling.triggers import due_fire_time, next_fire_time
from tests.conftest import PROJECT_ROOT
from tests.fuzz.conftest import OutsideWatch, run_cli_many
from tests.fuzz.mutations import damaged, mutated_document

SHIPPED = (PROJECT_ROOT / "config" / "scheduler" / "jobs.toml").read_bytes()
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # a DST change day in Europe


def load_or_clean_error(path: Path) -> JobsFile | None:
    try:
        jobs = load_jobs(path)
    except JobConfigError as exc:
        assert str(exc).startswith(str(path)), exc
        assert exc.file == str(path)
        return None
    for job in jobs.jobs:
        zone = job.zone("Europe/Berlin")
        job.schedule_text()
        job.argv()
        job.spec_hash("Europe/Berlin", 3600.0)
        next_fire_time(job, zone, NOW)
        due_fire_time(job, zone, NOW, None, 3600.0)
        due_fire_time(job, zone, NOW, datetime(2000, 1, 1, tzinfo=UTC), 3600.0)
    return jobs


@FUZZ
@given(document=mutated_document(tomllib.loads(SHIPPED.decode())))
def test_structurally_mutated_jobs_load_soundly_or_name_job_and_field(
    tmp_path_factory: pytest.TempPathFactory, document: dict[str, object]
) -> None:
    path = tmp_path_factory.mktemp("jobs") / "jobs.toml"
    path.write_text(tomlkit.dumps(document))
    load_or_clean_error(path)


@FUZZ
@given(raw=damaged(SHIPPED))
def test_byte_damaged_jobs_load_soundly_or_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("jobs") / "jobs.toml"
    path.write_bytes(raw)
    load_or_clean_error(path)


def job(**fields: object) -> str:
    body = {"name": "x", "workflow": "auto", "schedule_type": "interval", "interval_seconds": 60}
    body.update(fields)
    return tomlkit.dumps({"job": [{k: v for k, v in body.items() if v is not None}]})


BAD_JOBS = {
    "interval inf": (
        job(interval_seconds=float("inf")),
        "'interval_seconds': Input should be a finite",
    ),
    "interval nan": (job(interval_seconds=float("nan")), "'interval_seconds'"),
    "interval 1e300": (job(interval_seconds=1e300), "'interval_seconds': Input should be less"),
    "interval zero": (job(interval_seconds=0), "'interval_seconds': Input should be greater"),
    "timeout inf": (
        job(timeout_seconds=float("inf")),
        "'timeout_seconds': Input should be a finite",
    ),
    "unclosed quote": (job(workflow=None, command='echo "hi'), "'command': cannot be split"),
    "empty program": (job(workflow=None, command=["", "x"]), "'command': the program"),
    "NUL in command": (job(workflow=None, command=["echo", "a\x00b"]), "'command': contains a NUL"),
    "NUL in args": (job(workflow=None, command="echo", args={"x": "a\x00"}), "contains a NUL"),
    "NUL in env": (job(workflow=None, command="echo", env={"A": "\x00"}), "'env': A contains"),
    "env name with =": (job(workflow=None, command="echo", env={"A=B": "1"}), "'env': 'A=B' is"),
    "env on workflow": (job(env={"A": "1"}), "'env': only valid with 'command'"),
    "name traversal": (job(name="../../x"), "job '../../x', field 'name'"),
    "name NUL": (job(name="a\x00b"), "field 'name'"),
    "name absolute": (job(name="/etc/passwd"), "field 'name'"),
    "name 5000 chars": (job(name="a" * 5000), "field 'name': String should have at most 200"),
    "zone traversal": (job(timezone="../../../etc/localtime"), "'timezone': unknown time zone"),
    "zone absolute": (job(timezone="/usr/share/zoneinfo/UTC"), "'timezone': unknown time zone"),
    "zone 5000 chars": (job(timezone="a" * 5000), "'timezone': unknown time zone 'aaa"),
    "daily 24:00": (
        job(schedule_type="daily", interval_seconds=None, daily_time="24:00"),
        "between",
    ),
    "daily Arabic digits": (
        job(schedule_type="daily", interval_seconds=None, daily_time="\u0661\u0662:00"),
        "'daily_time': invalid time",
    ),
    "cron 8 fields": (
        job(schedule_type="cron", interval_seconds=None, cron="* * * * * * * *"),
        "'cron': invalid cron expression",
    ),
    "two schedules": (
        job(daily_time="08:00"),
        "'daily_time': only valid with schedule_type 'daily'",
    ),
    "unknown field": (job(retries=3), "'retries': Extra inputs are not permitted"),
    "enabled as string": (job(enabled="false"), "'enabled': Input should be a valid boolean"),
    "duplicate name": (
        tomlkit.dumps({"job": [tomllib.loads(job())["job"][0]] * 2}),
        "field 'name': duplicate job name",
    ),
    "job is a table": ('[job]\nname = "x"\n', "'job' must be an array of tables"),
    "unknown top-level": ("jobs = []\n", "unknown top-level key(s) ['jobs']"),
    "job not a table": ("job = [1, 2]\n", "job #1 is not a table"),
    "invalid TOML": ('[[job]\nname = "x"\n', "invalid TOML"),
    "UTF-16": (None, "not UTF-8 text"),
}


@pytest.mark.parametrize("name", sorted(BAD_JOBS))
def test_hand_picked_bad_jobs_file(tmp_path: Path, name: str) -> None:
    text, needle = BAD_JOBS[name]
    path = tmp_path / "jobs.toml"
    if text is None:
        path.write_bytes(SHIPPED.decode().encode("utf-16"))
    else:
        path.write_text(text)
    with pytest.raises(JobConfigError) as caught:
        load_jobs(path)
    assert str(caught.value).startswith(str(path))
    assert needle in str(caught.value)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    "text",
    [b"", b"\xef\xbb\xbf", SHIPPED.replace(b"\n", b"\r\n")],
    ids=["empty", "bom-only", "crlf"],
)
def test_empty_and_crlf_files(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "jobs.toml"
    path.write_bytes(text)
    if text.startswith(b"\xef\xbb\xbf"):
        with pytest.raises(JobConfigError, match="invalid TOML"):
            load_jobs(path)
        return
    jobs = load_jobs(path)
    shipped = load_jobs(PROJECT_ROOT / "config" / "scheduler" / "jobs.toml").jobs
    assert jobs.jobs == (shipped if text else ())  # CRLF reads as the shipped LF file


@pytest.mark.slow
def test_jobs_cli_on_bad_files_and_names(project_root: Path, outside_root: OutsideWatch) -> None:
    bad_command, bad_interval, cut = (outside_root.clone(f"root-{i}") for i in range(3))
    jobs = Path("config", "scheduler", "jobs.toml")
    (bad_command / jobs).write_text(job(workflow=None, command='echo "unclosed'))
    (bad_interval / jobs).write_text(job(interval_seconds=float("inf")))
    (cut / jobs).write_bytes(SHIPPED[: len(SHIPPED) // 3] + b"\n[[job")
    names = ("../../x", "/etc/passwd", "a\x01b", "x" * 5000)
    results = run_cli_many(
        [
            *((project_root, ("jobs", "run", name, "--dry-run")) for name in names),
            (bad_command, ("jobs", "list")),
            (bad_interval, ("jobs", "run", "--due", "--once")),
            (cut, ("jobs", "list")),
        ]
    )
    for result in results[: len(names)]:
        result.assert_clean_failure(2, "no job named")
    command, interval, truncated = results[len(names) :]
    command.assert_clean_failure(2, "jobs.toml", "job 'x', field 'command'")
    interval.assert_clean_failure(2, "jobs.toml", "job 'x', field 'interval_seconds'")
    truncated.assert_clean_failure(2, "jobs.toml:", "invalid TOML")
    for root in outside_root.roots:
        assert not (root / "state" / "peaktrade.db").exists()


def test_config_check_reports_a_bad_jobs_file(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs_file = project_root / "config" / "scheduler" / "jobs.toml"
    jobs_file.write_text(job(interval_seconds=float("inf")))
    assert main(["--root", str(project_root), "config", "check"]) == 1
    out = capsys.readouterr().out
    assert f"BAD  scheduled jobs ({jobs_file})" in out
    assert "job 'x', field 'interval_seconds'" in out
