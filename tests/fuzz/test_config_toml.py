"""config/config.toml (the trading system's base configuration) against malformed files.

Contract: load_config / load_effective_config return a config whose environment gate is decided
on well-typed values, or raise ConfigError naming the file (and the TOML position or key).
Parser limits (5000-digit integers, 1000-deep arrays, 3000-deep tables) are errors too, in every
TOML file the product reads.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings

from peaktrade_daemon.config.loader import load_config, load_effective_config
from peaktrade_daemon.config.overrides import is_live_like
from peaktrade_daemon.errors import ConfigError, PeakTradeError, UnparseableFileError
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.scheduling.jobs import load_jobs
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.storage.atomic import read_toml_document
from tests.conftest import PROJECT_ROOT
from tests.fuzz.conftest import OutsideWatch, run_cli_many
from tests.fuzz.mutations import damaged, mutated_document

SHIPPED = (PROJECT_ROOT / "config" / "config.toml").read_bytes()
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def load_or_config_error(root: Path) -> None:
    path = root / "config" / "config.toml"
    for mode in (None, "live", "backtest"):
        try:
            config = load_effective_config(path, root=root, mode=mode)
        except ConfigError as exc:
            assert exc.file == str(path), exc
            return
        assert isinstance(config.get("environment.mode", ""), str)
        assert config.get("environment.enable_live_trading", False) in (True, False)
        is_live_like(config.to_dict())
    load_config(path)


@FUZZ
@given(document=mutated_document(tomllib.loads(SHIPPED.decode())))
def test_structurally_mutated_config_loads_with_a_typed_gate_or_is_refused(
    project_root: Path, document: dict[str, object]
) -> None:
    (project_root / "config" / "config.toml").write_text(tomlkit.dumps(document))
    load_or_config_error(project_root)


@FUZZ
@given(raw=damaged(SHIPPED))
def test_byte_damaged_config_loads_or_is_refused(project_root: Path, raw: bytes) -> None:
    (project_root / "config" / "config.toml").write_bytes(raw)
    load_or_config_error(project_root)


def edit(old: str, new: str) -> bytes:
    assert old.encode() in SHIPPED
    return SHIPPED.replace(old.encode(), new.encode(), 1)


BAD_CONFIGS = {
    "mode a number": (edit('mode = "paper"', "mode = 5"), "key 'environment.mode': must be a"),
    "mode a list": (edit('mode = "paper"', 'mode = ["live"]'), "key 'environment.mode'"),
    "live flag a string": (
        edit("enable_live_trading = false", 'enable_live_trading = "false"'),
        "key 'environment.enable_live_trading': must be a boolean",
    ),
    "environment a string": (
        b'environment = "live"\n' + SHIPPED.replace(b"[environment]", b"[environment_old]"),
        "key 'environment': [environment] must be a table",
    ),
    "5000-digit integer": (SHIPPED + b"\n[x]\nbig = " + b"9" * 5000 + b"\n", "cannot be parsed"),
    "1000-deep array": (SHIPPED + b"\n[x]\na = " + b"[" * 1000 + b"]" * 1000, "cannot be parsed"),
    "3000-deep table": (SHIPPED + b"\n[" + b".".join([b"x"] * 3000) + b"]\n", "deeper than 32"),
    "truncated": (SHIPPED[: SHIPPED.index(b"[portfolio]") + 5], "invalid TOML"),
    "BOM": (b"\xef\xbb\xbf" + SHIPPED, ":1:1: invalid TOML"),
    "UTF-16": (SHIPPED.decode().encode("utf-16"), "not UTF-8 text"),
    "NUL byte": (SHIPPED + b"\x00", "invalid TOML"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_hand_picked_bad_config_is_refused_naming_the_file(project_root: Path, name: str) -> None:
    raw, needle = BAD_CONFIGS[name]
    path = project_root / "config" / "config.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as caught:
        load_effective_config(path, root=project_root)
    assert caught.value.file == str(path)
    assert needle in str(caught.value)


@pytest.mark.parametrize("name", ["5000-digit integer", "1000-deep array", "3000-deep table"])
def test_parser_limits_are_clean_errors_in_every_toml_file(project_root: Path, name: str) -> None:
    raw = BAD_CONFIGS[name][0].replace(SHIPPED, b"")
    config = project_root / "config"
    for target in ("daemon.toml", "promotion.toml", "scheduler/jobs.toml"):
        (config / target).write_bytes(raw)
    with pytest.raises(ConfigError):
        load_settings(project_root)
    with pytest.raises(PeakTradeError):
        load_policy(config / "promotion.toml")
    with pytest.raises(ConfigError):
        load_jobs(config / "scheduler" / "jobs.toml")
    (config / "live_overrides" / "auto.toml").write_bytes(raw)
    with pytest.raises(UnparseableFileError):
        read_toml_document(config / "live_overrides" / "auto.toml")
    (config / "daemon.toml").unlink()
    effective = load_effective_config(root=project_root, mode="live")
    assert [w.file for w in effective.warnings] == [str(config / "live_overrides" / "auto.toml")]


def test_crlf_and_tabs_config_loads_the_same(project_root: Path) -> None:
    path = project_root / "config" / "config.toml"
    shipped = load_config(path)
    path.write_bytes(SHIPPED.replace(b"\n", b"\r\n").replace(b" = ", b"\t=\t"))
    assert load_config(path) == shipped


@pytest.mark.slow
def test_cli_on_bad_base_config(project_root: Path, outside_root: OutsideWatch) -> None:
    roots = {
        name: outside_root.clone(f"root-{i}")
        for i, name in enumerate(("mode a number", "5000-digit integer"))
    }
    for name, root in roots.items():
        (root / "config" / "config.toml").write_bytes(BAD_CONFIGS[name][0])
    number, digits = roots.values()
    results = run_cli_many(
        [
            (number, ("config", "show")),
            (number, ("overrides", "diff")),
            (digits, ("config", "check")),
            (project_root, ("--config", "../outside/x", "config", "show")),
        ]
    )
    results[0].assert_clean_failure(2, "config.toml", "environment.mode")
    results[1].assert_clean_failure(2, "config.toml", "environment.mode")
    results[2].assert_clean_failure(1, "config.toml", "cannot be parsed")
    results[3].assert_clean_failure(2, "outside/x", "invalid TOML")
