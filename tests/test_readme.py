"""The README cannot drift: every command it shows is parsed, and the runnable ones are run.

Convention (stated in the README's "How it is tested" section):

* In a fenced block opened with ```` ```sh ````, every non-comment line is run by ``bash`` in a
  scratch root holding the shipped ``config/`` and ``data/``, with ``peaktrade-daemon`` standing
  for ``python -m peaktrade_daemon --root <scratch root>``. The lines under one heading run in
  README order in one root; each heading gets its own fresh root (so sections run side by side).
  A line is expected to exit 0 unless it ends with a comment ``# exit N``. A line
  ``NAME=$(...)`` captures its output; later lines see ``$NAME``.
* A block opened with ```` ```sh norun ```` is never run (it needs a running daemon, systemd,
  Docker, a browser, or runs forever); its ``peaktrade-daemon`` commands must still parse with
  the real argument parser.
* Every ``--flag`` anywhere in the README exists in the parser (or is a listed flag of another
  tool), every command and option of the parser appears in the README, and every subcommand has
  an example.
* The metric names listed under "HTTP" are exactly the ones ``/metrics`` exports, and every
  ```` ```toml ```` example is accepted by the loader of the file it shows.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.cli import app, run_cmd
from peaktrade_daemon.daemon import default_plugins
from peaktrade_daemon.http.exposition import render
from peaktrade_daemon.metrics import DaemonMetrics
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.scheduling.jobs import validate_jobs
from peaktrade_daemon.settings import load_settings
from tests.conftest import PROJECT_ROOT, subprocess_env

README = PROJECT_ROOT / "README.md"
FENCE = re.compile(r"^```(?P<info>.*)$")
EXPECTED_EXIT = re.compile(r"#\s*exit\s+(?P<code>\d+)\b")
CAPTURE = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)=\$\((?P<body>.*)\)$")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "2>&1", "&"})
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
LINE_TIMEOUT_S = 120

# Flags the README mentions that belong to other tools, with the tool, so a typo in one of ours
# is not excused by this list.
FOREIGN_FLAGS = {
    "--name": "docker run",
    "--rm": "docker run",
    "--init": "docker run",
    "--stop-timeout": "docker run",
    "--signal": "docker kill",
    "--format": "docker inspect",
    "--kill-whom": "systemctl kill",
    "--now": "systemctl enable",
    "--constraint": "pip install",
    "--system": "useradd",
    "--home-dir": "useradd",
    "--shell": "useradd",
    "--dist": "pytest-xdist",
}


@dataclass(frozen=True, slots=True)
class ReadmeCommand:
    """One command line of a fenced shell block."""

    lineno: int
    text: str
    runnable: bool
    section: str = ""

    @property
    def expected_exit(self) -> int:
        match = EXPECTED_EXIT.search(self.text)
        return int(match["code"]) if match else 0

    def where(self) -> str:
        return f"README.md:{self.lineno}: {self.text}"


def readme_commands(text: str) -> list[ReadmeCommand]:
    """Every command line in ```sh blocks (continuations joined, comment lines dropped)."""
    commands: list[ReadmeCommand] = []
    block: str | None = None  # None outside a fence, else "run", "norun" or "other"
    pending: list[str] = []
    start = 0
    section = ""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if block is None and line.startswith("#"):
            section = line.lstrip("#").strip()
            continue
        fence = FENCE.match(line)
        if fence is not None:
            if block is not None:
                assert not pending, f"README.md:{start}: block ends inside a continued line"
                block = None
                continue
            words = fence["info"].split()
            language = words[0] if words else ""
            assert language not in {"console", "shell", "bash"}, (
                f"README.md:{lineno}: use ```sh or ```sh norun for commands, not {language}"
            )
            block = ("norun" if "norun" in words[1:] else "run") if language == "sh" else "other"
            continue
        if block not in {"run", "norun"}:
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = lineno
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].rstrip())
            continue
        pending.append(stripped)
        commands.append(ReadmeCommand(start, " ".join(pending), block == "run", section))
        pending = []
    return commands


def shell_words(command: str) -> list[str]:
    """The words of the command (comments dropped), cut at the first shell operator."""
    words = shlex.split(command, comments=True)
    for index, word in enumerate(words):
        if word in SHELL_OPERATORS:
            return words[:index]
    return words


def cli_arguments(command: str) -> list[str] | None:
    """The arguments a line passes to peaktrade-daemon, or None when it does not run it.

    Understands ``VAR=x peaktrade-daemon ...``, ``sudo -u USER .../peaktrade-daemon ...``,
    ``docker exec NAME peaktrade-daemon ...`` and ``docker run ... IMAGE ARGS`` (the image's
    entry point is peaktrade-daemon).
    """
    words = shell_words(command)
    while words and ENV_ASSIGNMENT.match(words[0]):
        words = words[1:]
    if words[:2] == ["sudo", "-u"]:
        words = words[3:]
    if not words:
        return None
    if words[0] == "peaktrade-daemon" or words[0].endswith("/peaktrade-daemon"):
        return words[1:]
    if words[:2] == ["docker", "exec"]:
        rest = [w for w in words[2:] if not w.startswith("-")]
        if len(rest) >= 2 and rest[1] == "peaktrade-daemon":
            return words[words.index("peaktrade-daemon", 2) + 1 :]
        return None
    if words[:2] == ["docker", "run"]:
        for index, word in enumerate(words):
            if word.startswith("peaktrade-daemon:"):
                return words[index + 1 :]
    return None


def parser_tree(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (command path, parser) pair, the top-level parser first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parser_tree(sub, (*path, name))


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every long option of the parser and its subcommands."""
    found: set[str] = set()
    for _, each in parser_tree(parser):
        for action in each._actions:
            found.update(o for o in action.option_strings if o.startswith("--"))
    return found - {"--help"}


def command_path(args: list[str]) -> tuple[str, ...]:
    """The subcommand path of parsed arguments (``("overrides", "diff")``; ``()`` for a run)."""
    parser = app.build_parser()
    known = {path for path, _ in parser_tree(parser)}
    words = [w for w in args if not w.startswith("-")]
    path: tuple[str, ...] = ()
    for word in words:
        if (*path, word) in known:
            path = (*path, word)
        elif path:
            break
    return path


@pytest.fixture(scope="module")
def readme_text() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def commands(readme_text: str) -> list[ReadmeCommand]:
    found = readme_commands(readme_text)
    assert found, "README.md has no ```sh blocks"
    return found


