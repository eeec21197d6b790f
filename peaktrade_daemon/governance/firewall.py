"""The hard firewall and number sanity: what is never written to live overrides, whatever the
policy says (§8.1, §8.8). Code, not configuration: no setting turns any of it off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeGuard

#: Leverage above this is never written to overrides, and never applied from them.
HARD_MAX_LEVERAGE = 3.0
#: A key segment containing any of these names a secret; secrets never go through overrides.
SECRET_MARKERS = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
)
#: TOML integers are signed 64-bit (TOML 1.0 §Integer); anything outside cannot be written back.
TOML_INT_MIN = -(2**63)
TOML_INT_MAX = 2**63 - 1


def segments_match(key: str, entry: str) -> bool:
    """True when ``entry`` is ``key`` or a whole-segment prefix of it (``risk`` blocks
    ``risk.stop_loss`` but not ``risky.x``)."""
    return key == entry or key.startswith(entry + ".")


def blacklist_entry(key: str, blacklist: Sequence[str]) -> str | None:
    """The blacklist entry that blocks ``key``, if any."""
    return next((entry for entry in blacklist if segments_match(key, entry)), None)


def number_problem(value: Any) -> str | None:
    """Why ``value`` is not a number this product can carry (None when it is fine, or is not a
    number at all): floats must be finite, integers inside TOML's signed 64-bit range (a Python
    int beyond it also overflows every float conversion)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if not TOML_INT_MIN <= value <= TOML_INT_MAX:
            return "integer outside TOML's signed 64-bit range"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"non-finite number {value!r}"
    return None


def is_numeric(value: Any) -> TypeGuard[int | float]:
    """A usable int or float (finite, inside TOML's integer range); bool is not numeric."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and number_problem(value) is None
    )


def is_protected_key(key: str) -> bool:
    """``environment`` and everything under it: the environment gate reads the base only."""
    return segments_match(key, "environment")


def holds_secret(key: str) -> bool:
    """A segment of ``key`` names a secret (``exchange.api_key``, ``slack.token``)."""
    return any(marker in part.lower() for part in key.split(".") for marker in SECRET_MARKERS)


def firewall_reasons(key: str, value: Any) -> list[str]:
    """Why the hard firewall forbids ``key = value`` in live overrides (empty: allowed).

    ``value`` ``None`` asks about the key alone (removing an override is always allowed, so
    callers only ask this for values that would be in force).
    """
    reasons: list[str] = []
    if is_protected_key(key):
        reasons.append("FIREWALL: environment.* is never written to overrides")
    if holds_secret(key):
        reasons.append("FIREWALL: key holds a secret; secrets are never written to overrides")
    problem = number_problem(value)
    if problem is not None:
        reasons.append(f"FIREWALL: {problem}")
    elif (
        "leverage" in key.split(".")[-1].lower()
        and is_numeric(value)
        and float(value) > HARD_MAX_LEVERAGE
    ):
        reasons.append(f"FIREWALL: leverage {value} above the hard maximum {HARD_MAX_LEVERAGE}")
    return reasons
