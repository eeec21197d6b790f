"""The version: written once (pyproject.toml), read from the package metadata, cheap to import."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version

import pytest

import peaktrade_daemon
from peaktrade_daemon import version as version_module
from tests.conftest import PROJECT_ROOT, cli_command, subprocess_env


def _pyproject_version() -> str:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as f:
        declared: str = tomllib.load(f)["project"]["version"]
    return declared


def test_the_version_comes_from_the_metadata_of_the_pyproject_version() -> None:
    declared = _pyproject_version()
    assert version("peaktrade-daemon") == declared
    assert peaktrade_daemon.__version__ == declared
    assert "__version__" in peaktrade_daemon.__all__


def test_the_version_is_written_in_pyproject_only() -> None:
    declared = _pyproject_version()
    package = PROJECT_ROOT / "peaktrade_daemon"
    holders = [p for p in package.rglob("*.py") if f'"{declared}"' in p.read_text()]
    assert holders == []


def test_cli_version_prints_the_installed_version_to_stdout() -> None:
    done = subprocess.run(
        cli_command("--version"), env=subprocess_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout == f"peaktrade-daemon {_pyproject_version()}\n"
    assert done.stderr == ""


def test_importing_the_package_or_the_cli_does_not_load_importlib_metadata() -> None:
    probe = (
        "import sys, peaktrade_daemon, peaktrade_daemon.cli.app as app\n"
        "app.build_parser()\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False"


def test_a_tree_without_metadata_reports_an_unknown_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(version_module, "DISTRIBUTION", "peaktrade-daemon-not-installed")
    version_module.installed_version.cache_clear()
    try:
        assert version_module.installed_version() == "0+unknown"
    finally:
        version_module.installed_version.cache_clear()
