"""§3.1 settings: daemon.toml, PEAKTRADE_* env, CLI overrides, frozen snapshots, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from peaktrade_daemon.bytecode import DEPLOYED_FLAGS
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.settings import DaemonSettings, load_settings
from tests.conftest import subprocess_env


def write_settings(root: Path, text: str) -> Path:
    path = root / "config" / "daemon.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings.root == tmp_path.resolve()
    assert settings.daemon.poll_interval_s == 300
    assert settings.daemon.timezone == "UTC"
    assert settings.http.enabled is False and settings.http.host == "127.0.0.1"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/state/peaktrade.db"


def test_shipped_daemon_toml_is_valid(project_root: Path) -> None:
    settings = load_settings(project_root)
    assert {"BTC/USD", "BTC/EUR", "EUR/USD", "GOOG"} <= set(settings.symbols)
    for symbol in settings.symbols.values():
        assert symbol.calendar in settings.calendars
        assert (
            symbol.file is not None
            and (settings.path(settings.paths.data_dir) / symbol.file).is_file()
        )


def test_precedence_cli_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_settings(
        tmp_path, "[daemon]\npoll_interval_s = 100\ndrain_timeout_s = 5\n[http]\nport = 9000\n"
    )
    monkeypatch.setenv("PEAKTRADE_DAEMON__POLL_INTERVAL_S", "200")
    monkeypatch.setenv("PEAKTRADE_HTTP__ENABLED", "true")
    settings = load_settings(tmp_path, cli_overrides={"daemon": {"poll_interval_s": 60}})
    assert settings.daemon.poll_interval_s == 60  # CLI
    assert settings.http.enabled is True  # env
    assert settings.http.port == 9000  # file
    assert settings.daemon.drain_timeout_s == 5  # file, sibling of an env-overridden key kept


def test_root_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_settings(tmp_path, "[daemon]\npoll_interval_s = 42\n")
    monkeypatch.setenv("PEAKTRADE_ROOT", str(tmp_path))
    settings = load_settings()
    assert settings.root == tmp_path.resolve() and settings.daemon.poll_interval_s == 42


def test_paths_resolve_against_root_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")
    settings = load_settings(tmp_path)
    assert (
        settings.path(settings.paths.alert_log)
        == tmp_path.resolve() / "logs" / "autonomous_alerts.log"
    )
    assert settings.path("/abs/file") == Path("/abs/file")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    with pytest.raises(ValidationError):
        settings.daemon.poll_interval_s = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.root = Path("/")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ("[daemon]\npoll_interval_s = -1\n", "daemon.poll_interval_s", "greater than 0"),
        ('[daemon]\ntimezone = "Mars/Olympus"\n', "daemon.timezone", "unknown time zone"),
        ("[daemon]\npoll_intervall_s = 5\n", "daemon.poll_intervall_s", "Extra inputs"),
        ("[http]\nport = 70000\n", "http.port", "less than or equal"),
        (
            '[alerts]\n[[alerts.sinks]]\nname = "x"\nkind = "pager"\nurl = "http://h"\n',
            "alerts.sinks.0.kind",
            "'webhook' or 'slack'",
        ),
        ('[symbols.X]\nfeed = "ftp"\n', "symbols.X.feed", "'replay' or 'ccxt'"),
        (
            '[calendars.c]\nkind = "session"\ntimezone = "Nowhere"\n',
            "calendars.c.timezone",
            "unknown time zone",
        ),
    ],
)
def test_invalid_values_name_file_and_key(
    tmp_path: Path, body: str, key: str, fragment: str
) -> None:
    path = write_settings(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert err.value.file == str(path)
    assert err.value.key == key
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        # Regressions found by tests/fuzz: nested free tables and paths outside [paths].
        (
            '[monitors.performance]\nledger_fills = "fills\\u0000.csv"\n',
            "monitors.performance.ledger_fills",
            "NUL",
        ),
        ("[ccxt.options.fetchMarkets]\nlimit = inf\n", "ccxt.options", "finite"),
        ('[ccxt.options]\n"a\\u0000b" = 1\n', "ccxt.options", "NUL"),
    ],
)
def test_nested_values_are_checked_everywhere(
    tmp_path: Path, body: str, key: str, fragment: str
) -> None:
    write_settings(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert err.value.key == key
    assert fragment in str(err.value)


def test_invalid_toml_names_position(tmp_path: Path) -> None:
    path = write_settings(tmp_path, "[daemon]\npoll_interval_s = \n")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert str(err.value).startswith(f"{path}:2:")


def test_env_error_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEAKTRADE_DAEMON__DRAIN_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert "PEAKTRADE_DAEMON__DRAIN_TIMEOUT_S" in str(err.value)
    assert err.value.key == "daemon.drain_timeout_s"


def test_cli_error_names_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, cli_overrides={"daemon": {"poll_interval_s": 0}})
    assert "command line" in str(err.value)


def test_explicit_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path, settings_file=tmp_path / "nope.toml")


def test_reload_builds_a_new_snapshot(tmp_path: Path) -> None:
    write_settings(tmp_path, "[daemon]\npoll_interval_s = 10\n")
    first = load_settings(tmp_path)
    write_settings(tmp_path, "[daemon]\npoll_interval_s = 20\n")
    second = load_settings(tmp_path)
    assert (first.daemon.poll_interval_s, second.daemon.poll_interval_s) == (10, 20)
    assert isinstance(second, DaemonSettings) and first is not second


# An install without the ccxt extra, simulated in a subprocess: an import hook ahead of every
# other finder refuses ccxt, so neither ``import ccxt`` nor a spec lookup can find it.
WITHOUT_CCXT = """
import runpy, sys

