"""The daemon's own settings: ``config/daemon.toml``, env ``PEAKTRADE_<SECTION>__<KEY>``, CLI flags.

Precedence, highest first: CLI flags (``cli_overrides``), environment, ``daemon.toml``, defaults.
``load_settings`` returns one frozen, validated :class:`DaemonSettings` snapshot or raises a
:class:`~peaktrade_daemon.errors.ConfigError` naming the file (or environment variable), the key
and the problem. A reload builds a new snapshot the same way and swaps it; nothing mutates one.

Relative paths resolve against ``root`` (``--root``, else ``PEAKTRADE_ROOT``, else the current
directory), never against where the package is installed.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from peaktrade_daemon.errors import ConfigError, other_problems
from peaktrade_daemon.market.exchange_table import hhmm, load_table, shipped_exchanges
from peaktrade_daemon.toml_depth import MAX_TOML_DEPTH, nesting_depth

ENV_PREFIX = "PEAKTRADE_"
SETTINGS_FILE = Path("config/daemon.toml")

WorkflowType = Literal["signal_analysis", "risk_check", "market_scan", "portfolio_analysis"]
WORKFLOW_TYPES: tuple[WorkflowType, ...] = (
    "signal_analysis",
    "risk_check",
    "market_scan",
    "portfolio_analysis",
)


#: The longest duration a ``*_s`` setting may hold: more is a typo, and beyond what datetime
#: arithmetic (now + duration) can represent.
MAX_DURATION_S = 10 * 365.25 * 86_400


class Section(BaseModel):
    """Base of every settings section: immutable, and unknown keys are errors (typos fail loudly).

    Numbers are finite (inf and nan are refused) and every duration field (named ``*_s``) is at
    most ten years.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_values(cls, value: Any, info: ValidationInfo) -> Any:
        # allow_inf_nan only covers typed float fields, and paths reach the OS late: check free
        # tables (ccxt options ...) and every text or path, however deeply nested, here. Fields
        # holding sections are left to those sections, so an error names the leaf key.
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not _holds_section(field.annotation):
            _check_plain(value)
        return value

    @field_validator("*")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> Any:
        duration = (info.field_name or "").endswith("_s") and isinstance(value, float)
        if duration and value > MAX_DURATION_S:
            raise ValueError(f"{value:g} seconds is longer than ten years")
        return value


def _no_nul(value: Any) -> Any:
    """Paths and command parts with a NUL byte would only fail when the OS sees them."""
    parts = value if isinstance(value, tuple | list) else (value,)
    if any("\0" in str(part) for part in parts if part is not None):
        raise ValueError("must not contain a NUL byte")
    return value


