"""deploy/peaktrade-daemon.service: checked by ``systemd-analyze verify`` where it exists, and
always parsed and checked against what the daemon does (notify protocol, reload by SIGHUP,
drain timeout, exit codes, the directories it writes)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from peaktrade_daemon.bytecode import DEPLOYED_FLAGS
from peaktrade_daemon.errors import EXIT_REFUSED, EXIT_USAGE
from peaktrade_daemon.settings import DaemonSection, PathsSection

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy/peaktrade-daemon.service"
Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """systemd's syntax: [Section], Key=Value, '#'/';' comments, backslash continuation; a key
    may repeat (ReadWritePaths=), so every value is kept in order."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    logical: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if logical:
            logical.append(line)
        elif not line or line[0] in "#;":
            continue
        else:
            logical = [line]
        if logical[-1].endswith("\\"):
            logical[-1] = logical[-1][:-1]
            continue
        full = " ".join(logical)
        logical = []
        if full.startswith("["):
            assert full.endswith("]"), full
            section = unit.setdefault(full[1:-1], {})
            continue
        assert section is not None, f"key outside a section: {full}"
        key, sep, value = full.partition("=")
        assert sep, f"not Key=Value: {full}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values is not None and len(values) == 1, f"[{section}] {key}: {values}"
    return values[0]


def seconds(value: str) -> float:
    """A systemd time span such as 60, 60s, 1min 30s, 2m."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for number, suffix in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[suffix]
    return total


def test_notify_protocol_and_watchdog(unit: Unit) -> None:
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    # the daemon pings at half the interval; below ~10 s a slow cycle could trip it
    assert 10 <= seconds(one(unit, "Service", "WatchdogSec")) <= 600


def test_reload_stop_and_restart(unit: Unit) -> None:
    assert one(unit, "Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "KillMode") == "mixed"  # SIGTERM to the daemon; it drains
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    stop = seconds(one(unit, "Service", "TimeoutStopSec"))
    assert stop > DaemonSection().drain_timeout_s, "systemd would kill a draining daemon"
    prevent = {int(v) for v in one(unit, "Service", "RestartPreventExitStatus").split()}
    assert prevent == {EXIT_USAGE, EXIT_REFUSED}  # restarting cannot fix config or safety refusals


def exec_root(unit: Unit) -> str:
    """The root directory ExecStart names (``--root``)."""
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    return argv[argv.index("--root") + 1]


def test_runs_the_daemon_optimised_on_one_root_as_a_dedicated_user(unit: Unit) -> None:
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    # The venv's interpreter, as deployed: -OO (no docstrings or asserts), -P (the working
    # directory off sys.path), then the package's own entry point.
    assert Path(argv[0]).is_absolute() and Path(argv[0]).name.startswith("python")
    assert argv[1:5] == [*DEPLOYED_FLAGS, "-m", "peaktrade_daemon"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert (Path(argv[0]).parent / "peaktrade-daemon").name in scripts["scripts"]
    root = exec_root(unit)
    assert "--continuous" in argv
    assert one(unit, "Service", "WorkingDirectory") == root
    env = dict(
        pair.split("=", 1)
        for value in unit["Service"]["Environment"]
        for pair in shlex.split(value)
    )
    assert env == {"PEAKTRADE_ROOT": root, "MALLOC_ARENA_MAX": "2"}
    user = one(unit, "Service", "User")
    assert user and user not in {"root", "0"}
    assert one(unit, "Service", "Group")


def test_hardening_leaves_only_the_runtime_directories_writable(unit: Unit) -> None:
    service = unit["Service"]
    assert one(unit, "Service", "ProtectSystem") == "strict"
    for key in ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID",
                "LockPersonality", "RestrictRealtime"):  # fmt: skip
        assert one(unit, "Service", key) == "yes", key
    assert one(unit, "Service", "ProtectHome") in {"yes", "read-only", "tmpfs"}
    assert one(unit, "Service", "CapabilityBoundingSet") == ""
    root = exec_root(unit)
    writable = {p for value in service["ReadWritePaths"] for p in value.split()}
    paths = PathsSection()
    expected = {
        f"{root}/{paths.state_dir}",
        f"{root}/{paths.logs_dir}",
        f"{root}/{paths.reports_dir}",
        f"{root}/{paths.live_overrides_file.parent}",
        f"{root}/{paths.offline_overrides_dir}",
    }
    assert writable == expected
    assert f"{root}/config" not in writable  # the base config stays read-only to the daemon
    # every file the daemon writes lies under a writable directory
    for written in (paths.alert_log, paths.daemon_log, paths.audit_log, paths.live_overrides_file,
                    paths.learning_snippets_dir):  # fmt: skip
        assert any(f"{root}/{written}".startswith(w + "/") for w in writable), written


def test_install_steps_compile_the_bytecode_the_daemon_runs_from() -> None:
    """Under -OO Python loads level-2 bytecode; without it every start compiles every module
    from source. The install steps write it for the venv and the standard library."""
    text = UNIT.read_text(encoding="utf-8").replace("\\\n#", " ")
    (step,) = [line for line in text.splitlines() if "compileall" in line]
    assert "-o 2" in step and "/opt/peaktrade/venv/lib" in step and '"stdlib"' in step


def test_install_section(unit: Unit) -> None:
    assert one(unit, "Install", "WantedBy") == "multi-user.target"
    assert one(unit, "Unit", "After") == "network-online.target"


def test_parser_reads_continuations_and_repeats() -> None:
    parsed = parse_unit("[A]\n# c\nX=1 \\\n  2\nX=3\n; c\n[B]\nY=\n")
    assert parsed == {"A": {"X": ["1  2", "3"]}, "B": {"Y": [""]}}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    # verify insists that ExecStart's binary exists; point it at a real executable, change
    # nothing else, and require no warning at all (verify exits 0 even for unknown keys).
    binary = shlex.split(parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]["ExecStart"][0])[0]
    stand_in = tmp_path / "python"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(binary, str(stand_in)))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr
