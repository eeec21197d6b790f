"""What a monitor built with no arguments uses: the settings, trading config and market data of
the current root (``PEAKTRADE_ROOT`` or the working directory) and the system clock."""

from __future__ import annotations

from peaktrade_daemon.clock import Clock, SystemClock
from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.market.feeds import Feeds, MarketSource
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.trading_config import load_trading_config


def trading_config(settings: DaemonSettings) -> PeakConfig:
    """The effective trading config (base plus the overrides the environment allows and the
    components accept) at the paths ``settings`` names."""
    return load_trading_config(
        settings.path(settings.paths.config_file),
        root=settings.root,
        auto_overrides_path=settings.path(settings.paths.live_overrides_file),
        offline_dir=settings.path(settings.paths.offline_overrides_dir),
    )


def resolve(
    settings: DaemonSettings | None, feeds: MarketSource | None, clock: Clock | None
) -> tuple[DaemonSettings, MarketSource, Clock]:
    """Fill in whatever the caller did not inject."""
    settings = settings if settings is not None else load_settings()
    clock = clock if clock is not None else SystemClock()
    feeds = feeds if feeds is not None else Feeds(settings, clock)
    return settings, feeds, clock


async def close_feeds(feeds: MarketSource) -> None:
    """Close ``feeds`` if it holds connections (``Feeds`` does; a test double may not)."""
    if isinstance(feeds, Feeds):
        await feeds.close()
