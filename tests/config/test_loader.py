"""§2.1–§2.4: loading, the environment gate, override semantics, offline overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from peaktrade_daemon.config.loader import (
    PeakConfig,
    load_config,
    load_config_with_live_overrides,
    load_effective_config,
)
from peaktrade_daemon.errors import ConfigError

BASE = """
[environment]
mode = "{mode}"
{extra_env}

[portfolio]
leverage = 1.0
name = "main"
enabled = true
max_positions = 5

[strategy]
trigger_delay = 10.0
symbols = ["BTC/USD"]

[strategy.breakout]
lookback = 20

[macro]
regime_weight = 0.25
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


def base(root: Path, mode: str = "live", extra_env: str = "") -> Path:
    return write(root / "config" / "config.toml", BASE.format(mode=mode, extra_env=extra_env))


def live(root: Path, body: str) -> Path:
    return write(root / "config" / "live_overrides" / "auto.toml", body)


# --- §2.1 loading --------------------------------------------------------------------------


def test_load_config_default_path_under_root(root: Path) -> None:
    base(root)
    config = load_config(root=root)
    assert config.get("portfolio.leverage") == 1.0
    assert config.source_path == root / "config" / "config.toml"


def test_load_config_path_from_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = write(root / "elsewhere.toml", "[portfolio]\nleverage = 1.5\n")
    monkeypatch.setenv("PEAK_TRADE_CONFIG_PATH", str(other))
    assert load_config(root=root).get("portfolio.leverage") == 1.5


def test_explicit_path_beats_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEAK_TRADE_CONFIG_PATH", str(root / "nope.toml"))
    explicit = write(root / "x.toml", "[portfolio]\nleverage = 1.25\n")
    assert load_config(explicit).get("portfolio.leverage") == 1.25


