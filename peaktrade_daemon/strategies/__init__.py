"""The built-in strategies (ma_crossover, rsi_reversion, breakout), their signal metrics and the
bounded signal history."""
