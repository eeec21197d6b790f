"""config/daemon.toml and the PEAKTRADE_* environment against malformed values.

Contract: load_settings returns a snapshot every component can use as is (finite numbers,
durations datetime arithmetic can add, replay files inside the data directory, calendars that
exist, no NUL bytes in paths or commands), or raises ConfigError naming the file (or the
environment variable) and the key. The CLI exits 2 with one line and no traceback.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import timeframe_seconds
from peaktrade_daemon.market.calendars import TradingCalendar
from peaktrade_daemon.market.replay import replay_file
from peaktrade_daemon.settings import DaemonSettings, load_settings
from tests.conftest import PROJECT_ROOT
from tests.fuzz.conftest import OutsideWatch, run_cli_many
from tests.fuzz.mutations import damaged, mutated_document

SHIPPED = (PROJECT_ROOT / "config" / "daemon.toml").read_bytes()
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _leaves(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value.items() if isinstance(value, dict) else [(name, value)]
        for key, item in items:
            dotted = f"{prefix}{name}.{key}" if isinstance(value, dict) else f"{prefix}{key}"
            if isinstance(item, BaseModel):
                yield from _leaves(item, dotted + ".")
            else:
                yield dotted, item


def exercise(settings: DaemonSettings) -> None:
    """What components do with a snapshot at start-up, none of which may raise."""
    for key, value in _leaves(settings):
        if isinstance(value, float):
            assert math.isfinite(value), key
            if key.endswith("_s"):
                NOW + timedelta(seconds=value)
        if isinstance(value, Path | str):
            assert "\x00" not in str(value), key
    data_dir = settings.path(settings.paths.data_dir)
    for symbol, spec in settings.symbols.items():
        assert data_dir in replay_file(settings, symbol, spec).parents
        timeframe_seconds(spec.timeframe)
        assert spec.calendar in settings.calendars
    for name, calendar in settings.calendars.items():
        TradingCalendar(calendar, name).is_open(NOW)
    settings.database_url.encode()


def load_or_config_error(root: Path) -> None:
    try:
        settings = load_settings(root)
    except ConfigError as exc:
        assert exc.file is not None and (
            exc.file == str(root / "config" / "daemon.toml") or exc.file.startswith("environment")
        ), exc
        return
    exercise(settings)


@FUZZ
@given(document=mutated_document(tomllib.loads(SHIPPED.decode())))
def test_structurally_mutated_daemon_toml_is_usable_or_refused(
    tmp_path_factory: pytest.TempPathFactory, document: dict[str, object]
) -> None:
    root = tmp_path_factory.mktemp("root")
    (root / "config").mkdir()
    (root / "config" / "daemon.toml").write_text(tomlkit.dumps(document))
    load_or_config_error(root)


@FUZZ
@given(raw=damaged(SHIPPED))
def test_byte_damaged_daemon_toml_is_usable_or_refused(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    root = tmp_path_factory.mktemp("root")
    (root / "config").mkdir()
    (root / "config" / "daemon.toml").write_bytes(raw)
    load_or_config_error(root)


ENV_KEYS = [
    "PEAKTRADE_DAEMON__POLL_INTERVAL_S", "PEAKTRADE_DAEMON__DRAIN_TIMEOUT_S",
    "PEAKTRADE_DAEMON__TIMEZONE", "PEAKTRADE_HTTP__PORT", "PEAKTRADE_HTTP__ENABLED",
    "PEAKTRADE_ALERTS__DEDUP_WINDOW_S", "PEAKTRADE_ALERTS__SINKS", "PEAKTRADE_SYMBOLS",
    "PEAKTRADE_STATE__RETENTION__ALERTS", "PEAKTRADE_PATHS__STATE_DIR", "PEAKTRADE_DAEMON",
    "PEAKTRADE_SCHEDULER__MISFIRE_GRACE_S", "PEAKTRADE_REPLAY__SPEED", "PEAKTRADE_NOPE__X",
]  # fmt: skip
ENV_VALUES = st.one_of(
    st.sampled_from(
        ["", "0", "-1", "inf", "-inf", "nan", "1e300", "true", "maybe", "{}", "[]", "{",
         '{"A": {"file": "../../etc/passwd"}}', '{"A\\u0000": {}}', '[{"name": "x"}]',
         '{"poll_interval_s": "inf"}', "[" * 3000, "../../x", "UTC", "Europe/Berlin"]
    ),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8),
)  # fmt: skip


@FUZZ
@given(env=st.dictionaries(st.sampled_from(ENV_KEYS), ENV_VALUES, max_size=3))
def test_any_environment_overrides_are_usable_or_name_the_variable(
    project_root: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with monkeypatch.context() as patched:
        for key, value in env.items():
            patched.setenv(key, value)
        load_or_config_error(project_root)


def edit(old: str, new: str) -> str:
    assert old.encode() in SHIPPED
    return SHIPPED.decode().replace(old, new, 1)


APPEND = SHIPPED.decode() + "\n"
BAD_FILES = {
    "poll inf": (edit("poll_interval_s = 300", "poll_interval_s = inf"), "daemon.poll_interval_s"),
    "drain 1e300": (
        edit("drain_timeout_s = 30", "drain_timeout_s = 1e300"),
        "key 'daemon.drain_timeout_s': Value error, 1e+300 seconds is longer than ten years",
    ),
    "dedup nan": (edit("dedup_window_s = 300", "dedup_window_s = nan"), "alerts.dedup_window_s"),
    "zone traversal": (edit('timezone = "UTC"', 'timezone = "../../etc/passwd"'), "unknown time"),
    "zone 5000 chars": (edit('timezone = "UTC"', f'timezone = "{"a" * 5000}"'), "unknown time"),
    "port 99999": (edit("port = 8787", "port = 99999"), "key 'http.port'"),
    "symbol file traversal": (
        APPEND + '[symbols."X"]\nfile = "../../outside/x"\n',
        "key 'symbols.X.file': Value error, '../../outside/x' must be a file name under",
    ),
    "symbol file absolute": (APPEND + '[symbols."X"]\nfile = "/etc/passwd"\n', "symbols.X.file"),
    "symbol file NUL": (APPEND + '[symbols."X"]\nfile = "a\\u0000.csv"\n', "NUL byte"),
    "symbol name NUL": (APPEND + '[symbols."A\\u0000B"]\n', "symbol name 'A\\x00B'"),
    "symbol name 500 chars": (APPEND + f'[symbols."{"A" * 500}"]\n', "1-100 printable"),
    "symbol timeframe": (APPEND + '[symbols."X"]\ntimeframe = "0h"\n', "symbols.X.timeframe"),
    "symbol calendar": (
        APPEND + '[symbols."X"]\ncalendar = "lse"\n',
        "symbol 'X': calendar 'lse' is not defined",
    ),
    "path NUL": (APPEND + '[paths]\nstate_dir = "st\\u0000ate"\n', "paths.state_dir"),
    "workflow command NUL": (
        APPEND + '[workflows.market_scan]\ncommand = ["x\\u0000"]\n',
        "workflows.market_scan.command",
    ),
    "workflow env name": (
        APPEND + '[workflows.market_scan]\ncommand = ["true"]\nenv = { "A=B" = "1" }\n',
        "workflows.market_scan.env",
    ),
    "workflow type traversal": (
        APPEND + '[workflows."../../x"]\ncommand = ["true"]\n',
        "key 'workflows': Value error, workflow type '../../x' must be",
    ),
    "custom type with a slash": (
        APPEND + '[decision.custom."a/b"]\nunconditional = true\n',
        "key 'decision.custom'",
    ),
    "unknown key": (edit("poll_interval_s = 300", "poll_interval = 300"), "daemon.poll_interval"),
    "duplicate table": (APPEND + "[daemon]\n", "Cannot declare ('daemon',) twice"),
    "UTF-16": (None, "not UTF-8 text"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_hand_picked_bad_daemon_toml(project_root: Path, name: str) -> None:
    text, needle = BAD_FILES[name]
    target = project_root / "config" / "daemon.toml"
    target.write_bytes(SHIPPED.decode().encode("utf-16") if text is None else text.encode())
    with pytest.raises(ConfigError) as caught:
        load_settings(project_root)
    assert caught.value.file == str(target)
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("PEAKTRADE_DAEMON__POLL_INTERVAL_S", "inf", "daemon.poll_interval_s"),
        ("PEAKTRADE_ALERTS__DEDUP_WINDOW_S", "1e300", "alerts.dedup_window_s"),
        ("PEAKTRADE_SYMBOLS", '{"X": {"file": "../../x"}}', "symbols.X.file"),
        ("PEAKTRADE_DECISION__CUSTOM", "[" * 5000, "invalid environment override"),
        ("PEAKTRADE_HTTP", "[1", "invalid environment override"),
    ],
)
def test_bad_environment_value_names_the_variable(
    project_root: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(project_root)
    assert caught.value.file is not None and caught.value.file.startswith("environment")
    assert needle in str(caught.value)


def test_crlf_and_empty_daemon_toml_load(project_root: Path) -> None:
    target = project_root / "config" / "daemon.toml"
    shipped = load_settings(project_root)
    target.write_bytes(SHIPPED.replace(b"\n", b"\r\n"))
    assert load_settings(project_root) == shipped
    target.write_bytes(b"")
    assert load_settings(project_root).symbols == {}


@pytest.mark.slow
def test_cli_exits_2_on_bad_settings_and_bad_database_url(
    project_root: Path, outside_root: OutsideWatch
) -> None:
    bad_file = outside_root.clone("root-file")
    (bad_file / "config" / "daemon.toml").write_text(APPEND + '[symbols."X"]\nfile = "../x"\n')
    bad_url = outside_root.clone("root-url")
    (bad_url / "config" / "daemon.toml").write_text(
        edit('database_url = ""', 'database_url = "nope://x"')
    )
    results = run_cli_many(
        [
            (bad_file, ("config", "show")),
            (bad_url, ("history",)),
            (bad_url, ("proposals", "list")),
        ]
    )
    results[0].assert_clean_failure(2, "daemon.toml", "symbols.X.file")
    for result in results[1:]:
        result.assert_clean_failure(2, "state.database_url", "nope://x")
    assert os.listdir(bad_url / "state") == []