def _holds_section(annotation: Any) -> bool:
    """True when a field's type is, or contains, a settings model."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_section(arg) for arg in get_args(annotation))


def _check_plain(value: Any, depth: int = 0) -> None:
    """Refuse NUL bytes in text and paths and non-finite numbers anywhere inside ``value``."""
    if isinstance(value, str | PurePath):
        _no_nul(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    elif isinstance(value, Mapping | list | tuple) and depth < 32:
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _no_nul(key)
            _check_plain(item, depth + 1)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise ValueError(f"unknown time zone {value[:60]!r}") from exc
    return value


class DaemonSection(Section):
    """Process-wide behaviour."""

    timezone: str = "UTC"
    poll_interval_s: float = Field(300.0, gt=0)
    drain_timeout_s: float = Field(30.0, ge=0)
    workflow_type: Literal[
        "auto", "signal_analysis", "risk_check", "market_scan", "portfolio_analysis"
    ] = "auto"
    restart_backoff_initial_s: float = Field(1.0, gt=0)
    restart_backoff_max_s: float = Field(60.0, gt=0)
    heartbeat_interval_s: float = Field(10.0, gt=0)
    #: How long a cycle may take to finish before the systemd watchdog stops pinging; empty:
    #: 2 x ``poll_interval_s`` + 60 (see :mod:`peaktrade_daemon.watchdog`).
    watchdog_grace_s: float | None = Field(None, gt=0)

    _zone = field_validator("timezone")(_check_zone)


class PathsSection(Section):
    """Where things live, relative to the root (absolute paths are taken as given)."""

    config_file: Path = Path("config/config.toml")
    live_overrides_file: Path = Path("config/live_overrides/auto.toml")
    offline_overrides_dir: Path = Path("config/auto")
    promotion_policy_file: Path = Path("config/promotion.toml")
    jobs_file: Path = Path("config/scheduler/jobs.toml")
    state_dir: Path = Path("state")
    logs_dir: Path = Path("logs")
    alert_log: Path = Path("logs/autonomous_alerts.log")
    daemon_log: Path = Path("logs/daemon.log")
    reports_dir: Path = Path("reports")
    learning_snippets_dir: Path = Path("reports/learning_snippets")
    audit_log: Path = Path("reports/promotion_audit/audit.jsonl")
    data_dir: Path = Path("data/samples")

    _nul = field_validator("*", mode="before")(_no_nul)


class LogsSection(Section):
    """Size-based rotation of ``daemon.log`` and the alert log, for hosts without logrotate
    (Docker). ``max_bytes = 0`` (the default) never rotates: logrotate does (``deploy/``)."""

    max_bytes: int = Field(0, ge=0)
    backups: int = Field(5, ge=1, le=1000)

    @field_validator("max_bytes")
    @classmethod
    def _big_enough(cls, value: int) -> int:
        if 0 < value < 4096:
            raise ValueError("must be 0 (no rotation) or at least 4096 bytes")
        return value


class RetentionSection(Section):
    """Rows kept per table (the oldest beyond the limit are pruned), and the age in days past
    which run directories (``reports/workflows/<run_id>/``, ``reports/replay/<run_id>/``) are
    deleted."""

    workflow_runs: int = Field(10_000, ge=1)
    decisions: int = Field(50_000, ge=1)
    alerts: int = Field(50_000, ge=1)
    outbox_delivered: int = Field(10_000, ge=1)
    report_days: float = Field(90.0, gt=0, le=36_525)


class StateSection(Section):
    """The state database; an empty URL means SQLite at ``state/peaktrade.db`` under the root."""

    database_url: str = ""
    retention: RetentionSection = RetentionSection()
    retention_interval_s: float = Field(3600.0, gt=0)


class HttpSection(Section):
    """The optional HTTP listener (health, metrics, review page). Off by default."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    token: SecretStr | None = None


class AlertSinkSettings(Section):
    """One delivery target beyond the log file, fed from the durable outbox."""

    name: str = Field(min_length=1)
    kind: Literal["webhook", "slack"]
    url: str = Field(pattern=r"^https?://")
    min_level: Literal["info", "warning", "critical"] = "warning"
    timeout_s: float = Field(5.0, gt=0)
    enabled: bool = True


class AlertsSection(Section):
    """Alert log, console echo, de-duplication and the outbox's retry policy."""

    console: bool = True
    dedup_window_s: float = Field(300.0, ge=0)
    sinks: tuple[AlertSinkSettings, ...] = ()
    retry_initial_s: float = Field(2.0, gt=0)
    retry_max_s: float = Field(300.0, gt=0)
    max_attempts: int = Field(50, ge=1)
    sink_report_interval_s: float = Field(600.0, gt=0)


