"""Lazy subcommands: a command's module is imported only when that command is used, and the
parser still looks and behaves as if every command were registered up front."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from peaktrade_daemon.cli import app
from peaktrade_daemon.cli.subcommands import LazySubcommands
from tests.conftest import subprocess_env

# Prints the command modules imported after parsing argv (no handler runs).
PARSE_ONLY = """
import json, sys
from peaktrade_daemon.cli.app import build_parser
build_parser().parse_args(sys.argv[1:])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("peaktrade_daemon.cli."))))
"""


def _imported_after_parsing(*argv: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PARSE_ONLY, *argv],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    modules: list[str] = json.loads(out)
    return modules


def _subcommands(parser: argparse.ArgumentParser) -> LazySubcommands:
    (action,) = [a for a in parser._actions if isinstance(a, LazySubcommands)]
    return action


def test_parsing_a_command_imports_only_its_module() -> None:
    base = [
        "peaktrade_daemon.cli.app",
        "peaktrade_daemon.cli.run_cmd",
        "peaktrade_daemon.cli.subcommands",
    ]
    assert _imported_after_parsing("--continuous") == base
    with_config = _imported_after_parsing("--root", "/x", "config", "show")
    assert [m for m in with_config if m.endswith("_cmd")] == [
        "peaktrade_daemon.cli.config_cmd",
        "peaktrade_daemon.cli.run_cmd",
    ]


def test_help_lists_every_command_in_order_with_its_help() -> None:
    parser = app.build_parser()
    text = parser.format_help()
    names = [name for name, _ in app.COMMAND_MODULES]
    positions = [text.index(f"\n    {name} ") for name in names]
    assert positions == sorted(positions)
    assert "show or check the effective configuration" in text
    assert "exit 0 when the running daemon on this root is healthy" in text
    assert list(_subcommands(parser).choices) == names


def test_every_listed_module_registers_its_command() -> None:
    parser = app.build_parser()
    parsers = dict(_subcommands(parser).choices.items())  # builds every command
    assert list(parsers) == [name for name, _ in app.COMMAND_MODULES]
    for name, sub in parsers.items():
        assert sub.prog == f"{app.PROG} {name}"
    assert parser.parse_args(["history"]).handler.__module__ == "peaktrade_daemon.cli.history_cmd"


def test_a_command_loaded_first_keeps_the_listing_order() -> None:
    parser = app.build_parser()
    parser.parse_args(["health"])  # built out of order
    assert list(_subcommands(parser).choices) == [name for name, _ in app.COMMAND_MODULES]
    text = parser.format_help()
    assert text.index("\n    config ") < text.index("\n    health ")


def test_unknown_command_lists_the_choices_without_loading_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = app.build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["nosuch"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err and "'config', 'overrides'" in err
    assert _subcommands(parser)._pending.keys() == {name for name, _ in app.COMMAND_MODULES}


def test_a_module_that_does_not_register_its_command_is_an_error() -> None:
    parser = argparse.ArgumentParser(prog="x")
    subparsers = parser.add_subparsers(action=LazySubcommands)
    assert isinstance(subparsers, LazySubcommands)
    subparsers.add_lazy("bogus", "peaktrade_daemon.cli.history_cmd", app.common_options())
    with pytest.raises(RuntimeError, match="did not add the command 'bogus'"):
        parser.parse_args(["bogus"])
