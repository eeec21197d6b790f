"""The one loading path for start-up and reload: settings, trading config and extra loaders."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.snapshot import RESTART_ONLY, ConfigLoader, SnapshotSpec, load_snapshot


def _jobs_loader(settings: DaemonSettings) -> object:
    path = settings.path("config/scheduler/jobs.toml")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=path) from exc
    return tuple(job["name"] for job in data.get("job", []))


def test_snapshot_loads_everything_and_reports_what_changed(project_root: Path) -> None:
    jobs = project_root / "config" / "scheduler" / "jobs.toml"
    jobs.parent.mkdir(exist_ok=True)
    jobs.write_text('[[job]]\nname = "a"\n')
    spec = SnapshotSpec(
        root=project_root,
        cli_overrides={"daemon": {"poll_interval_s": 42}},
        loaders=(ConfigLoader("jobs", _jobs_loader),),
    )
    first = load_snapshot(spec)
    assert first.generation == 1
    assert first.settings.daemon.poll_interval_s == 42  # CLI flags survive every reload
    assert first.config.get("portfolio.leverage") == 1.0
    assert first.extras["jobs"] == ("a",)
    assert first.changed_from(first) == ()

    jobs.write_text('[[job]]\nname = "a"\n[[job]]\nname = "b"\n')
    daemon_toml = project_root / "config" / "daemon.toml"
    daemon_toml.write_text(
        daemon_toml.read_text().replace("drain_timeout_s = 30", "drain_timeout_s = 5")
    )
    second = load_snapshot(spec, generation=2)
    assert second.changed_from(first) == ("settings.daemon", "extra.jobs")


@pytest.mark.parametrize(
    ("target", "content", "names"),
    [
        ("config/daemon.toml", "[daemon\n", "daemon.toml"),
        ("config/config.toml", "[portfolio]\nleverage = ", "config.toml"),
        ("config/scheduler/jobs.toml", "[[job]\n", "jobs.toml"),
    ],
)
def test_any_invalid_part_refuses_the_whole_snapshot(
    project_root: Path, target: str, content: str, names: str
) -> None:
    (project_root / "config" / "scheduler").mkdir(exist_ok=True)
    (project_root / "config" / "scheduler" / "jobs.toml").write_text("")
    (project_root / target).write_text(content)
    spec = SnapshotSpec(root=project_root, loaders=(ConfigLoader("jobs", _jobs_loader),))
    with pytest.raises(ConfigError) as err:
        load_snapshot(spec)
    assert names in str(err.value)


def test_unexpected_loader_error_becomes_config_error_naming_the_loader(project_root: Path) -> None:
    def broken(settings: DaemonSettings) -> object:
        raise KeyError("bounds")

    spec = SnapshotSpec(root=project_root, loaders=(ConfigLoader("promotion.toml", broken),))
    with pytest.raises(ConfigError, match=r"promotion\.toml could not be loaded: KeyError"):
        load_snapshot(spec)


def test_invalid_live_overrides_are_warnings_not_errors(project_root: Path) -> None:
    config = project_root / "config" / "config.toml"
    config.write_text(config.read_text().replace('mode = "paper"', 'mode = "live"', 1))
    (project_root / "config" / "live_overrides" / "auto.toml").write_text("[auto_applied\n")
    snap = load_snapshot(SnapshotSpec(root=project_root))
    assert len(snap.warnings) == 1
    assert snap.warnings[0].key is None and "auto.toml" in snap.warnings[0].file


def test_restart_only_settings_changed_by_a_reload_are_named(project_root: Path) -> None:
    spec = SnapshotSpec(root=project_root)
    first = load_snapshot(spec)
    daemon_toml = project_root / "config" / "daemon.toml"
    text = daemon_toml.read_text()
    assert "[http]\nenabled = false" in text
    daemon_toml.write_text(
        text.replace("[http]\nenabled = false", "[http]\nenabled = true").replace(
            "drain_timeout_s = 30", "drain_timeout_s = 5"
        )
    )
    second = load_snapshot(spec, generation=2)
    assert second.changed_from(first) == ("settings.daemon", "settings.http")
    # The drain timeout is read live; the listener exists only if enabled at start.
    assert second.restart_only_changes(first) == ("http.enabled",)
    assert first.restart_only_changes(first) == ()
    for key in RESTART_ONLY:  # every name resolves to a real setting
        section, _, name = key.partition(".")
        assert name in type(getattr(first.settings, section)).model_fields, key