class CalendarSettings(Section):
    """A trading calendar: ``always`` (24/7), ``fx`` (24/5, Sunday 17:00 to Friday 17:00 New York),
    ``exchange`` (a shipped table with holidays and early closes, e.g. ``exchange = "XNAS"``) or
    ``session`` (one session a day in its own zone on the given weekdays, Monday = 0; no
    holidays)."""

    kind: Literal["always", "fx", "session", "exchange"]
    exchange: str | None = None
    timezone: str = "UTC"
    open: str = "09:30"
    close: str = "16:00"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)

    _zone = field_validator("timezone")(_check_zone)

    @model_validator(mode="before")
    @classmethod
    def _from_table(cls, data: Any) -> Any:
        """An exchange calendar's zone, hours and weekdays are its table's (so ``config show``
        tells the truth); setting them as well is refused rather than ignored."""
        if not isinstance(data, Mapping) or data.get("kind") != "exchange":
            return data
        fixed = sorted(set(data) & {"timezone", "open", "close", "weekdays"})
        if fixed:
            raise ValueError(
                "an exchange calendar takes its zone, hours and weekdays from its table; "
                f"remove {', '.join(fixed)}"
            )
        code = data.get("exchange")
        shipped = shipped_exchanges()
        if code not in shipped:
            listed = f"shipped: {', '.join(shipped) or 'none'}"
            if code is None:
                raise ValueError(f'an exchange calendar needs exchange = "<code>" ({listed})')
            raise ValueError(f"exchange {code!r} has no shipped calendar table ({listed})")
        table = load_table(code)
        return {
            **data,
            "timezone": table.timezone,
            "open": hhmm(table.open_min),
            "close": hhmm(table.close_min),
            "weekdays": sorted(table.weekdays),
        }

    @field_validator("open", "close")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        try:
            hours, minutes = (int(part) for part in value.split(":"))
        except ValueError as exc:
            raise ValueError(f"time {value!r} must be HH:MM") from exc
        if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
            raise ValueError(f"time {value!r} must be HH:MM between 00:00 and 24:00")
        return value

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(day < 0 or day > 6 for day in value):
            raise ValueError("weekdays must be a non-empty list of 0 (Monday) .. 6 (Sunday)")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSettings:
        if self.kind == "session" and self.open >= self.close and self.close != "24:00":
            raise ValueError(f"session open {self.open} must be before close {self.close}")
        if self.kind == "fx" and self.model_fields_set & {"open", "close", "weekdays"}:
            # The FX week is fixed (Sunday 17:00 to Friday 17:00 in its zone); silently ignoring
            # an operator's open/close would be worse than refusing it.
            raise ValueError("an fx calendar takes only a timezone; open/close/weekdays are fixed")
        if self.kind != "exchange" and self.exchange is not None:
            raise ValueError(f'exchange applies only to kind = "exchange", not {self.kind!r}')
        return self


def _default_calendars() -> dict[str, CalendarSettings]:
    return {
        "crypto": CalendarSettings(kind="always"),
        "fx": CalendarSettings(kind="fx", timezone="America/New_York"),
        "nasdaq": CalendarSettings(kind="exchange", exchange="XNAS"),
    }


#: ccxt is an optional extra; what a configuration that needs it without it says to do.
CCXT_MISSING = (
    'feed = "ccxt" needs the ccxt package, which is not installed: '
    "pip install 'peaktrade-daemon[ccxt]' (or set feed = \"replay\")"
)


def ccxt_installed() -> bool:
    """Whether the ccxt extra can be imported (looked up, not imported: that is 74 MB)."""
    try:
        return importlib.util.find_spec("ccxt") is not None
    except (ImportError, ValueError):  # an import hook refusing it; a broken half-install
        return False


class SymbolSettings(Section):
    """How one symbol is fed: a replay file under ``paths.data_dir`` or an exchange through ccxt."""

    feed: Literal["replay", "ccxt"] = "replay"
    file: str | None = None
    exchange_symbol: str | None = None
    timeframe: str = Field("1h", pattern=r"^[1-9][0-9]{0,5}[smhdwMy]$")
    calendar: str = "crypto"

    @field_validator("feed")
    @classmethod
    def _feed_installed(cls, value: str) -> str:
        # At start-up and in `config check` (exit 2), not at the first cycle's import.
        if value == "ccxt" and not ccxt_installed():
            raise ValueError(CCXT_MISSING)
        return value

    @field_validator("file")
    @classmethod
    def _inside_data_dir(cls, value: str | None) -> str | None:
        # A replay file is named relative to paths.data_dir; "../" or an absolute path would
        # read market data from anywhere on the machine.
        if value is None:
            return None
        path = Path(_no_nul(value))
        if not value.strip() or path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{value!r} must be a file name under paths.data_dir (no '..')")
        return value


