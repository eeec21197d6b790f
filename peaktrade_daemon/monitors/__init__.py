"""The three monitors of SPEC 4.2 and their result type (the metric contract)."""

from peaktrade_daemon.monitors.market import MarketMonitor
from peaktrade_daemon.monitors.performance import PerformanceMonitor
from peaktrade_daemon.monitors.result import MonitorResult, MonitorStatus
from peaktrade_daemon.monitors.signals import SignalMonitor

__all__ = [
    "MarketMonitor",
    "MonitorResult",
    "MonitorStatus",
    "PerformanceMonitor",
    "SignalMonitor",
]
