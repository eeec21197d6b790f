"""Where safety is decided: the pure governance core (no I/O, no clock, no logging config)."""