class NoCcxt:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "ccxt" or name.startswith("ccxt."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoCcxt())
sys.argv[0] = "peaktrade-daemon"
runpy.run_module("peaktrade_daemon", run_name="__main__", alter_sys=True)
"""


def run_without_ccxt(*args: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", WITHOUT_CCXT, *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_without_the_ccxt_extra_the_shipped_config_runs_a_cycle(project_root: Path) -> None:
    # make run's default, once, as make run starts it: the replay feed needs no ccxt.
    done = run_without_ccxt(
        "--root", str(project_root), "--once", "--poll-interval", "60", flags=DEPLOYED_FLAGS
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ModuleNotFoundError" not in done.stderr


@pytest.mark.slow
def test_a_ccxt_symbol_without_the_extra_is_a_config_error_naming_it(project_root: Path) -> None:
    path = project_root / "config" / "daemon.toml"
    text = path.read_text(encoding="utf-8")
    live = '[symbols."BTC/EUR"]\nfeed = "ccxt"\nexchange_symbol = "BTC/EUR"\n'
    path.write_text(text.replace('[symbols."BTC/EUR"]\nfeed = "replay"\n', live), encoding="utf-8")
    # Start-up: exit 2 (a configuration error); config check: the problem listed, exit 1.
    for args, code in ((("--once",), 2), (("--continuous",), 2), (("config", "check"), 1)):
        done = run_without_ccxt("--root", str(project_root), *args)
        said = done.stdout + done.stderr
        assert done.returncode == code, (args, said)
        assert "Traceback" not in said
        assert "symbols.BTC/EUR.feed" in said, said
        assert "pip install 'peaktrade-daemon[ccxt]'" in said
    assert not (project_root / "state" / "peaktrade.db").exists()  # refused before anything
    # With ccxt installed (this venv) the same file is valid.
    assert load_settings(project_root).symbols["BTC/EUR"].feed == "ccxt"


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ("train_bars = true", "learning.walk_forward.train_bars", "not true/false"),
        ("seed = false", "learning.walk_forward.seed", "not true/false"),
        ("test_bars = 5", "learning.walk_forward.test_bars", "greater than or equal to 20"),
        ("resamples = 1.5", "learning.walk_forward.resamples", "fractional part"),
        ("seed = -1", "learning.walk_forward.seed", "greater than or equal to 0"),
        ("min_trades = inf", "learning.walk_forward.min_trades", "finite"),
        ("train_bar = 100", "learning.walk_forward.train_bar", "Extra inputs"),
        ('symbols = ["EUR/USD", "EUR/USD"]', "learning.walk_forward.symbols", "more than once"),
        ('symbols = "EUR/USD"', "learning.walk_forward.symbols", "valid tuple"),
        ('strategies = [" "]', "learning.walk_forward.strategies", "empty name"),
        (
            'symbols = ["XAU/USD"]',
            "learning",
            "learning.walk_forward.symbols: 'XAU/USD' is not configured under [symbols]",
        ),
    ],
)
def test_bad_learner_settings_name_the_key(
    tmp_path: Path, body: str, key: str, fragment: str
) -> None:
    path = write_settings(
        tmp_path, f'[symbols."EUR/USD"]\nfile = "EURUSD.csv"\n\n[learning.walk_forward]\n{body}\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert err.value.file == str(path)
    assert err.value.key == key
    assert fragment in str(err.value)


def test_learner_settings_defaults_file_and_environment(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(project_root / "nowhere").learning.walk_forward.symbols == ()
    shipped = load_settings(project_root).learning.walk_forward
    assert (shipped.train_bars, shipped.test_bars, shipped.symbols) == (1500, 500, ("EUR/USD",))
    with pytest.raises(ConfigError, match=r"key 'learning\.replay': Extra inputs"):
        load_settings(project_root, cli_overrides={"learning": {"replay": {}}})
    monkeypatch.setenv("PEAKTRADE_LEARNING__WALK_FORWARD__TRAIN_BARS", "800")
    assert load_settings(project_root).learning.walk_forward.train_bars == 800
