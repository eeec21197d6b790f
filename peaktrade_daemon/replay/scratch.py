"""The scratch root a replay runs in, and the settings edges that keep every write inside it.

Layout (a fresh temporary directory, removed when the replay ends)::

    config/daemon.toml           the root's settings file, as it is
    config/config.toml           the root's trading config (see below)
    config/promotion.toml        the policy: --policy, else the root's
    config/scheduler/jobs.toml   the root's jobs file (loaded as the daemon loads it; no job runs)
    config/live_overrides/       empty: the replay starts from the base config
    data/...                     each replayed symbol's history file
    state/ logs/ reports/        empty

The trading config is the root's with one change: when its environment is not live-like,
``environment.mode`` becomes ``"shadow"`` (live-like, §2.2), so the live overrides the
promotion worker writes take effect in the paper book, as they would on a live desk. The
static book keeps the base config throughout.

The edges are command-line overrides of the settings (which beat the environment and
``daemon.toml``): every path under the scratch root (absolute paths in ``daemon.toml`` too),
SQLite in its ``state/``, replay time from ``--from`` at speed 1 on the ManualClock, the
cycle's symbols (each read from its copied file), no HTTP listener, no alerts on the console
(the timeline has them), heartbeat and retention once a data day, the promotion worker on.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from peaktrade_daemon.config.overrides import is_live_like
from peaktrade_daemon.market.replay import replay_file
from peaktrade_daemon.replay.inputs import ReplayRequest, iso_z
from peaktrade_daemon.settings import SETTINGS_FILE, PathsSection

LIVE_LIKE_MODE = "shadow"
DATA_DIR = "data"
HOUSEKEEPING_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Scratch:
    """A scratch root and the settings overrides that point the daemon at it."""

    root: Path
    overrides: dict[str, Any]


def live_like_config(text: str) -> str:
    """The trading config with a live-like environment (unchanged when it already is one)."""
    doc = tomlkit.parse(text)
    if is_live_like(doc.unwrap()):
        return text
    environment = doc.get("environment")
    if environment is None:
        environment = tomlkit.table()
        doc["environment"] = environment
    environment["mode"] = LIVE_LIKE_MODE
    return tomlkit.dumps(doc)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def build_scratch(request: ReplayRequest, root: Path) -> Scratch:
    """Fill the empty directory ``root`` (module docstring) and return its overrides."""
    settings = request.settings
    defaults = PathsSection()
    for sub in ("state", "logs", "reports", DATA_DIR, "config/live_overrides", "config/auto"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    daemon_toml = settings.root / SETTINGS_FILE
    if daemon_toml.is_file():
        _copy(daemon_toml, root / SETTINGS_FILE)
    base = settings.path(settings.paths.config_file)
    config = root / defaults.config_file
    config.write_text(live_like_config(base.read_text(encoding="utf-8")), encoding="utf-8")
    _copy(request.policy_file, root / defaults.promotion_policy_file)
    jobs = settings.path(settings.paths.jobs_file)
    if jobs.is_file():
        _copy(jobs, root / defaults.jobs_file)
    data_dir = settings.path(settings.paths.data_dir)
    symbols: dict[str, dict[str, Any]] = {}
    for symbol in request.symbols:
        source = replay_file(settings, symbol, settings.symbols[symbol])
        relative = source.relative_to(data_dir) if source.is_relative_to(data_dir) else source.name
        _copy(source, root / DATA_DIR / relative)
        symbols[symbol] = {"feed": "replay", "file": str(relative)}
    overrides: dict[str, Any] = {
        "paths": {name: str(value) for name, value in defaults.model_dump().items()}
        | {"data_dir": DATA_DIR},
        "state": {"database_url": "", "retention_interval_s": HOUSEKEEPING_S},
        "daemon": {"heartbeat_interval_s": HOUSEKEEPING_S},
        "http": {"enabled": False},
        "alerts": {"console": False},
        "replay": {"start": iso_z(request.start), "speed": 1.0},
        "cycle": {"symbols": list(request.symbols)},
        "promotion": {"worker_enabled": True, "evidence_charts": False},
        "symbols": symbols,
    }
    return Scratch(root, overrides)
