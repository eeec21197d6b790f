"""The configuration layer: base config, environment gate, live and offline overrides, provenance."""

from peaktrade_daemon.config.loader import (
    PeakConfig,
    Provenance,
    load_config,
    load_config_with_live_overrides,
    load_effective_config,
)

__all__ = [
    "PeakConfig",
    "Provenance",
    "load_config",
    "load_config_with_live_overrides",
    "load_effective_config",
]
