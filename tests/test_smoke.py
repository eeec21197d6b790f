"""The package imports and the CLI answers --help."""

import subprocess

from tests.conftest import cli_command, subprocess_env


def test_help_runs_without_error() -> None:
    proc = subprocess.run(
        cli_command("--help"), capture_output=True, text=True, env=subprocess_env(), timeout=60
    )
    assert proc.returncode == 0
    assert "exit codes" in proc.stdout
