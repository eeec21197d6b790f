"""Where safety is decided: the pure governance core (§8, §8.8, §9).

Policy model, hard firewall, verdicts, bounded steps, the gate over a complete overrides table,
the holds of auto-apply, the planners of every write, the rollback guard's rules and the
evidence rule. Nothing here reads a file, a clock or the network, or configures logging: callers
(the adapters in :mod:`peaktrade_daemon.promotion`) read everything, treat it as untrusted, hand
these functions complete states and act only on their answers.
"""