def test_every_peaktrade_command_parses(commands: list[ReadmeCommand]) -> None:
    parser = app.build_parser()
    checked = 0
    for command in commands:
        args = cli_arguments(command.text)
        if args is None:
            continue
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            if exc.code != 0:  # 0: an option that prints and exits (--version)
                raise AssertionError(f"{command.where()}: does not parse ({exc})") from exc
        checked += 1
    assert checked >= 40, f"only {checked} peaktrade-daemon commands found in README.md"


def test_every_flag_in_the_readme_exists(readme_text: str) -> None:
    ours = option_strings(app.build_parser())
    mentioned = set(FLAG.findall(readme_text))
    unknown = sorted(mentioned - ours - set(FOREIGN_FLAGS))
    assert not unknown, f"README.md mentions flags the parser does not have: {unknown}"
    stale = sorted(flag for flag in FOREIGN_FLAGS if flag not in mentioned)
    assert not stale, f"FOREIGN_FLAGS lists flags README.md no longer mentions: {stale}"


def test_every_command_and_option_is_documented(
    readme_text: str, commands: list[ReadmeCommand]
) -> None:
    parser = app.build_parser()
    missing_options = sorted(o for o in option_strings(parser) if o not in readme_text)
    assert not missing_options, f"options not mentioned in README.md: {missing_options}"
    paths = {path for path, sub in parser_tree(parser) if not _has_subcommands(sub)}
    shown = {command_path(args) for c in commands if (args := cli_arguments(c.text)) is not None}
    without_example = sorted(" ".join(p) or "(run)" for p in paths - shown)
    assert not without_example, f"commands without an example in README.md: {without_example}"


