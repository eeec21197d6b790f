"""The Dockerfile and .dockerignore, checked instruction by instruction (no Docker engine here).

What must hold: a slim Python base pinned by version and new enough for the package; every
install pinned (constraints.txt, exact build-backend pins); a non-root user; config/ state/
logs/ reports/ as volumes under the root the daemon uses; STOPSIGNAL SIGTERM; a HEALTHCHECK
running ``peaktrade-daemon health``; the daemon itself as PID 1 (exec-form ENTRYPOINT and CMD,
no shell in between), and a build context that carries what COPY needs and nothing local.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.version import Version

from peaktrade_daemon.bytecode import DEPLOYED_FLAGS
from peaktrade_daemon.logline import stderr_level
from peaktrade_daemon.settings import LogsSection
from tests.conftest import cli_command, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/env", "dash"}


@pytest.fixture(scope="module")
def instructions() -> list[dict[str, Any]]:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return [i for i in parser.structure if i["instruction"] != "COMMENT"]


def values(instructions: list[dict[str, Any]], name: str) -> list[str]:
    return [i["value"] for i in instructions if i["instruction"] == name]


def exec_form(value: str) -> list[str]:
    """An exec-form (JSON array) argument list, or fail: shell form runs under /bin/sh -c."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), value
    return parsed


def test_single_slim_python_base_pinned_by_version(instructions: list[dict[str, Any]]) -> None:
    (base,) = values(instructions, "FROM")
    match = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim(?:-[a-z]+)?(?:@sha256:[0-9a-f]{64})?", base)
    assert match, f"base image {base!r} is not a version-pinned slim Python"
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert Version(match.group(1)) >= Version(minimum)


def test_every_install_is_pinned(instructions: list[dict[str, Any]]) -> None:
    runs = [r for r in values(instructions, "RUN") if "pip install" in r]
    assert runs, "the image installs the package"
    copied = " ".join(values(instructions, "COPY"))
    assert "constraints.txt" in copied, "constraints.txt is copied into the build"
    pinned: dict[str, Version] = {}
    for run in runs:
        for command in re.split(r"&&|;", run):
            words = shlex.split(command)
            if words[:2] != ["pip", "install"]:
                continue
            args = [w for w in words[2:] if not w.startswith("-")]
            if "." in args:
                # the project itself: its dependencies through the constraints, its build
                # backend from the pins installed before (no isolated, unpinned setuptools)
                assert "--constraint constraints.txt" in command or "-c constraints.txt" in command
                assert "--no-build-isolation" in words
            else:
                for arg in args:
                    name, sep, version = arg.partition("==")
                    assert sep and version, f"unpinned install of {arg!r}"
                    pinned[name.lower()] = Version(version)
    for requirement in map(Requirement, PYPROJECT["build-system"]["requires"]):
        assert requirement.name.lower() in pinned, f"build backend {requirement.name} not pinned"
        assert pinned[requirement.name.lower()] in requirement.specifier


def test_runs_as_a_dedicated_non_root_user(instructions: list[dict[str, Any]]) -> None:
    users = values(instructions, "USER")
    assert users, "no USER: the daemon would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    created = " ".join(values(instructions, "RUN"))
    assert re.search(rf"useradd [^&]*--system[^&]* {re.escape(user)}\b", created)
    # USER comes before the entrypoint is reached, so nothing runs as root at runtime
    order = [i["instruction"] for i in instructions]
    assert max(i for i, n in enumerate(order) if n == "USER") < order.index("ENTRYPOINT")


