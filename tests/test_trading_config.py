"""config.toml's tables the daemon reads: a typo in one is an error, never a silent default.

SPEC principle 1: an unknown key is refused loudly, never a silent fall back to "no limits".
``[risk] stop_los = 0.02`` used to leave ``risk.stop_loss`` absent, so the paper book ran with
no stop while ``config check`` said the file was fine.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from peaktrade_daemon.config import PeakConfig, load_config
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.trading_config import check_trading_config, known_keys
from peaktrade_daemon.workflows.risk_check import SYMBOL_CHECKS
from tests.cli.test_config_cmd import run

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "config.toml"
FILE = Path("/etc/peak/config.toml")


def shipped_with(old: str, new: str) -> PeakConfig:
    text = SHIPPED.read_text()
    assert old in text
    return PeakConfig(tomllib.loads(text.replace(old, new, 1)))


def refusal(config: PeakConfig) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        check_trading_config(config, FILE)
    assert caught.value.file == str(FILE)
    return caught.value


def test_the_shipped_config_passes() -> None:
    check_trading_config(load_config(SHIPPED), SHIPPED)


def test_a_misspelt_stop_loss_is_refused_with_the_key_it_meant() -> None:
    error = refusal(shipped_with("stop_loss = 0.02", "stop_los = 0.02"))
    assert error.key == "risk.stop_los"
    assert "did you mean 'risk.stop_loss'" in error.problem


def test_a_missing_stop_loss_is_refused_not_taken_as_no_stop() -> None:
    error = refusal(shipped_with("stop_loss = 0.02", "# no stop configured"))
    assert error.key == "risk.stop_loss"
    assert "0 for none" in error.problem


def test_no_stop_said_as_zero_is_accepted() -> None:
    check_trading_config(shipped_with("stop_loss = 0.02", "stop_loss = 0"), FILE)


@pytest.mark.parametrize(
    ("old", "new", "key", "meant"),
    [
        ("fee_bps = 5.0", "fees_bps = 5.0", "portfolio.fees_bps", "portfolio.fee_bps"),
        ("max_drawdown = 0.20", "max_drawdwn = 0.20", "risk.max_drawdwn", "risk.max_drawdown"),
        (
            "slow_window = 30",
            "slow_windw = 30",
            "strategy.ma_crossover.slow_windw",
            "strategy.ma_crossover.slow_window",
        ),
        ("[strategy.breakout]", "[strategy.breakuot]", "strategy.breakuot", "strategy.breakout"),
        ('enabled = ["', 'enable = ["', "strategy.enable", "strategy.enabled"),
    ],
)
def test_an_unknown_key_in_a_table_the_daemon_reads_is_refused(
    old: str, new: str, key: str, meant: str | None
) -> None:
    error = refusal(shipped_with(old, new))
    assert error.key == key
    assert "unknown key" in error.problem
    if meant is not None:
        assert f"did you mean {meant!r}" in error.problem


def test_tables_the_daemon_does_not_read_stay_open() -> None:
    """[macro] beyond the tuned key, [market] and new tables belong to the trading system."""
    config = shipped_with("trend_window = 50", "trend_window = 50\nvol_window = 20")
    data = config.to_dict()
    data["execution"] = {"venue": "paper"}
    data["market"]["universe"] = "majors"
    check_trading_config(PeakConfig(data), FILE)


def test_every_limit_the_risk_check_reads_is_a_known_key() -> None:
    keys = known_keys()
    assert {limit for _, limit, _ in SYMBOL_CHECKS.values()} <= keys
    assert "risk.max_leverage" in keys and "risk.stop_loss" in keys


def test_config_check_names_the_file_and_the_misspelt_key(project_root: Path) -> None:
    path = project_root / "config" / "config.toml"
    path.write_text(path.read_text().replace("stop_loss = 0.02", "stop_los = 0.02", 1))
    proc = run(project_root, "config", "check")
    assert proc.returncode == 1, proc.stdout
    assert f"{path}: key 'risk.stop_los': unknown key" in proc.stdout
    assert "did you mean 'risk.stop_loss'" in proc.stdout
