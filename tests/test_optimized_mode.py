"""The daemon as deployed: ``python -OO -P -m peaktrade_daemon`` (the systemd unit, the Docker
image, ``make run``; ``peaktrade_daemon.bytecode.DEPLOYED_FLAGS``).

-OO strips every docstring and every ``assert`` from the modules the daemon loads (about 6 MiB
less RSS, see ``bench/scale.py``). That is only safe while nothing relies on either: no check of
ours is an ``assert`` (a check that vanishes in production is no check), and no behaviour reads a
docstring. These tests hold the package to that, run the daemon's start-up and a whole cycle
under the deployed flags, and check the warning a daemon logs when the level-2 bytecode it
should run from is missing.
"""

from __future__ import annotations

import ast
import compileall
import importlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade_daemon.bytecode import DEPLOYED_FLAGS, compile_hint, missing_bytecode
from tests.conftest import PROJECT_ROOT, cli_command, subprocess_env

PACKAGE = PROJECT_ROOT / "peaktrade_daemon"
_TIMEOUT_S = 120.0
#: A docstring's attribute and the helpers that read it (inspect.getdoc, pydoc.getdoc).
_DOC_READERS = frozenset({"__doc__", "getdoc"})


def deployed(*args: str) -> list[str]:
    """argv of the daemon as the unit and the image start it, on this checkout."""
    return [sys.executable, *DEPLOYED_FLAGS, "-m", "peaktrade_daemon", *args]


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env if env is not None else subprocess_env(),
        timeout=_TIMEOUT_S,
    )


def _package_sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_check_in_the_package_is_an_assert() -> None:
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
        for path in _package_sources()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert found == [], "python -OO removes these checks: raise instead"


def test_nothing_in_the_package_or_its_tools_reads_a_docstring() -> None:
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}"
        for path in [*_package_sources(), *sorted((PROJECT_ROOT / "tools").rglob("*.py"))]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.Attribute) and node.attr in _DOC_READERS)
        or (isinstance(node, ast.Name) and node.id in _DOC_READERS)
    ]
    assert found == [], "python -OO leaves every docstring None"


@pytest.mark.parametrize("command", [(), ("overrides",), ("promote",), ("proposals",)])
def test_help_is_the_same_under_the_deployed_flags(command: tuple[str, ...]) -> None:
    plain = _run(cli_command(*command, "--help"))
    optimised = _run(deployed(*command, "--help"))
    assert plain.returncode == optimised.returncode == 0, optimised.stderr
    assert optimised.stdout == plain.stdout and "usage: peaktrade-daemon" in optimised.stdout


def test_a_whole_cycle_runs_under_the_deployed_flags(project_root: Path) -> None:
    """Start-up (settings, the policy, the gate's check of auto.toml, the database, the
    scheduler), one cycle over the bundled data, the report and the drain."""
    proc = _run(deployed("--root", str(project_root), "--once"))
    assert proc.returncode == 0, proc.stderr
    db = project_root / "state" / "peaktrade.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT success FROM cycle_summaries").fetchall()
    assert rows == [(1,)]
    alerts = (project_root / "logs" / "autonomous_alerts.log").read_text(encoding="utf-8")
    assert "daemon started" in alerts and "daemon stopping" in alerts


def test_missing_bytecode_names_the_source_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "probe_pkg_for_bytecode"
    package.mkdir()
    source = package / "__init__.py"
    source.write_text("VALUE = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    importlib.import_module(package.name)
    try:
        assert missing_bytecode([package.name, "not_imported_at_all"], optimize=2) == [source]
        assert compile_hint(source, optimize=2) == (
            f"{sys.executable} -m compileall -q -o 2 {tmp_path}"
        )
        assert compileall.compile_dir(package, quiet=1, optimize=2)
        assert missing_bytecode([package.name], optimize=2) == []
        assert missing_bytecode([package.name], optimize=0) == [source]  # one level at a time
        assert missing_bytecode(["sys"], optimize=2) == []  # built in: nothing to compile
    finally:
        sys.modules.pop(package.name, None)


def test_a_daemon_without_its_bytecode_says_so_in_its_log(
    project_root: Path, tmp_path: Path
) -> None:
    """A copy of the package without ``__pycache__`` that may not write any: every start
    compiles it from source, and the daemon's log says which tree and how to fix it."""
    copy = tmp_path / "source-only"
    shutil.copytree(PACKAGE, copy / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    env = subprocess_env(PYTHONDONTWRITEBYTECODE="1")
    env["PYTHONPATH"] = str(copy)
    proc = _run(deployed("--root", str(project_root), "--once", "--dry-run"), env)
    assert proc.returncode == 0, proc.stderr
    log = (project_root / "logs" / "daemon.log").read_text(encoding="utf-8")
    source = copy / PACKAGE.name / "__init__.py"
    assert f"no bytecode for python -O level 2 next to {source}" in log
    assert f"-m compileall -q -o 2 {copy}" in log