def _has_subcommands(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def test_convention_parser() -> None:
    text = "\n".join(
        [
            "## Section one",
            "```sh",
            "# a comment line",
            "peaktrade-daemon config check",
            "peaktrade-daemon health    # exit 1: no daemon",
            "peaktrade-daemon jobs run \\",
            "  --due --once",
            "```",
            "### Section two",
            "```sh norun",
            "peaktrade-daemon --continuous",
            "```",
            "```toml",
            "peaktrade-daemon = 1",
            "```",
        ]
    )
    found = readme_commands(text)
    assert [(c.lineno, c.text, c.runnable, c.expected_exit, c.section) for c in found] == [
        (4, "peaktrade-daemon config check", True, 0, "Section one"),
        (5, "peaktrade-daemon health    # exit 1: no daemon", True, 1, "Section one"),
        (6, "peaktrade-daemon jobs run --due --once", True, 0, "Section one"),
        (11, "peaktrade-daemon --continuous", False, 0, "Section two"),
    ]
    assert cli_arguments("PEAKTRADE_X=1 peaktrade-daemon config show | head") == [
        "config",
        "show",
    ]
    assert cli_arguments("docker exec peaktrade peaktrade-daemon proposals list") == [
        "proposals",
        "list",
    ]
    assert cli_arguments("docker exec peaktrade tail -f logs/autonomous_alerts.log") is None
    assert cli_arguments("docker run --rm -v a:/b peaktrade-daemon:0.1.0 config check") == [
        "config",
        "check",
    ]
    assert cli_arguments("docker build -t peaktrade-daemon:0.1.0 .") is None
    assert cli_arguments("sudo -u pt /opt/venv/bin/peaktrade-daemon health") == ["health"]
    assert command_path(["--root", "x", "overrides", "rollback", "--steps", "2"]) == (
        "overrides",
        "rollback",
    )


def _bash_prelude() -> str:
    python = shlex.quote(sys.executable)
    return (
        "peaktrade-daemon() { " + python + ' -m peaktrade_daemon --root "$PEAKTRADE_ROOT" "$@"; }\n'
        "set -o pipefail\n"
    )


def _is_daemon_run(args: list[str]) -> bool:
    try:
        parsed = app.build_parser().parse_args(args)
    except SystemExit:  # prints and exits (--version): no daemon runs
        return False
    return bool(parsed.handler is run_cmd.handle)


def scratch_root(base: Path) -> Path:
    """A fresh root with the shipped config/ and data/, as an operator starts from."""
    root = base / "root"
    shutil.copytree(PROJECT_ROOT / "config", root / "config")
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    for sub in ("state", "logs", "reports"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def run_section(commands: list[ReadmeCommand], root: Path) -> list[str]:
    """Run one section's lines in order in ``root``; the failures, described (empty: all ok)."""
    captured: dict[str, str] = {}
    for command in commands:
        capture = CAPTURE.match(command.text)
        script = _bash_prelude() + command.text
        if capture is not None:
            script += f'\nprintf %s "${capture["name"]}"'
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=root,
            env=subprocess_env(PEAKTRADE_ROOT=str(root), **captured),
            capture_output=True,
            text=True,
            timeout=LINE_TIMEOUT_S,
        )
        output = f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        if proc.returncode != command.expected_exit:
            return [
                f"{command.where()}\nexit {proc.returncode}, README says "
                f"{command.expected_exit}\n{output}"
            ]
        if "Traceback" in proc.stdout + proc.stderr:
            return [f"{command.where()}\nprinted a traceback\n{output}"]
        if capture is not None:
            if not proc.stdout.strip():
                return [f"{command.where()}: captured nothing\n{output}"]
            captured[capture["name"]] = proc.stdout.strip()
    return []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_runnable_commands_run(commands: list[ReadmeCommand], tmp_path: Path) -> None:
    """Run every ```sh line: each section (heading) in order in its own scratch root, sections
    side by side. Exit codes as documented, no traceback, and the alert log lines the commands
    leave behind have five tab-separated fields."""
    cycle_wired = default_plugins().cycle_runner is not None
    not_run: list[str] = []
    sections: dict[str, list[ReadmeCommand]] = {}
    for command in commands:
        if not command.runnable:
            continue
        args = cli_arguments(command.text)
        if args is not None and _is_daemon_run(args) and not cycle_wired:
            not_run.append(command.where())
            continue
        sections.setdefault(command.section, []).append(command)
    ran = sum(len(lines) for lines in sections.values())
    assert ran >= 25, f"only {ran} README commands to run"
    roots = {name: scratch_root(tmp_path / f"section{i}") for i, name in enumerate(sections)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda name: run_section(sections[name], roots[name]), sections)
        failures = [failure for result in results for failure in result]
    assert not failures, "\n\n".join(failures)
    lines = [
        line
        for root in roots.values()
        if (root / "logs" / "autonomous_alerts.log").exists()
        for line in (root / "logs" / "autonomous_alerts.log").read_text("utf-8").splitlines()
    ]
    assert lines, "the README's commands left no alert in logs/autonomous_alerts.log"
    assert all(len(line.split("\t")) == 5 for line in lines), lines
    if not_run:
        warnings.warn(
            "README daemon-run lines not run: no cycle runner is wired into default_plugins() "
            "yet: " + "; ".join(not_run),
            stacklevel=1,
        )


def test_metrics_table_matches_the_registry(readme_text: str) -> None:
    """The metric names the README lists are exactly the ones ``/metrics`` exports."""
    metrics = DaemonMetrics()
    metrics.watch_bus(EventBus())
    exported = {
        line.split()[2]
        for line in render(metrics).splitlines()
        if line.startswith("# TYPE ") and line.split()[2].startswith("peaktrade_")
    }
    section = readme_text.split("## HTTP: health, metrics, review page", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(peaktrade_[a-z_]+)`", section))
    assert documented == exported, (
        f"only in README: {sorted(documented - exported)}; "
        f"not in README: {sorted(exported - documented)}"
    )


def toml_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of every ```toml block."""
    blocks: list[tuple[int, str]] = []
    body: list[str] | None = None
    start = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if body is None and line.strip() == "```toml":
            body, start = [], lineno
        elif body is not None and line.strip() == "```":
            blocks.append((start, "\n".join(body)))
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def test_toml_examples_are_valid_and_match_the_shipped_files(
    readme_text: str, tmp_path: Path
) -> None:
    """Each ```toml example is accepted by the loader it documents; the policy example shows
    the shipped values."""
    blocks = toml_blocks(readme_text)
    kinds: list[str] = []
    for lineno, body in blocks:
        document = tomllib.loads(body)
        if "mode" in document and "bounds" in document:
            shipped = tomllib.loads((PROJECT_ROOT / "config/promotion.toml").read_text())
            differs = {k: v for k, v in document.items() if shipped.get(k) != v and k != "bounds"}
            assert not differs, f"README.md:{lineno}: differs from config/promotion.toml: {differs}"
            for key, bounds in document["bounds"].items():
                assert shipped["bounds"][key] == bounds, f"README.md:{lineno}: bounds.{key}"
            policy = tmp_path / "promotion.toml"
            policy.write_text(body)
            load_policy(policy)
            kinds.append("policy")
        elif "job" in document:
            validate_jobs(document, Path(f"README.md:{lineno}"))
            kinds.append("jobs")
        elif "ccxt" in document or "symbols" in document:
            root = scratch_root(tmp_path / f"toml{lineno}")
            daemon_toml = root / "config" / "daemon.toml"
            settings_text = daemon_toml.read_text()
            # The example replaces the shipped BTC/EUR symbol and [ccxt] section.
            for header in ('[symbols."BTC/EUR"]', "[ccxt]"):
                settings_text = _drop_table(settings_text, header)
            daemon_toml.write_text(settings_text + "\n" + body + "\n")
            settings = load_settings(root)
            assert settings.symbols["BTC/EUR"].feed == "ccxt"
            kinds.append("daemon")
        else:
            raise AssertionError(f"README.md:{lineno}: a ```toml block no test checks")
    assert sorted(kinds) == ["daemon", "jobs", "policy"], kinds


def _drop_table(text: str, header: str) -> str:
    """``text`` without the table ``header`` and its keys (up to the next table header)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line.startswith("["):
            skipping = line.strip() == header
        if not skipping:
            out.append(line)
    return "\n".join(out)


HEADER_EXECUTABLES = ("docker", "useradd", "python3", "install", "cp", "systemctl", "journalctl")
LABEL = re.compile(r"^[A-Z][A-Za-z ]*:\s+")


def header_commands(path: Path) -> list[str]:
    """The shell commands a file's leading comment block shows: lines (after an optional
    ``Label:``) starting with a known executable, ``\\`` continuations joined, the explanation
    after two or more spaces cut, whitespace collapsed."""
    commands: list[str] = []
    pending: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = LABEL.sub("", line.lstrip("#").strip())
        if pending is not None:
            text = pending + " " + text
        elif not (text.split(" ", 1)[0] in HEADER_EXECUTABLES or text.startswith("/opt/")):
            continue
        text = re.split(r"\s{2,}", text.strip())[0] if not text.endswith("\\") else text
        if text.endswith("\\"):
            pending = text[:-1].strip()
            continue
        pending = None
        commands.append(" ".join(text.split()))
    return commands


def _readme_command_texts(commands: list[ReadmeCommand]) -> set[str]:
    return {" ".join(c.text.split("#")[0].split()) for c in commands}


def test_header_commands_of_the_unit_and_dockerfile_are_in_the_readme(
    commands: list[ReadmeCommand],
) -> None:
    """The install/operate commands in the unit's and the Dockerfile's header comments appear in
    the README verbatim, so the two cannot tell an operator different things."""
    shown = _readme_command_texts(commands)
    for name in ("deploy/peaktrade-daemon.service", "Dockerfile"):
        found = header_commands(PROJECT_ROOT / name)
        assert len(found) >= 6, (name, found)
        missing = [c for c in found if c not in shown]
        assert not missing, f"{name} header commands not in README.md: {missing}"


def test_image_tag_is_the_project_version(readme_text: str) -> None:
    version = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]
    tags = set(re.findall(r"peaktrade-daemon:([\w.]+)", readme_text))
    assert tags == {version}, f"image tags in README.md {tags} != project version {version}"
