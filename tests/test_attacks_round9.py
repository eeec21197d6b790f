"""Ninth round of attacks (red team against the -OO deployment, commits 9e4b53e to f991dca).

Under ``python -OO -P`` nothing behaved differently from plain python: 360 CLI runs over 20
hand-edited spellings of auto.toml, the attack suites traced for third-party asserts (none
fired), every ``--help``. The round found two older faults, the same in both modes, both hand
edits of auto.toml that an operator's commands could not get past:

* **``overrides clear`` and ``overrides adopt`` crashed on a live table that is not a table.**
  ``auto_applied = true`` (or any scalar): tomlkit hands a boolean back as a plain ``bool``,
  which has no ``unwrap``, so the writer's ``_flat_live_table`` raised AttributeError: exit 1,
  "unexpected error". It failed closed (nothing written; the loader ignores such a value with a
  warning), but SPEC §8.8 makes clear the path that always works past a hand edit.
* **``overrides show`` crashed on a date or time value.** A hand edit
  ``"portfolio.leverage" = 1979-05-27T07:32:00Z`` made it exit 1 (a datetime is not JSON), so
  the command an operator runs first to see what is wrong could not show it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from peaktrade_daemon.trading_config import load_trading_config
from tests.daemon_harness import run_cli, set_toml

AUTO = Path("config/live_overrides/auto.toml")
CONFIG = Path("config/config.toml")
DATETIME = "1979-05-27T07:32:00Z"

#: auto.toml whose live table is a value of another TOML type.
NOT_A_TABLE = [
    "auto_applied = true\n",
    "auto_applied = false\n",
    "auto_applied = 3\n",
    'auto_applied = "portfolio.leverage = 9"\n',
    f"auto_applied = {DATETIME}\n",
    "auto_applied = [1, 2]\n",
    '[[auto_applied]]\n"portfolio.leverage" = 9.0\n',
]


def _live(root: Path) -> None:
    set_toml(root / CONFIG, 'mode = "paper"', 'mode = "live"')


def _effective(root: Path) -> float:
    config = load_trading_config(
        root / CONFIG, root=root, auto_overrides_path=root / AUTO, offline_dir=root / "config/auto"
    )
    return float(config.get("portfolio.leverage"))


async def _emptied_and_sound(root: Path, base: float) -> None:
    """auto.toml holds an empty live table, the base value is in force, the trail verifies."""
    assert tomllib.loads((root / AUTO).read_text())["auto_applied"] == {}
    assert _effective(root) == base
    code, out, err = await run_cli(root, "overrides", "verify-audit")
    assert code == 0, out + err


@pytest.mark.parametrize("text", NOT_A_TABLE)
async def test_clear_gets_past_a_live_table_that_is_not_a_table(
    project_root: Path, text: str
) -> None:
    _live(project_root)
    base = _effective(project_root)
    (project_root / AUTO).write_text(text)
    code, out, err = await run_cli(project_root, "overrides", "clear", "--by", "alice")
    assert code == 0, out + err
    assert "Traceback" not in err and "unexpected" not in err
    await _emptied_and_sound(project_root, base)


@pytest.mark.parametrize("text", NOT_A_TABLE)
async def test_adopt_of_a_live_table_that_is_not_a_table_adopts_what_the_loader_applies(
    project_root: Path, text: str
) -> None:
    """The loader applies nothing from such a file; adopting it records exactly that: an empty
    live table, in the file and in the trail."""
    _live(project_root)
    base = _effective(project_root)
    (project_root / AUTO).write_text(text)
    code, out, err = await run_cli(project_root, "overrides", "adopt", "--by", "alice")
    assert code == 0, out + err
    await _emptied_and_sound(project_root, base)


async def test_show_prints_a_hand_edited_datetime_as_toml_spells_it(project_root: Path) -> None:
    (project_root / AUTO).write_text(f'[auto_applied]\n"portfolio.leverage" = {DATETIME}\n')
    code, out, err = await run_cli(project_root, "overrides", "show")
    assert code == 0, out + err
    assert f"portfolio.leverage = {DATETIME}" in out


@pytest.mark.parametrize("value", [DATETIME, "1979-05-27", "07:32:00", "[1979-05-27]"])
async def test_clear_gets_past_a_hand_edited_date_or_time(project_root: Path, value: str) -> None:
    """clear records the values it removes in the JSON audit trail: a date is not JSON."""
    _live(project_root)
    base = _effective(project_root)
    (project_root / AUTO).write_text(f'[auto_applied]\n"portfolio.leverage" = {value}\n')
    code, out, err = await run_cli(project_root, "overrides", "clear", "--by", "alice")
    assert code == 0, out + err
    await _emptied_and_sound(project_root, base)
