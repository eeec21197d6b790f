"""Loading the trading system's configuration (§2.1–§2.5).

``load_config`` reads the base file; ``load_config_with_live_overrides`` adds the
``[auto_applied]`` live overrides behind the environment gate; ``load_effective_config`` is the
full picture (base, offline learning overrides in backtest/drill, live overrides in live-like
modes) with the provenance of every key. Override files never make a loader raise: a bad file or
entry is skipped and reported in ``PeakConfig.warnings`` (and logged).
"""

from __future__ import annotations

import copy
import logging
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from peaktrade_daemon.config.overrides import (
    AppliedOverride,
    OverrideWarning,
    apply_overrides,
    blamed_key,
    flatten,
    is_live_like,
    is_missing,
    is_offline,
    live_trading_flag,
    lookup,
    override_table,
    set_path,
)
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.governance.firewall import firewall_reasons
from peaktrade_daemon.settings import read_toml_file, resolve_root
from peaktrade_daemon.toml_depth import MAX_TOML_DEPTH, nesting_depth

logger = logging.getLogger(__name__)

CONFIG_PATH_ENV = "PEAK_TRADE_CONFIG_PATH"
DEFAULT_CONFIG = Path("config/config.toml")
DEFAULT_LIVE_OVERRIDES = Path("config/live_overrides/auto.toml")
DEFAULT_OFFLINE_DIR = Path("config/auto")
LIVE_TABLE = "auto_applied"
OFFLINE_TABLE = "overrides"
OFFLINE_GLOB = "*.override.toml"

Source = Literal["base", "offline", "live"]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where one effective value came from: the base file, an offline file, or auto.toml."""

    source: Source
    file: str


class PeakConfig:
    """An immutable view of a configuration with dotted-path access.

    ``get`` returns copies of tables and arrays, so no caller can change the object; derive a new
    one with ``with_updates``. ``provenance`` maps every leaf key to where its value came from.
    """

    __slots__ = ("_data", "_provenance", "source_path", "warnings")

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        source_path: Path | None = None,
        provenance: Mapping[str, Provenance] | None = None,
        warnings: tuple[OverrideWarning, ...] = (),
    ) -> None:
        self._data: dict[str, Any] = copy.deepcopy(dict(data))
        self.source_path = source_path
        if provenance is None:
            origin = str(source_path) if source_path else "<memory>"
            provenance = {key: Provenance("base", origin) for key, _ in flatten(self._data)}
        self._provenance = MappingProxyType(dict(provenance))
        self.warnings = warnings

    def get(self, dotted: str, default: Any = None) -> Any:
        """Value at a dotted path (``"portfolio.leverage"``), or ``default``."""
        value = lookup(self._data, dotted)
        if is_missing(value):
            return default
        return copy.deepcopy(value) if isinstance(value, dict | list) else value

    def __contains__(self, dotted: object) -> bool:
        return isinstance(dotted, str) and not is_missing(lookup(self._data, dotted))

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the whole configuration."""
        return copy.deepcopy(self._data)

    def leaves(self) -> Iterator[tuple[str, Any]]:
        """Every ``(dotted.key, value)`` leaf, in document order."""
        yield from flatten(copy.deepcopy(self._data))

    @property
    def provenance(self) -> Mapping[str, Provenance]:
        """Leaf key to :class:`Provenance`."""
        return self._provenance

    def with_updates(self, updates: Mapping[str, Any], *, source: Source = "base") -> PeakConfig:
        """A new config with ``{dotted: value}`` set (existing keys only); this one is unchanged."""
        data = self.to_dict()
        provenance = dict(self._provenance)
        for dotted, value in updates.items():
            if is_missing(lookup(data, dotted)):
                raise KeyError(f"unknown config key {dotted!r}")
            set_path(data, dotted, copy.deepcopy(value))
            provenance[dotted] = Provenance(source, "<with_updates>")
        return PeakConfig(
            data, source_path=self.source_path, provenance=provenance, warnings=self.warnings
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PeakConfig) and self._data == other._data

    __hash__ = None  # type: ignore[assignment]  # equality is by content; tables are unhashable

    def __repr__(self) -> str:
        return f"PeakConfig(source_path={self.source_path!s}, keys={len(self._provenance)})"


def _base_path(path: str | os.PathLike[str] | None, root: str | os.PathLike[str] | None) -> Path:
    if path is not None:
        return Path(path)
    from_env = os.environ.get(CONFIG_PATH_ENV)
    if from_env:
        return Path(from_env)
    return resolve_root(root) / DEFAULT_CONFIG