def image_env(instructions: list[dict[str, Any]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values(instructions, "ENV"):
        env.update(dict(pair.split("=", 1) for pair in shlex.split(value)))
    return env


def test_docker_logs_show_info(instructions: list[dict[str, Any]], tmp_path: Path) -> None:
    """No TTY and no journal in a container: the image's environment sets stderr to INFO."""
    env = image_env(instructions)
    with (tmp_path / "stderr").open("w") as stderr:
        assert stderr_level(verbose=False, stream=stderr, environ=env) == logging.INFO
        assert stderr_level(verbose=False, stream=stderr, environ={}) == logging.WARNING


def test_root_and_volumes(instructions: list[dict[str, Any]]) -> None:
    env = image_env(instructions)
    root = env["PEAKTRADE_ROOT"]
    assert env["MALLOC_ARENA_MAX"] == "2"  # as the systemd unit: two glibc malloc arenas
    assert values(instructions, "WORKDIR")[-1] == root
    volumes = [v for value in values(instructions, "VOLUME") for v in exec_form(value)]
    assert sorted(volumes) == sorted(f"{root}/{d}" for d in ("config", "state", "logs", "reports"))
    # the volume directories exist in the image and belong to the runtime user
    setup = " ".join(values(instructions, "RUN"))
    assert re.search(r"mkdir -p [^&]*state[^&]*logs[^&]*reports", setup)
    assert f"chown -R peaktrade:peaktrade {root}" in setup


def test_logs_rotate_without_logrotate(instructions: list[dict[str, Any]]) -> None:
    """A container has no logrotate: the image turns the daemon's own size rotation on, with
    values the settings accept."""
    env: dict[str, str] = {}
    for value in values(instructions, "ENV"):
        env.update(dict(pair.split("=", 1) for pair in shlex.split(value)))
    logs = LogsSection(
        max_bytes=int(env["PEAKTRADE_LOGS__MAX_BYTES"]), backups=int(env["PEAKTRADE_LOGS__BACKUPS"])
    )
    assert logs.max_bytes >= 1024 * 1024 and logs.backups >= 1


def test_stop_signal_and_healthcheck(instructions: list[dict[str, Any]]) -> None:
    assert values(instructions, "STOPSIGNAL") == ["SIGTERM"]
    (health,) = values(instructions, "HEALTHCHECK")
    options, _, command = health.partition("CMD")
    assert exec_form(command.strip()) == ["peaktrade-daemon", "health"]
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in options


def test_daemon_is_pid_1_without_a_shell(instructions: list[dict[str, Any]]) -> None:
    (entrypoint,) = values(instructions, "ENTRYPOINT")
    (cmd,) = values(instructions, "CMD")
    argv = exec_form(entrypoint) + exec_form(cmd)
    assert argv[0] not in SHELLS and "-c" not in argv
    # the image's interpreter, as deployed everywhere: -OO (no docstrings or asserts), -P (the
    # working directory off sys.path), then the package's own entry point
    assert argv[:5] == ["python", *DEPLOYED_FLAGS, "-m", "peaktrade_daemon"]
    assert argv[5:] == ["--continuous"]


def test_the_image_holds_the_bytecode_the_daemon_runs_from(
    instructions: list[dict[str, Any]],
) -> None:
    """PYTHONDONTWRITEBYTECODE: nothing is compiled at run time, so the build compiles levels 0
    (one-shot commands) and 2 (the daemon) for the standard library and every installed
    package (site-packages lies below it), then runs the entry point the way it runs."""
    assert image_env(instructions)["PYTHONDONTWRITEBYTECODE"] == "1"
    build = " ".join(values(instructions, "RUN"))
    (step,) = re.findall(r"python -m compileall [^&]*", build)
    (base,) = values(instructions, "FROM")
    minor = re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim-\w+", base)
    assert minor, base
    assert "-o 0" in step and "-o 2" in step
    assert step.split()[-1] == f"/usr/local/lib/python{minor[1]}"  # the image's stdlib
    assert "python -OO -P -m peaktrade_daemon --help" in build


def test_the_cli_accepts_what_the_image_runs() -> None:
    proc = subprocess.run(
        cli_command("--help"), capture_output=True, text=True, env=subprocess_env(), timeout=60
    )
    assert proc.returncode == 0 and "--continuous" in proc.stdout


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, for the patterns used here: last match wins, '!' re-includes, a pattern
    matching a directory excludes everything below it."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or (
            pattern.startswith("**/") and any(fnmatch.fnmatch(p, pattern[3:]) for p in parts)
        ):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_copy_needs_and_drops_local_state(
    instructions: list[dict[str, Any]],
) -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    sources = []
    for value in values(instructions, "COPY"):
        words = [w for w in shlex.split(value) if not w.startswith("--")]
        sources.extend(words[:-1])
    for source in sources:
        assert (ROOT / source).exists(), f"COPY source {source} missing"
        assert not _ignored(source, patterns), f"COPY source {source} is excluded"
    for kept in ("peaktrade_daemon/cli/app.py", "config/config.toml", "data/samples/GOOG.csv"):
        assert not _ignored(kept, patterns), kept
    for dropped in (
        ".git/HEAD",
        ".venv/bin/python",
        "state/peaktrade.db",
        "logs/autonomous_alerts.log",
        "reports/workflows/1/report.json",
        "peaktrade_daemon/__pycache__/x.cpython-311.pyc",
        "config/auto/learning.override.toml",
        "config/live_overrides/auto.toml.backup",
        "config/live_overrides/auto.toml.lock",
    ):
        assert _ignored(dropped, patterns), dropped