class ReplaySection(Section):
    """Replay time: ``start`` is the data time that corresponds to the daemon's start; replay time
    then runs ``speed`` times as fast as the daemon's clock. Empty ``start`` = each file's end.

    ``learn_interval_days``: how often the ``replay`` command runs the learning step, in days of
    data time (the first one interval after the replay's start)."""

    start: datetime | None = None
    speed: float = Field(1.0, gt=0)
    stale_after_bars: float = Field(3.0, gt=0)
    learn_interval_days: float = Field(7.0, gt=0, le=3653)


class CcxtSection(Section):
    """Live market data through ccxt.async_support (imported only when a symbol uses it)."""

    exchange: str = "binance"
    timeout_s: float = Field(10.0, gt=0)
    max_retries: int = Field(3, ge=0)
    retry_initial_s: float = Field(0.5, gt=0)
    enable_rate_limit: bool = True
    urls: dict[str, str] = {}
    # Added by the market feed: ccxt's own throttle interval (None = the exchange's default), the
    # exchange options passed through to ccxt (e.g. binance fetchMarkets types), and the cap of the
    # retry backoff.
    rate_limit_ms: float | None = Field(None, gt=0)
    options: dict[str, Any] = {}
    retry_max_s: float = Field(8.0, gt=0)


ThresholdDirection = Literal["above", "below"]


class ThresholdSettings(Section):
    """Warning and critical levels of one metric: ``above`` alerts when the value is at or above a
    level, ``below`` when at or below it. Either level may be left out; a metric with default
    levels keeps the ones (and the direction) it does not name."""

    warning: float | None = None
    critical: float | None = None
    when: ThresholdDirection = "above"

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdSettings:
        if self.warning is not None and self.critical is not None:
            wrong = (
                self.critical < self.warning
                if self.when == "above"
                else self.critical > self.warning
            )
            if wrong:
                raise ValueError(
                    f"critical {self.critical} is less severe than warning {self.warning}"
                )
        return self


MARKET_METRICS = frozenset(
    {
        "volatility",
        "volume_ratio",
        "price_change_1h",
        "spread",
        "activity_level",
        "is_market_hours",
        "trend_strength",
        "regime",
    }
)
SIGNAL_METRICS = frozenset(
    {
        "signal_strength",
        "signal_direction",
        "signal_consistency",
        "false_signal_rate",
        "signal_frequency",
    }
)
PERFORMANCE_METRICS = frozenset(
    {
        "current_drawdown",
        "max_drawdown",
        "win_rate",
        "daily_pnl_pct",
        "sharpe_ratio",
        "sortino_ratio",
        "total_trades",
        "position_size_pct",
        "exposure",
    }
)


def _known_metrics(known: frozenset[str]) -> Any:
    def check(value: dict[str, ThresholdSettings]) -> dict[str, ThresholdSettings]:
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {sorted(known)}")
        return value

    return field_validator("thresholds")(check)


def _levels_over_defaults() -> Any:
    """A before-validator of ``thresholds``: the given levels merge over the defaults, metric by
    metric and level by level, so setting one level (``PEAKTRADE_MONITORS__PERFORMANCE__
    THRESHOLDS__EXPOSURE__WARNING=1.3``, or a table naming only ``exposure``) never drops the
    other metrics' levels, or the metric's other level and direction, without a word."""

    def merge(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, Mapping):
            return value
        field = cls.model_fields[str(info.field_name)]
        defaults = field.get_default(call_default_factory=True)
        merged: dict[str, Any] = {name: levels.model_dump() for name, levels in defaults.items()}
        for name, levels in value.items():
            if isinstance(levels, Mapping) and isinstance(merged.get(name), dict):
                merged[name] = {**merged[name], **levels}
            else:
                merged[name] = levels
        return merged

    return field_validator("thresholds", mode="before")(classmethod(merge))


def _thresholds(**levels: tuple[float | None, float | None, ThresholdDirection]) -> Any:
    return Field(
        default_factory=lambda: {
            name: ThresholdSettings(warning=w, critical=c, when=d)
            for name, (w, c, d) in levels.items()
        }
    )


