"""jobs.toml: the shipped jobs load; every kind of bad input names the job and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from peaktrade_daemon.errors import EXIT_USAGE, JobConfigError
from peaktrade_daemon.scheduling.jobs import JobsFile, load_jobs

Loader = Callable[[str], JobsFile]


@pytest.fixture
def load(tmp_path: Path) -> Loader:
    """Write a jobs.toml with the given text and load it."""

    def run(text: str) -> JobsFile:
        path = tmp_path / "jobs.toml"
        path.write_text(text)
        return load_jobs(path)

    return run


SHIPPED = Path(__file__).resolve().parents[2] / "config" / "scheduler" / "jobs.toml"


def test_shipped_jobs() -> None:
    jobs = load_jobs(SHIPPED)
    by_name = {job.name: job for job in jobs.jobs}
    assert list(by_name) == [
        "autonomous_morning_analysis",
        "autonomous_midday_check",
        "autonomous_evening_review",
        "autonomous_hourly_monitor",
        "walk_forward_learner",
    ]
    assert [by_name[n].daily_time for n in list(by_name)[:3]] == ["08:15", "12:00", "20:00"]
    assert all(j.schedule_type == "daily" and j.enabled for j in list(by_name.values())[:3])
    assert all("autonomous" in j.tags for j in jobs.jobs[:4])
    assert by_name["autonomous_evening_review"].workflow == "portfolio_analysis"
    hourly = by_name["autonomous_hourly_monitor"]
    assert (hourly.cron, hourly.enabled) == ("0 * * * *", False)
    learner = by_name["walk_forward_learner"]
    assert (learner.workflow, learner.cron, learner.enabled) == (
        "walk_forward",
        "30 6 * * 1",
        False,
    )


def test_missing_file_means_no_jobs(tmp_path: Path) -> None:
    assert load_jobs(tmp_path / "jobs.toml").jobs == ()


def test_command_argv_from_args(load: Loader) -> None:
    text = """
[[job]]
name = "legacy"
command = "python -u"
args = { workflow_type = "auto", script = "scripts/run.py", verbose = true, quiet = false, n = 5 }
env = { PEAK = "1" }
schedule_type = "interval"
interval_seconds = 60
"""
    job = load(text).jobs[0]
    assert job.argv() == [
        "python",
        "-u",
        "scripts/run.py",
        "--workflow-type",
        "auto",
        "--verbose",
        "--n",
        "5",
    ]


GOOD = 'name = "a"\nworkflow = "auto"\nschedule_type = "daily"\ndaily_time = "08:15"\n'


@pytest.mark.parametrize(
    ("body", "job", "field", "fragment"),
    [
        (GOOD + "colour = 'red'\n", "a", "colour", "Extra inputs are not permitted"),
        (GOOD.replace("08:15", "8:15"), "a", "daily_time", "expected HH:MM"),
        (GOOD.replace("08:15", "24:00"), "a", "daily_time", "between 00:00 and 23:59"),
        (GOOD.replace('"daily"', '"weekly"'), "a", "schedule_type", "Input should be"),
        (
            GOOD.replace('daily_time = "08:15"', 'cron = "15 8 * *"').replace('"daily"', '"cron"'),
            "a",
            "cron",
            "invalid cron",
        ),
        (
            GOOD.replace('daily_time = "08:15"', 'cron = "99 8 * * *"').replace(
                '"daily"', '"cron"'
            ),
            "a",
            "cron",
            "invalid cron",
        ),
        (GOOD + 'timezone = "Mars/Olympus"\n', "a", "timezone", "unknown time zone"),
        (GOOD.replace('workflow = "auto"\n', ""), "a", "command", "exactly one of"),
        (GOOD + 'command = "true"\n', "a", "workflow", "exactly one of"),
        (GOOD.replace('"auto"', '"backtest"'), "a", "workflow", "Input should be"),
        (
            GOOD + "interval_seconds = 5\n",
            "a",
            "interval_seconds",
            "only valid with schedule_type 'interval'",
        ),
        (
            GOOD.replace('daily_time = "08:15"\n', ""),
            "a",
            "daily_time",
            "required for schedule_type 'daily'",
        ),
        (
            GOOD.replace('"daily"', '"interval"').replace(
                'daily_time = "08:15"', "interval_seconds = 0"
            ),
            "a",
            "interval_seconds",
            "greater than 0",
        ),
        (GOOD + 'enabled = "yes"\n', "a", "enabled", "valid boolean"),
        (GOOD + 'env = { A = "1" }\n', "a", "env", "only valid with 'command'"),
        (GOOD.replace('name = "a"\n', ""), "#1", "name", "Field required"),
        (GOOD.replace('name = "a"', 'name = "a b"'), "a b", "name", "pattern"),
    ],
)
def test_strict_validation_names_job_and_field(
    load: Loader, body: str, job: str, field: str, fragment: str
) -> None:
    with pytest.raises(JobConfigError) as caught:
        load("[[job]]\n" + body)
    message = str(caught.value)
    assert f"job {job!r}, field {field!r}" in message and fragment in message
    assert caught.value.key == f"{job}.{field}" and caught.value.exit_code == EXIT_USAGE


def test_duplicate_names(load: Loader) -> None:
    with pytest.raises(JobConfigError, match="job 'a', field 'name': duplicate job name"):
        load(f"[[job]]\n{GOOD}\n[[job]]\n{GOOD}")


def test_invalid_toml_and_unknown_tables(load: Loader) -> None:
    with pytest.raises(
        JobConfigError, match=r"jobs\.toml(:2:\d+: invalid TOML|: invalid TOML: .*line 2)"
    ):
        load("[[job]]\nname = \n")
    with pytest.raises(JobConfigError, match="unknown top-level key"):
        load("[jobs]\nname = 'x'\n")