def test_missing_base_names_file(root: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(root / "missing.toml")
    assert "missing.toml" in str(err.value)
    assert "not found" in str(err.value)


def test_invalid_base_names_file_and_position(root: Path) -> None:
    bad = write(root / "bad.toml", "[portfolio]\nleverage = = 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert err.value.file == str(bad)
    assert err.value.line == 2
    assert f"{bad}:2:" in str(err.value)


def test_get_default_and_missing_paths(root: Path) -> None:
    config = load_config(base(root))
    assert config.get("portfolio.nope") is None
    assert config.get("portfolio.nope", 7) == 7
    assert config.get("portfolio.leverage.deeper", "d") == "d"
    assert "portfolio.leverage" in config
    assert "portfolio.nope" not in config


def test_peakconfig_is_immutable(root: Path) -> None:
    config = load_config(base(root))
    table = config.get("portfolio")
    table["leverage"] = 99.0
    snapshot = config.to_dict()
    snapshot["portfolio"]["leverage"] = 42.0
    config.get("strategy.symbols").append("X")
    assert config.get("portfolio.leverage") == 1.0
    assert config.get("strategy.symbols") == ["BTC/USD"]
    updated = config.with_updates({"portfolio.leverage": 1.5})
    assert updated.get("portfolio.leverage") == 1.5
    assert config.get("portfolio.leverage") == 1.0
    with pytest.raises(KeyError):
        config.with_updates({"portfolio.unknown": 1})


# --- §2.2 environment gate -----------------------------------------------------------------

LIVE_LIKE = ["live", "LIVE", "testnet", "shadow", "paper_live", "live_dry_run", " Live "]
NOT_LIVE = ["paper", "backtest", "drill", "research", ""]


@pytest.mark.parametrize("mode", LIVE_LIKE)
def test_live_like_modes_apply_overrides(root: Path, mode: str) -> None:
    live(root, '[auto_applied]\n"portfolio.leverage" = 1.75\n')
    config = load_config_with_live_overrides(base(root, mode), root=root)
    assert config.get("portfolio.leverage") == 1.75


@pytest.mark.parametrize("mode", NOT_LIVE)
def test_other_modes_do_not_even_read_the_file(root: Path, mode: str) -> None:
    # An unparseable file proves it was not read: no warning is produced.
    live(root, "this is = = not toml")
    config = load_config_with_live_overrides(base(root, mode), root=root)
    assert config.get("portfolio.leverage") == 1.0
    assert config.warnings == ()


def test_enable_live_trading_true_is_live_like(root: Path) -> None:
    live(root, '[auto_applied]\n"portfolio.leverage" = 1.5\n')
    path = base(root, "paper", "enable_live_trading = true")
    assert load_config_with_live_overrides(path, root=root).get("portfolio.leverage") == 1.5


def test_enable_live_trading_false_is_not(root: Path) -> None:
    live(root, '[auto_applied]\n"portfolio.leverage" = 1.5\n')
    path = base(root, "paper", "enable_live_trading = false")
    assert load_config_with_live_overrides(path, root=root).get("portfolio.leverage") == 1.0


@pytest.mark.parametrize("value", ['"false"', '"true"', "1", "0"])
def test_non_boolean_enable_live_trading_is_invalid(root: Path, value: str) -> None:
    path = base(root, "paper", f"enable_live_trading = {value}")
    for loader in (load_config, load_config_with_live_overrides, load_effective_config):
        with pytest.raises(ConfigError) as err:
            loader(path)
        assert err.value.key == "environment.enable_live_trading"
        assert "boolean" in str(err.value)


def test_force_apply_overrides_in_paper(root: Path) -> None:
    live(root, '[auto_applied]\n"portfolio.leverage" = 1.5\n')
    config = load_config_with_live_overrides(
        base(root, "paper"), root=root, force_apply_overrides=True
    )
    assert config.get("portfolio.leverage") == 1.5


def test_gate_uses_base_only_environment_override_ignored(root: Path) -> None:
    # Trying to switch the gate (or anything in environment) from the overrides file never works.
    live(
        root,
        """
        [auto_applied]
        "environment.mode" = "paper"
        "environment.enable_live_trading" = false
        "portfolio.leverage" = 1.25
        """,
    )
    config = load_config_with_live_overrides(base(root, "live"), root=root)
    assert config.get("environment.mode") == "live"
    assert config.get("portfolio.leverage") == 1.25
    refused = {w.key: w for w in config.warnings}
    assert "FIREWALL: environment.* is never written" in refused["environment.mode"].reason
    assert refused["environment.mode"].critical
    assert "environment.enable_live_trading" in refused


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("portfolio.leverage", "50.0", "above the hard maximum"),
        ("exchange.api_key", '"stolen"', "holds a secret"),
    ],
)
def test_the_live_loader_never_applies_a_value_behind_the_firewall(
    root: Path, key: str, value: str, why: str
) -> None:
    """A hand edit may lower a value in an emergency, never set one the hard firewall forbids
    (§8.8): the base value stays and the warning is critical."""
    path = base(root, "live")
    path.write_text(path.read_text() + '\n[exchange]\napi_key = ""\n\n[risk]\nmax_exposure = 1.5\n')
    live(root, f'[auto_applied]\n"{key}" = {value}\n"risk.max_exposure" = 1.2\n')
    config = load_config_with_live_overrides(path, root=root)
    assert config.get(key) == load_config(path).get(key)
    assert config.get("risk.max_exposure") == 1.2  # a hand-lowered value still applies
    (warning,) = config.warnings
    assert warning.key == key and why in warning.reason and warning.critical


# --- §2.3 override semantics (table-driven) -------------------------------------------------