def _read_base(path: Path, mode_override: str | None = None) -> dict[str, Any]:
    data = read_toml_file(path, what="config file")
    if mode_override is not None:
        data.setdefault("environment", {})
        if not isinstance(data["environment"], dict):
            raise ConfigError("[environment] must be a table", file=path, key="environment")
        data["environment"]["mode"] = mode_override
    environment = data.get("environment", {})
    if not isinstance(environment, dict):
        raise ConfigError("[environment] must be a table", file=path, key="environment")
    mode = environment.get("mode", "")
    if not isinstance(mode, str):
        # The environment gate reads this: a number or a list must not quietly mean "not live".
        problem = f"must be a string, got {type(mode).__name__} {mode!r}"
        raise ConfigError(problem, file=path, key="environment.mode")
    try:
        live_trading_flag(data)
    except TypeError as exc:
        raise ConfigError(str(exc), file=path, key="environment.enable_live_trading") from exc
    return data


def load_config(
    path: str | os.PathLike[str] | None = None, *, root: str | os.PathLike[str] | None = None
) -> PeakConfig:
    """The base configuration: ``path``, else ``$PEAK_TRADE_CONFIG_PATH``, else
    ``<root>/config/config.toml``. Raises ConfigError naming the file and TOML position."""
    base_path = _base_path(path, root)
    return PeakConfig(_read_base(base_path), source_path=base_path)


def _read_override_file(
    path: Path, table: str
) -> tuple[Mapping[str, Any] | None, OverrideWarning | None]:
    """Parse one override file; never raises. Missing file -> (None, None)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        logger.debug("no override file at %s", path)
        return None, None
    except OSError as exc:
        return None, OverrideWarning(str(path), None, f"cannot be read: {exc.strerror}")
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, OverrideWarning(str(path), None, f"not UTF-8 text (byte {exc.start}); ignored")
    except tomllib.TOMLDecodeError as exc:
        return None, OverrideWarning(str(path), None, f"invalid TOML ({exc}); no overrides applied")
    except (ValueError, RecursionError) as exc:  # an integer over 4300 digits, deep nesting
        return None, OverrideWarning(str(path), None, f"cannot be parsed ({exc}); none applied")
    if nesting_depth(document) > MAX_TOML_DEPTH:
        reason = f"nests deeper than {MAX_TOML_DEPTH} levels; no overrides applied"
        return None, OverrideWarning(str(path), None, reason)
    return override_table(document, table), None


#: A component's check of a whole config (``trading_config.check_trading_config``): raises
#: ConfigError for a value the paper book, a strategy or the risk check would refuse.
Acceptance = Callable[[PeakConfig], object]


@dataclass(slots=True)
class _Layering:
    data: dict[str, Any]
    provenance: dict[str, Provenance]
    warnings: list[OverrideWarning]
    #: The base file's data and provenance (``apply_overrides`` copies, never mutates).
    base: dict[str, Any] = field(default_factory=dict)
    base_provenance: dict[str, Provenance] = field(default_factory=dict)
    #: Every override applied, in order, with its layer: what ``keep_accepted`` replays.
    changes: list[tuple[AppliedOverride, Source]] = field(default_factory=list)

    def apply_file(self, path: Path, table: str, source: Source) -> None:
        overrides, problem = _read_override_file(path, table)
        if problem is not None:
            self.warnings.append(problem)
        if not overrides:
            return
        if source == "live":
            overrides = self._firewalled(path, overrides)
        self.data, applied, refused = apply_overrides(self.data, overrides, file=str(path))
        self.warnings.extend(refused)
        for change in applied:
            self.provenance[change.key] = Provenance(source, str(path))
            self.changes.append((change, source))

    def _firewalled(self, path: Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The live overrides less anything behind the hard firewall (§8.8): a hand edit may
        lower a value in an emergency, but never set one the firewall forbids; the base value
        stays and the refusal is a critical warning."""
        kept: dict[str, Any] = {}
        for dotted, value in flatten(overrides):
            blocked = firewall_reasons(dotted, value)
            if blocked:
                reason = f"{'; '.join(blocked)}; the base value stays"
                self.warnings.append(OverrideWarning(str(path), dotted, reason, critical=True))
            else:
                kept[dotted] = value
        return kept

    def keep_accepted(self, accept: Acceptance, source_path: Path) -> None:
        """Drop the override entries ``accept`` refuses (§2.3: a bad entry is ignored with a
        warning, never a failed load). The loader checks key, type and finiteness, but only
        the components know that ``fast_window`` must stay below ``slow_window`` or that a
        leverage must be positive. While the config fails, the entry the refusal names is
        dropped (the latest one for that key), else the latest entry in the refused key's table
        (a ``slow_window`` that makes the base ``fast_window`` invalid), else the latest entry;
        the rest stay together, so a pair valid only together (``fast_window`` 40 with
        ``slow_window`` 50) survives an unrelated refusal. Each drop is a critical warning.
        A base the check refuses raises: that is the base file's error, not an override's."""
        kept = list(self.changes)
        while True:
            data, provenance = self._replayed(kept)
            try:
                accept(PeakConfig(data, source_path=source_path))
            except ConfigError as exc:
                if not kept:
                    raise  # the base itself
                dropped = _blamed(kept, exc.key)
                kept.remove(dropped)
                reason = f"refused by the component that reads it: {exc.problem}; not applied"
                self.warnings.append(OverrideWarning(dropped[0].file, dropped[0].key, reason, True))
                continue
            self.data, self.provenance = data, provenance
            return

    def _replayed(
        self, changes: list[tuple[AppliedOverride, Source]]
    ) -> tuple[dict[str, Any], dict[str, Provenance]]:
        """The base with ``changes`` applied in order, and its provenance."""
        if len(changes) == len(self.changes):
            return self.data, self.provenance
        data, provenance = copy.deepcopy(self.base), dict(self.base_provenance)
        for change, source in changes:
            set_path(data, change.key, copy.deepcopy(change.new_value))
            provenance[change.key] = Provenance(source, change.file)
        return data, provenance

    def build(self, source_path: Path) -> PeakConfig:
        for warning in self.warnings:
            logger.warning("override not applied: %s", warning)
        return PeakConfig(
            self.data,
            source_path=source_path,
            provenance=self.provenance,
            warnings=tuple(self.warnings),
        )


