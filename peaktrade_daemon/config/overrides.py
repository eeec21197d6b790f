"""Pure override rules (§2.3, §2.4): which override entries may change which base keys.

No I/O here: the loader reads files and hands this module plain dicts. Every rejected entry comes
back as an :class:`OverrideWarning` with its reason, so callers can log or alert on it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_MISSING = object()

#: Environment modes in which ``[auto_applied]`` live overrides are merged (§2.2).
LIVE_LIKE_MODES = frozenset({"live", "testnet", "shadow", "paper_live", "live_dry_run"})
#: Environment modes in which offline learning overrides are merged (§2.4).
OFFLINE_MODES = frozenset({"backtest", "drill"})
#: Never applied from any override file: the gate must be decided by the base config alone.
PROTECTED_PREFIX = "environment"


@dataclass(frozen=True, slots=True)
class OverrideWarning:
    """An override entry (or a whole file) that was not applied, and why."""

    file: str
    key: str | None
    reason: str
    #: True for what must never happen silently (a live value behind the hard firewall).
    critical: bool = False

    def __str__(self) -> str:
        return f"{self.file}: {self.key + ': ' if self.key else ''}{self.reason}"


@dataclass(frozen=True, slots=True)
class AppliedOverride:
    """One override that changed the effective config."""

    key: str
    old_value: Any
    new_value: Any
    file: str


def flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted.key, leaf)`` for every leaf; quoted dotted keys and nested tables agree.

    ``{"portfolio.leverage": 1.75}`` and ``{"portfolio": {"leverage": 1.75}}`` both give
    ``("portfolio.leverage", 1.75)``.
    """
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from flatten(value, dotted)
        else:
            yield dotted, value


def lookup(data: Mapping[str, Any], dotted: str, default: Any = _MISSING) -> Any:
    """Value at ``dotted`` in nested ``data``; ``default`` (or the module's sentinel) if absent."""
    node: Any = data
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return default
    return node


def is_missing(value: Any) -> bool:
    """True for the sentinel ``lookup`` returns for an absent path."""
    return value is _MISSING


def value_kind(value: Any) -> str:
    """The type family used for compatibility: numbers are one kind, bool is its own."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "table"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def is_protected(dotted: str) -> bool:
    """``environment`` and everything under it (matched by whole segments)."""
    return dotted == PROTECTED_PREFIX or dotted.startswith(PROTECTED_PREFIX + ".")


def check_override(base: Mapping[str, Any], dotted: str, value: Any) -> str | None:
    """The reason an override of ``dotted`` with ``value`` must not apply, or None if it may."""
    if not dotted or any(not part for part in dotted.split(".")):
        return "empty segment in key"
    if is_protected(dotted):
        return "environment.* is never overridden (the environment gate reads the base config only)"
    current = lookup(base, dotted)
    if is_missing(current):
        return "unknown key: not present in the base config (overrides never create keys)"
    have, want = value_kind(current), value_kind(value)
    if have != want:
        return f"type mismatch: base value is {have}, override is {want}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"not a finite number: {value}"  # nan/inf would reach every component as is
    return None


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set an existing leaf in nested ``data`` (the path was checked by ``check_override``)."""
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def apply_overrides(
    base: Mapping[str, Any], overrides: Mapping[str, Any], *, file: str
) -> tuple[dict[str, Any], list[AppliedOverride], list[OverrideWarning]]:
    """Return a new dict with the allowed overrides applied, what changed, and what was refused.

    ``base`` is deep-copied, never mutated. ``overrides`` may mix quoted dotted keys and nested
    tables; both are flattened first.
    """
    result = copy.deepcopy(dict(base))
    applied: list[AppliedOverride] = []
    warnings: list[OverrideWarning] = []
    for dotted, value in flatten(overrides):
        reason = check_override(result, dotted, value)
        if reason is not None:
            warnings.append(OverrideWarning(file, dotted, reason))
            continue
        old = lookup(result, dotted)
        set_path(result, dotted, copy.deepcopy(value))
        applied.append(AppliedOverride(dotted, old, value, file))
    return result, applied, warnings


def override_table(document: Mapping[str, Any], table: str) -> Mapping[str, Any]:
    """The override set of a parsed file: its ``[table]`` if present, else the whole document."""
    section = document.get(table)
    if isinstance(section, Mapping):
        return section
    return document


def environment_mode(base: Mapping[str, Any]) -> str:
    """``environment.mode`` lower-cased ('' when absent)."""
    mode = lookup(base, "environment.mode", "")
    return str(mode).strip().lower() if not is_missing(mode) else ""


def live_trading_flag(base: Mapping[str, Any]) -> bool | None:
    """``environment.enable_live_trading`` if set; a non-boolean raises ``TypeError``."""
    flag = lookup(base, "environment.enable_live_trading")
    if is_missing(flag):
        return None
    if not isinstance(flag, bool):
        raise TypeError(f"must be a boolean true/false, got {type(flag).__name__} {flag!r}")
    return flag


def is_live_like(base: Mapping[str, Any]) -> bool:
    """The environment gate (§2.2), evaluated on the base config only."""
    return environment_mode(base) in LIVE_LIKE_MODES or live_trading_flag(base) is True


def is_offline(base: Mapping[str, Any]) -> bool:
    """Offline learning overrides apply only in backtest or drill (§2.4)."""
    return environment_mode(base) in OFFLINE_MODES


def blamed_key(candidates: Sequence[str], refused_keys: Sequence[str]) -> str | None:
    """Which of ``candidates`` (keys being changed, in order) to give up for a component's
    refusal naming ``refused_keys``: that key, else the last candidate in its table (the
    refusal may name the table or a sibling: ``oversold`` above ``overbought``), else the last
    candidate; None when there is none."""
    for refused in refused_keys:
        if refused in candidates:
            return refused
        table = refused.rsplit(".", 1)[0]
        near = [
            k for k in candidates if k.startswith(f"{refused}.") or k.rsplit(".", 1)[0] == table
        ]
        if near:
            return near[-1]
    return candidates[-1] if candidates else None