# (overrides file body, expected effective values, expected refused keys with a reason fragment)
CASES = {
    "quoted keys": (
        '[auto_applied]\n"portfolio.leverage" = 1.75\n"macro.regime_weight" = 0.35\n',
        {"portfolio.leverage": 1.75, "macro.regime_weight": 0.35},
        {},
    ),
    "unquoted dotted keys": (
        "[auto_applied]\nportfolio.leverage = 1.5\nstrategy.trigger_delay = 8.0\n",
        {"portfolio.leverage": 1.5, "strategy.trigger_delay": 8.0},
        {},
    ),
    "nested tables": (
        "[auto_applied.strategy.breakout]\nlookback = 30\n",
        {"strategy.breakout.lookback": 30},
        {},
    ),
    "no auto_applied table: whole document": (
        '"portfolio.leverage" = 1.25\n[macro]\nregime_weight = 0.5\n',
        {"portfolio.leverage": 1.25, "macro.regime_weight": 0.5},
        {},
    ),
    "int for float is numeric": (
        '[auto_applied]\n"portfolio.leverage" = 2\n',
        {"portfolio.leverage": 2},
        {},
    ),
    "float for int is numeric": (
        '[auto_applied]\n"portfolio.max_positions" = 6.0\n',
        {"portfolio.max_positions": 6.0},
        {},
    ),
    "unknown path ignored, never created": (
        '[auto_applied]\n"portfolio.new_key" = 1.0\n"nothing.here" = 2\n"portfolio.leverage" = 1.5\n',
        {"portfolio.leverage": 1.5, "portfolio.new_key": None, "nothing.here": None},
        {"portfolio.new_key": "unknown key", "nothing.here": "unknown key"},
    ),
    "path below a scalar is unknown": (
        '[auto_applied]\n"portfolio.leverage.x" = 1.0\n',
        {"portfolio.leverage": 1.0},
        {"portfolio.leverage.x": "unknown key"},
    ),
    "string for number refused": (
        '[auto_applied]\n"portfolio.leverage" = "1.5"\n',
        {"portfolio.leverage": 1.0},
        {"portfolio.leverage": "type mismatch: base value is number, override is str"},
    ),
    "bool is not numeric": (
        '[auto_applied]\n"portfolio.leverage" = true\n"portfolio.enabled" = 1\n',
        {"portfolio.leverage": 1.0, "portfolio.enabled": True},
        {
            "portfolio.leverage": "base value is number, override is bool",
            "portfolio.enabled": "base value is bool, override is number",
        },
    ),
    "scalar never replaces a table": (
        '[auto_applied]\n"strategy.breakout" = 5\n',
        {"strategy.breakout.lookback": 20},
        {"strategy.breakout": "base value is table, override is number"},
    ),
    "table never replaces a scalar": (
        "[auto_applied.portfolio.leverage]\nx = 1\n",
        {"portfolio.leverage": 1.0},
        {"portfolio.leverage.x": "unknown key"},
    ),
    "array for array": (
        '[auto_applied]\n"strategy.symbols" = ["EUR/USD"]\n',
        {"strategy.symbols": ["EUR/USD"]},
        {},
    ),
    "string for array refused": (
        '[auto_applied]\n"strategy.symbols" = "EUR/USD"\n',
        {"strategy.symbols": ["BTC/USD"]},
        {"strategy.symbols": "base value is array, override is str"},
    ),
    "empty auto_applied": ("[auto_applied]\n", {"portfolio.leverage": 1.0}, {}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_override_rules(root: Path, name: str) -> None:
    body, expected, refused = CASES[name]
    live(root, body)
    base_path = base(root, "live")
    before = load_config(base_path)
    config = load_config_with_live_overrides(base_path, root=root)
    for key, value in expected.items():
        assert config.get(key) == value, key
    reasons = {w.key: w.reason for w in config.warnings}
    assert set(reasons) == set(refused)
    for key, fragment in refused.items():
        assert fragment in reasons[key]
        assert all(str(root) in w.file for w in config.warnings)
    # The base is never mutated by loading overrides.
    assert load_config(base_path) == before


def test_missing_overrides_file_is_no_overrides(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    config = load_config_with_live_overrides(base(root, "live"), root=root)
    assert config.get("portfolio.leverage") == 1.0
    assert config.warnings == ()
    assert any("no override file" in r.getMessage() for r in caplog.records)


def test_invalid_overrides_toml_warns_with_position_never_raises(root: Path) -> None:
    path = live(root, '[auto_applied]\n"portfolio.leverage" = \n')
    config = load_config_with_live_overrides(base(root, "live"), root=root)
    assert config.get("portfolio.leverage") == 1.0
    (warning,) = config.warnings
    assert warning.file == str(path)
    assert "invalid TOML" in warning.reason and "line 2" in warning.reason


def test_non_utf8_overrides_file_warns(root: Path) -> None:
    path = root / "config" / "live_overrides" / "auto.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'[auto_applied]\n"portfolio.leverage" = 1.5 # \xff\n')
    config = load_config_with_live_overrides(base(root, "live"), root=root)
    assert config.get("portfolio.leverage") == 1.0
    assert "UTF-8" in config.warnings[0].reason


def test_explicit_auto_overrides_path(root: Path) -> None:
    other = write(root / "other.toml", '[auto_applied]\n"macro.regime_weight" = 0.5\n')
    config = load_config_with_live_overrides(base(root, "live"), auto_overrides_path=other)
    assert config.get("macro.regime_weight") == 0.5


# --- §2.4 offline learning overrides --------------------------------------------------------


def offline(root: Path, name: str, body: str) -> Path:
    return write(root / "config" / "auto" / name, body)


@pytest.mark.parametrize("mode", ["backtest", "drill", "BACKTEST"])
def test_offline_overrides_apply_in_backtest_and_drill(root: Path, mode: str) -> None:
    offline(root, "a.override.toml", '[overrides]\n"strategy.trigger_delay" = 8.0\n')
    config = load_effective_config(base(root, mode), root=root)
    assert config.get("strategy.trigger_delay") == 8.0


@pytest.mark.parametrize("mode", ["paper", "live", "testnet", "shadow"])
def test_offline_overrides_never_in_paper_or_live(root: Path, mode: str) -> None:
    offline(root, "a.override.toml", '[overrides]\n"strategy.trigger_delay" = 8.0\n')
    config = load_effective_config(base(root, mode), root=root)
    assert config.get("strategy.trigger_delay") == 10.0


def test_offline_files_merge_in_name_order_with_same_rules(root: Path) -> None:
    offline(root, "b.override.toml", '[overrides]\n"macro.regime_weight" = 0.5\n')
    offline(
        root, "a.override.toml", '[overrides]\n"macro.regime_weight" = 0.3\n"portfolio.x" = 1\n'
    )
    offline(root, "c.override.toml", '[overrides]\n"portfolio.leverage" = "high"\n')
    offline(root, "ignored.toml", '[overrides]\n"portfolio.leverage" = 9.0\n')
    config = load_effective_config(base(root, "backtest"), root=root)
    assert config.get("macro.regime_weight") == 0.5  # b after a
    assert config.get("portfolio.leverage") == 1.0
    reasons = {w.key: w.reason for w in config.warnings}
    assert "unknown key" in reasons["portfolio.x"]
    assert "type mismatch" in reasons["portfolio.leverage"]
    assert config.provenance["macro.regime_weight"].file.endswith("b.override.toml")


def test_offline_environment_override_refused(root: Path) -> None:
    offline(root, "a.override.toml", '[overrides]\n"environment.mode" = "live"\n')
    config = load_effective_config(base(root, "backtest"), root=root)
    assert config.get("environment.mode") == "backtest"
    assert config.warnings and config.warnings[0].key == "environment.mode"


# --- §2.5 provenance -------------------------------------------------------------------------


def test_provenance_of_every_key(root: Path) -> None:
    live_path = live(root, '[auto_applied]\n"portfolio.leverage" = 1.5\n')
    base_path = base(root, "live")
    config = load_effective_config(base_path, root=root)
    assert config.provenance["portfolio.leverage"].source == "live"
    assert config.provenance["portfolio.leverage"].file == str(live_path)
    assert config.provenance["macro.regime_weight"].source == "base"
    assert config.provenance["macro.regime_weight"].file == str(base_path)
    assert set(config.provenance) == {key for key, _ in config.leaves()}


def test_effective_mode_preview_does_not_change_file(root: Path) -> None:
    live(root, '[auto_applied]\n"portfolio.leverage" = 1.5\n')
    base_path = base(root, "paper")
    assert load_effective_config(base_path, root=root).get("portfolio.leverage") == 1.0
    preview = load_effective_config(base_path, root=root, mode="live")
    assert preview.get("portfolio.leverage") == 1.5
    assert load_config(base_path).get("environment.mode") == "paper"


def test_shipped_config_has_the_tuned_keys() -> None:
    shipped = Path(__file__).resolve().parents[2] / "config" / "config.toml"
    config = load_config(shipped)
    assert config.get("environment.mode") == "paper"
    assert config.get("portfolio.leverage") == 1.0
    assert config.get("strategy.trigger_delay") == 10.0
    assert config.get("macro.regime_weight") == 0.25
    auto = Path(shipped).parent / "live_overrides" / "auto.toml"
    text = auto.read_text()
    assert text.startswith("#") and "[auto_applied]" in text
    forced = load_config_with_live_overrides(
        shipped, auto_overrides_path=auto, force_apply_overrides=True
    )
    assert forced.warnings == () and forced == config


def test_peakconfig_from_memory_has_base_provenance() -> None:
    config = PeakConfig({"a": {"b": 1}})
    assert config.provenance["a.b"].source == "base"
