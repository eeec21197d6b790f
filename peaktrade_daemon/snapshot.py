"""The configuration snapshot: everything the daemon loads, validated together, swapped as one.

:func:`load_snapshot` is the one loading path, used at start-up and on SIGHUP (§3.4): the daemon
settings (``daemon.toml`` + environment + CLI flags), the effective trading configuration (base,
offline and live overrides as the environment allows), and every *extra loader* a component
registers (``jobs.toml``, ``promotion.toml`` ...). Any error in any part raises
:class:`~peaktrade_daemon.errors.ConfigError` (or the loader's
:class:`~peaktrade_daemon.errors.SafetyRefusal`, e.g. an invalid promotion policy, exit 3) and
nothing is swapped; the caller keeps the old snapshot. A snapshot is immutable; a reload builds a new one with the next ``generation``.

Loading reads files, so the daemon runs it in a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.config.overrides import OverrideWarning
from peaktrade_daemon.errors import ConfigError, PeakTradeError, SafetyRefusal
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.trading_config import load_trading_config

#: Settings the daemon acts on only while it starts: they choose what is built at all (the state
#: database, the HTTP listener with its metrics, the scheduler and promotion components). A reload
#: that changes one still swaps the snapshot, but the running daemon keeps what it built and says
#: so (:meth:`Snapshot.restart_only_changes`); the new value takes effect at the next restart.
RESTART_ONLY: tuple[str, ...] = (
    "paths.state_dir",
    "state.database_url",
    "http.enabled",
    "scheduler.enabled",
    "promotion.worker_enabled",
)


def _setting(settings: DaemonSettings, dotted: str) -> object:
    value: object = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


@dataclass(frozen=True, slots=True)
class ConfigLoader:
    """An extra file a component needs validated with the rest (e.g. ``jobs.toml``).

    ``load(settings)`` returns the validated, immutable result or raises ``ConfigError``.
    """

    name: str
    load: Callable[[DaemonSettings], object]


@dataclass(frozen=True, slots=True)
class SnapshotSpec:
    """Where a snapshot comes from: fixed for the process lifetime (the command line)."""

    root: str | os.PathLike[str] | None = None
    settings_file: str | os.PathLike[str] | None = None
    cli_overrides: Mapping[str, Any] = field(default_factory=dict)
    loaders: Sequence[ConfigLoader] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One validated generation of everything the daemon reads from its config files."""

    generation: int
    settings: DaemonSettings
    config: PeakConfig
    extras: Mapping[str, object]

    @property
    def warnings(self) -> tuple[OverrideWarning, ...]:
        """Override entries (or whole files) the config loader refused."""
        return tuple(self.config.warnings)

    def changed_from(self, old: Snapshot) -> tuple[str, ...]:
        """Names of what differs from ``old``: settings sections, ``config``, extra loaders."""
        changed: list[str] = []
        new_dump = self.settings.model_dump()
        old_dump = old.settings.model_dump()
        changed += [f"settings.{k}" for k in new_dump if new_dump[k] != old_dump.get(k)]
        if self.config.to_dict() != old.config.to_dict():
            changed.append("config")
        changed += [
            f"extra.{k}" for k in self.extras if self.extras[k] != old.extras.get(k, object())
        ]
        return tuple(changed)

    def restart_only_changes(self, old: Snapshot) -> tuple[str, ...]:
        """The :data:`RESTART_ONLY` settings whose value differs from ``old``'s."""
        return tuple(
            key
            for key in RESTART_ONLY
            if _setting(self.settings, key) != _setting(old.settings, key)
        )


def _trading_config(settings: DaemonSettings) -> PeakConfig:
    return load_trading_config(
        settings.path(settings.paths.config_file),
        root=settings.root,
        auto_overrides_path=settings.path(settings.paths.live_overrides_file),
        offline_dir=settings.path(settings.paths.offline_overrides_dir),
    )


def load_snapshot(spec: SnapshotSpec, *, generation: int = 1) -> Snapshot:
    """Load and validate everything; raise ``ConfigError`` naming the file on the first problem."""
    settings = load_settings(
        spec.root, settings_file=spec.settings_file, cli_overrides=spec.cli_overrides
    )
    config = _trading_config(settings)
    extras: dict[str, object] = {}
    for loader in spec.loaders:
        try:
            extras[loader.name] = loader.load(settings)
        except (ConfigError, SafetyRefusal):
            raise  # keep the exit code: 2 for a bad file, 3 for a refusal (promotion policy)
        except PeakTradeError as exc:
            raise ConfigError(f"{loader.name}: {exc}", file=loader.name) from exc
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"{loader.name} could not be loaded: {type(exc).__name__}: {exc}",
                file=loader.name,
            ) from exc
    return Snapshot(generation, settings, config, MappingProxyType(extras))


def settings_file_path(spec: SnapshotSpec, settings: DaemonSettings) -> Path:
    """The daemon settings file a snapshot was read from."""
    if spec.settings_file is None:
        return settings.root / "config" / "daemon.toml"
    p = Path(spec.settings_file)
    return p if p.is_absolute() else settings.root / p
