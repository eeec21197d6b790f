"""Portfolio sources for the PerformanceMonitor: the paper book and the external ledger, and the
performance metrics computed from either."""