def _blamed(
    changes: list[tuple[AppliedOverride, Source]], key: str | None
) -> tuple[AppliedOverride, Source]:
    """The entry to drop for a refusal naming ``key``: the latest one for the key
    :func:`blamed_key` picks among the changed keys."""
    chosen = blamed_key([change.key for change, _ in changes], (key,) if key else ())
    return [entry for entry in changes if entry[0].key == chosen][-1]


def _start(base_path: Path, mode_override: str | None) -> _Layering:
    data = _read_base(base_path, mode_override)
    provenance = {key: Provenance("base", str(base_path)) for key, _ in flatten(data)}
    return _Layering(data, provenance, [], data, dict(provenance))


def load_config_with_live_overrides(
    path: str | os.PathLike[str] | None = None,
    *,
    auto_overrides_path: str | os.PathLike[str] | None = None,
    force_apply_overrides: bool = False,
    root: str | os.PathLike[str] | None = None,
    accept: Acceptance | None = None,
) -> PeakConfig:
    """Base config plus ``[auto_applied]`` from the live-overrides file when the environment is
    live-like (or ``force_apply_overrides``). In other environments the file is not even read.
    ``accept`` as for :func:`load_effective_config`."""
    base_path = _base_path(path, root)
    layers = _start(base_path, None)
    if force_apply_overrides or is_live_like(layers.data):
        live = (
            Path(auto_overrides_path)
            if auto_overrides_path
            else resolve_root(root) / DEFAULT_LIVE_OVERRIDES
        )
        layers.apply_file(live, LIVE_TABLE, "live")
    if accept is not None:
        layers.keep_accepted(accept, base_path)
    return layers.build(base_path)


def load_effective_config(
    path: str | os.PathLike[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    auto_overrides_path: str | os.PathLike[str] | None = None,
    offline_dir: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    accept: Acceptance | None = None,
) -> PeakConfig:
    """The config every component uses: base, then offline learning overrides (backtest and drill
    only, in file-name order), then live overrides (live-like only). ``mode`` previews the result
    as if ``environment.mode`` in the base file were ``mode`` (``config show --env``).
    ``accept`` (the components' check, see ``trading_config.load_trading_config``) drops the
    override entries it refuses, with a critical warning each, and raises for a base it
    refuses."""
    base_path = _base_path(path, root)
    root_dir = resolve_root(root)
    layers = _start(base_path, mode)
    if is_offline(layers.data):
        directory = Path(offline_dir) if offline_dir else root_dir / DEFAULT_OFFLINE_DIR
        for file in sorted(directory.glob(OFFLINE_GLOB)) if directory.is_dir() else []:
            layers.apply_file(file, OFFLINE_TABLE, "offline")
    if is_live_like(layers.data):
        live = (
            Path(auto_overrides_path) if auto_overrides_path else root_dir / DEFAULT_LIVE_OVERRIDES
        )
        layers.apply_file(live, LIVE_TABLE, "live")
    if accept is not None:
        layers.keep_accepted(accept, base_path)
    return layers.build(base_path)
