"""Market data: bars and tickers, feeds (replay, ccxt), trading calendars, freshness, and the
vectorised indicators and market metrics."""