class MarketMonitorSettings(Section):
    """MarketMonitor: windows (in bars) and alert thresholds of the market metrics."""

    history_bars: int = Field(500, ge=2)
    lookback_bars: int = Field(20, ge=2)
    long_lookback_bars: int = Field(100, ge=3)
    atr_period: int = Field(14, ge=1)
    volatile_ratio: float = Field(1.5, gt=0)
    trend_threshold: float = Field(0.3, ge=0, le=1)
    ticker_max_age_s: float = Field(300.0, gt=0)
    stale_status: Literal["ok", "warning", "critical"] = "warning"
    thresholds: dict[str, ThresholdSettings] = _thresholds(
        volatility=(1.0, 2.0, "above"),
        volume_ratio=(3.0, 6.0, "above"),
        spread=(0.002, 0.01, "above"),
    )

    _metrics = _known_metrics(MARKET_METRICS)
    _over_defaults = _levels_over_defaults()


class SignalMonitorSettings(Section):
    """SignalMonitor: bars scanned, history bound, and how the history is judged."""

    history_bars: int = Field(500, ge=2)
    history_limit: int = Field(1000, ge=1)
    consistency_window: int = Field(10, ge=1)
    forward_bars: int = Field(5, ge=1)
    stale_status: Literal["ok", "warning", "critical"] = "warning"
    thresholds: dict[str, ThresholdSettings] = _thresholds(
        false_signal_rate=(0.6, 0.75, "above"),
    )

    _metrics = _known_metrics(SIGNAL_METRICS)
    _over_defaults = _levels_over_defaults()


class PerformanceMonitorSettings(Section):
    """PerformanceMonitor: the portfolio source and the alert thresholds of its metrics."""

    source: Literal["paper", "ledger"] = "paper"
    history_bars: int = Field(500, ge=2)
    ledger_fills: Path = Path("data/ledger/fills.csv")
    ledger_equity: Path = Path("data/ledger/equity.csv")
    ledger_stale_after_s: float = Field(3 * 86_400.0, gt=0)
    stale_status: Literal["ok", "warning", "critical"] = "warning"
    thresholds: dict[str, ThresholdSettings] = _thresholds(
        current_drawdown=(0.10, 0.20, "above"),
        daily_pnl_pct=(-2.0, -3.0, "below"),
        exposure=(1.25, 1.5, "above"),
    )

    _metrics = _known_metrics(PERFORMANCE_METRICS)
    _over_defaults = _levels_over_defaults()


class MonitorsSection(Section):
    """The three monitors (§4.2); metric names and units are in the metric contract."""

    market: MarketMonitorSettings = MarketMonitorSettings()
    signals: SignalMonitorSettings = SignalMonitorSettings()
    performance: PerformanceMonitorSettings = PerformanceMonitorSettings()


class WorkflowTypeSettings(Section):
    """Per workflow type: timeout, concurrency, and optionally an external command instead."""

    timeout_s: float = Field(300.0, gt=0)
    max_concurrent: int = Field(1, ge=1)
    command: tuple[str, ...] | None = None
    env: dict[str, str] = {}
    cwd: Path | None = None

    _nul = field_validator("command", "cwd", mode="before")(_no_nul)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or "\0" in text:
                raise ValueError(f"env {key!r}: not a valid variable name or value")
        return value


class SchedulerSection(Section):
    """The in-daemon scheduler over ``jobs.toml``."""

    enabled: bool = True
    timezone: str | None = None
    misfire_grace_s: float = Field(3600.0, gt=0)
    # A fixed identity lets a restarted daemon reclaim its own jobs at once (STACK_NOTES).
    identity: str = Field("peaktrade-daemon", min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class CycleSection(Section):
    """The autonomous cycle (§5.1): which symbols it watches and the thresholds of the documented
    ``auto`` selection rule (see ``workflows/selection.py``). Empty ``symbols`` = every configured
    symbol."""

    symbols: tuple[str, ...] = ()
    risk_drawdown: float = Field(0.10, ge=0)
    risk_daily_loss_pct: float = Field(3.0, ge=0)
    strong_signal: float = Field(0.7, ge=0, le=1)
    min_signal_consistency: float = Field(0.5, ge=0, le=1)
    unusual_volume_ratio: float = Field(2.0, gt=0)
    unusual_price_change: float = Field(0.02, gt=0)
    high_activity: float = Field(0.8, ge=0, le=1)
    evening_review_start: str = Field("20:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    evening_review_end: str = Field("23:59", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    default_workflow: WorkflowType = "market_scan"
    # A monitor that hangs (a stuck feed, a deadlock) must not stall every later cycle: past
    # this it counts as failed for the cycle, like one that raised.
    monitor_timeout_s: float = Field(60.0, gt=0)


class PromotionSection(Section):
    """The promotion worker inside the daemon."""

    worker_enabled: bool = True
    lock_timeout_s: float = Field(30.0, gt=0)
    # How often the daemon looks for patches `learn` (another process) published.
    inbox_poll_s: float = Field(5.0, gt=0)
    # evidence.png in each proposal the worker writes; replay turns it off (its scratch
    # proposals are removed unread, and drawing was most of a promotion's cost there).
    evidence_charts: bool = True


def _refuse_bool(value: object) -> object:
    # pydantic takes true as 1 for a number; in a count, a seed or a threshold that is always
    # a typo.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


class WalkForwardSettings(Section):
    """The built-in ``walk_forward`` learner (``learning/walk_forward.py`` has the rule). Windows
    are in bars of each symbol's timeframe, counted back from the newest bar at or before the
    run's data time: the test window is the last ``test_bars`` bars, the train window the
    ``train_bars`` bars just before it. Defaults suit the bundled EURUSD hourly history (about
    12 weeks of FX hours to choose on, 4 weeks to test on). Empty ``symbols``: the cycle's
    symbols; empty ``strategies``: every enabled strategy (the paper book's)."""

    train_bars: int = Field(1500, ge=20, le=1_000_000)
    test_bars: int = Field(500, ge=20, le=1_000_000)
    resamples: int = Field(5000, ge=100, le=1_000_000)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    min_trades: int = Field(5, ge=0, le=1_000_000)
    symbols: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()

    _ints = field_validator(
        "train_bars", "test_bars", "resamples", "seed", "min_trades", mode="before"
    )(_refuse_bool)

    @field_validator("symbols", "strategies")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        if any(not name.strip() for name in value):
            raise ValueError("holds an empty name")
        return value


class LearningSection(Section):
    """The built-in learners (§10): ``[learning.walk_forward]``."""

    walk_forward: WalkForwardSettings = WalkForwardSettings()


class CriterionSettings(Section):
    """One decision criterion in ``daemon.toml``; the same rules as
    :class:`peaktrade_daemon.decision.criteria.DecisionCriteria` (finite threshold, weight > 0,
    an empty ``metric_name`` means the metric named ``name``)."""

    name: str = Field(min_length=1)
    threshold: float = Field(allow_inf_nan=False)
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    metric_name: str = ""
    comparison: Literal["gt", "gte", "lt", "lte", "eq"] = "gt"
    required: bool = False

    _not_bool = field_validator("threshold", "weight", mode="before")(_refuse_bool)


class DecisionTypeSettings(Section):
    """Bands and criteria of one workflow type.

    ``criteria`` absent (None) means the built-in defaults of that type; an explicit empty list
    means no criteria, so the type is skipped ("no criteria defined") unless ``unconditional``,
    which means "always EXECUTE" and therefore takes no criteria at all.
    """

    execute_band: float = Field(0.6, ge=0, le=1)
    alert_band: float = Field(0.4, ge=0, le=1)
    max_unknown_weight_share: float = Field(0.0, ge=0, le=1)
    unconditional: bool = False
    criteria: tuple[CriterionSettings, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DecisionTypeSettings:
        if self.alert_band > self.execute_band:
            raise ValueError(
                f"alert_band {self.alert_band} is above execute_band {self.execute_band}"
            )
        if self.unconditional and self.criteria:
            raise ValueError("an unconditional type takes no criteria (it always executes)")
        names = [c.name for c in self.criteria or ()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate criterion names: {', '.join(duplicates)}")
        return self


#: A workflow type names its runs' report directories (``reports/workflows/<run_id>/``).
TYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _check_type_names(types: Mapping[str, object]) -> None:
    for name in types:
        if not TYPE_NAME.fullmatch(name):
            raise ValueError(f"workflow type {name[:70]!r} must be 1-64 letters, digits, _ or -")


class DecisionSection(Section):
    """Decision bands and criteria per workflow type (SPEC §4.3); other types under ``custom``."""

    signal_analysis: DecisionTypeSettings = DecisionTypeSettings()
    risk_check: DecisionTypeSettings = DecisionTypeSettings()
    market_scan: DecisionTypeSettings = DecisionTypeSettings()
    portfolio_analysis: DecisionTypeSettings = DecisionTypeSettings()
    custom: dict[str, DecisionTypeSettings] = {}

    @field_validator("custom")
    @classmethod
    def _no_builtin_in_custom(
        cls, value: dict[str, DecisionTypeSettings]
    ) -> dict[str, DecisionTypeSettings]:
        _check_type_names(value)
        clash = sorted(set(value) & set(WORKFLOW_TYPES))
        if clash:
            raise ValueError(f"{', '.join(clash)} belong in [decision.<type>], not under custom")
        return value

    def for_type(self, workflow_type: str) -> DecisionTypeSettings:
        """Settings of one workflow type (defaults for a type configured nowhere)."""
        if workflow_type in WORKFLOW_TYPES:
            section: DecisionTypeSettings = getattr(self, workflow_type)
            return section
        return self.custom.get(workflow_type, DecisionTypeSettings())

    def configured_types(self) -> tuple[str, ...]:
        """The four built-in types, then every custom type."""
        return (*WORKFLOW_TYPES, *self.custom)


class DaemonSettings(BaseSettings):
    """One validated, frozen snapshot of everything the daemon reads from ``daemon.toml``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    root: Path = Path(".")
    daemon: DaemonSection = DaemonSection()
    paths: PathsSection = PathsSection()
    logs: LogsSection = LogsSection()
    state: StateSection = StateSection()
    http: HttpSection = HttpSection()
    alerts: AlertsSection = AlertsSection()
    calendars: dict[str, CalendarSettings] = Field(default_factory=_default_calendars)
    symbols: dict[str, SymbolSettings] = {}
    replay: ReplaySection = ReplaySection()
    ccxt: CcxtSection = CcxtSection()
    workflows: dict[str, WorkflowTypeSettings] = {}
    scheduler: SchedulerSection = SchedulerSection()
    cycle: CycleSection = CycleSection()
    promotion: PromotionSection = PromotionSection()
    learning: LearningSection = LearningSection()
    monitors: MonitorsSection = MonitorsSection()
    decision: DecisionSection = DecisionSection()

    @field_validator("workflows")
    @classmethod
    def _workflow_names(cls, value: dict[str, WorkflowTypeSettings]) -> dict[str, Any]:
        _check_type_names(value)
        return value

    @field_validator("learning")
    @classmethod
    def _learner_symbols(cls, value: LearningSection, info: ValidationInfo) -> LearningSection:
        # [symbols] is validated first (field order), so a bad one is reported as itself.
        configured = info.data.get("symbols") or {}
        unknown = [s for s in value.walk_forward.symbols if s not in configured]
        if unknown:
            known = ", ".join(sorted(configured)) or "none"
            raise ValueError(
                f"learning.walk_forward.symbols: {unknown[0]!r} is not configured under "
                f"[symbols] (configured: {known})"
            )
        return value

    @field_validator("symbols")
    @classmethod
    def _symbol_names(cls, value: dict[str, SymbolSettings]) -> dict[str, SymbolSettings]:
        for name in value:
            if not name.strip() or len(name) > 100 or not name.isprintable():
                raise ValueError(f"symbol name {name[:100]!r} must be 1-100 printable characters")
        return value

    @model_validator(mode="after")
    def _calendars_defined(self) -> DaemonSettings:
        # Caught here, a typo in a calendar name fails at start-up, not in the first cycle.
        for name, spec in self.symbols.items():
            if spec.calendar not in self.calendars:
                defined = ", ".join(sorted(self.calendars)) or "none"
                raise ValueError(
                    f"symbol {name!r}: calendar {spec.calendar!r} is not defined ({defined})"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges file, environment and CLI itself so it can say where a bad value
        # came from; construction then only validates what it is given.
        return (init_settings,)

    def path(self, relative: Path | str) -> Path:
        """Resolve a configured path against the root."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the state database."""
        if self.state.database_url:
            return self.state.database_url
        return f"sqlite+aiosqlite:///{self.path(self.paths.state_dir) / 'peaktrade.db'}"

    def workflow(self, workflow_type: str) -> WorkflowTypeSettings:
        """Settings of one workflow type (defaults when not configured)."""
        return self.workflows.get(workflow_type, WorkflowTypeSettings())


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """``root`` if given, else env ``PEAKTRADE_ROOT``, else the current directory; absolute."""
    chosen = root if root is not None else os.environ.get(f"{ENV_PREFIX}ROOT") or "."
    return Path(chosen).expanduser().resolve()


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _has_path(data: Mapping[str, Any], path: tuple[str | int, ...]) -> bool:
    node: Any = data
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return False
    return True


def read_toml_file(path: Path, *, what: str) -> dict[str, Any]:
    """Parse a TOML file with tomllib, or raise ConfigError naming file and position."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found", file=path) from exc
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read: {exc.strerror}", file=path) from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} is not UTF-8 text (byte {exc.start})", file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        message, line, column = toml_error_position(exc)
        raise ConfigError(f"invalid TOML: {message}", file=path, line=line, column=column) from exc
    except (ValueError, RecursionError) as exc:  # an integer over 4300 digits, 1000-deep nesting
        raise ConfigError(f"{what} cannot be parsed: {exc}", file=path) from exc
    if nesting_depth(document) > MAX_TOML_DEPTH:
        raise ConfigError(f"{what} nests tables deeper than {MAX_TOML_DEPTH} levels", file=path)
    return document


_POSITION = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def toml_error_position(exc: tomllib.TOMLDecodeError) -> tuple[str, int | None, int | None]:
    """Message, line and column of a tomllib error (Python 3.11 only embeds them in the text)."""
    match = _POSITION.match(str(exc))
    if match is None:
        return str(exc), None, None
    return match["msg"], int(match["line"]), int(match["col"])


def load_settings(
    root: str | os.PathLike[str] | None = None,
    *,
    settings_file: str | os.PathLike[str] | None = None,
    cli_overrides: Mapping[str, Any] | None = None,
) -> DaemonSettings:
    """Build the settings snapshot for ``root``.

    ``settings_file`` defaults to ``<root>/config/daemon.toml``; a missing default file means
    all defaults, a missing explicitly named file is an error. ``cli_overrides`` is a nested dict
    (``{"daemon": {"poll_interval_s": 60}}``) from command-line flags.
    """
    resolved_root = resolve_root(root)
    explicit = settings_file is not None
    file_path = Path(settings_file) if settings_file is not None else resolved_root / SETTINGS_FILE
    if not file_path.is_absolute():
        file_path = resolved_root / file_path
    file_data: dict[str, Any] = {}
    if explicit or file_path.exists():
        file_data = read_toml_file(file_path, what="daemon settings file")
    file_data.pop("root", None)  # the root is where the file lives, never set inside it

    try:
        env_data = dict(EnvSettingsSource(DaemonSettings)())
    except (ValueError, ValidationError, RecursionError) as exc:
        raise ConfigError(f"invalid environment override: {exc}", file="environment") from exc
    env_data.pop("root", None)
    cli_data = dict(cli_overrides or {})

    merged = _deep_merge(_deep_merge(file_data, env_data), cli_data)
    merged["root"] = resolved_root
    try:
        return DaemonSettings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        key = ".".join(str(p) for p in loc) or None
        if loc and _has_path(cli_data, loc):
            source: str | Path = "command line"
        elif loc and _has_path(env_data, loc):
            source = f"environment {ENV_PREFIX}{'__'.join(str(p) for p in loc).upper()}"
        else:
            source = file_path
        more = other_problems(exc.errors())
        raise ConfigError(f"{first['msg']}{more}", file=source, key=key) from exc
