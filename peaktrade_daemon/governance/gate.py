"""The gate (§8.8): may this complete ``[auto_applied]`` table exist in the live overrides?

Every path that changes auto.toml (auto-apply, approval, rollback, restore from backup, clear,
adopt, unfreeze, the rollback guard) hands the writer the complete resulting table, and the
writer asks :func:`check_table` about all of it, under the lock, before the replace. The answer
names every offending key with its reasons; any refusal means nothing is written.

Per key of the resulting table:

* a dotted key whose path exists in the base config, with a value of the same kind (int and
  float are one numeric kind; bool is not numeric; tables and arrays are never written);
* not blacklisted (whole dotted segments), not behind the hard firewall (environment.*,
  secrets, leverage above 3.0, a non-finite number, an integer outside TOML's 64-bit range);
* the key has bounds in the policy (a key without bounds is never written by any path, "no
  bounds in the policy"), its value is a number inside them;
* the *step rule*: against the current file, the value moved by at most ``max_step``, unless
  it moved back toward the base value (anywhere between the old value and the base value) or to
  a value the audit trail recorded for this key before (rollback, restore, guard revert).

Removing a key (the base value applies again) is always allowed. ``adopt`` checks without the
step rule: the values are already in the file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from peaktrade_daemon.config.overrides import is_missing, lookup, value_kind
from peaktrade_daemon.governance.firewall import blacklist_entry, firewall_reasons, is_numeric
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.governance.steps import within_step
from peaktrade_daemon.governance.verdicts import NO_BOUNDS
from peaktrade_daemon.learning.models import check_target


@dataclass(frozen=True, slots=True)
class KeyRefusal:
    """One key of a resulting table the gate refuses, and every reason."""

    key: str
    value: Any
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.key} = {self.value!r}: {'; '.join(self.reasons)}"


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's answer for one resulting table: ``ok`` unless some key is refused."""

    refusals: tuple[KeyRefusal, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every key passes."""
        return not self.refusals

    @property
    def keys(self) -> tuple[str, ...]:
        """The refused keys, in table order."""
        return tuple(r.key for r in self.refusals)

    def summary(self) -> str:
        """One line naming each refused key and why."""
        return " | ".join(str(r) for r in self.refusals)


def static_reasons(
    key: str, value: Any, base: Mapping[str, Any], policy: AutoApplyPolicy
) -> list[str]:
    """Why ``key = value`` may never be a live override under ``policy`` (empty: it may)."""
    try:
        check_target(key)
    except ValueError as exc:
        return [f"SANITY: {exc}"]
    reasons: list[str] = []
    base_value = lookup(base, key)
    if isinstance(value, Mapping | list):
        reasons.append(f"SANITY: a {value_kind(value)} is never written to overrides")
    elif is_missing(base_value):
        reasons.append("SANITY: unknown key (not in the base config)")
    elif value_kind(base_value) != value_kind(value):
        reasons.append(
            f"SANITY: type mismatch: base is {value_kind(base_value)}, value is {value_kind(value)}"
        )
    entry = blacklist_entry(key, policy.blacklist)
    if entry is not None:
        reasons.append(f"P0 BLACKLIST: key matches blacklist entry {entry!r}")
    reasons.extend(firewall_reasons(key, value))
    bounds = policy.bounds.get(key)
    if bounds is None:
        reasons.append(f"P0_BOUNDS: {NO_BOUNDS}")
    elif not is_numeric(value):
        reasons.append("P0_BOUNDS: bounded keys take numbers only")
    elif not bounds.contains(float(value)):
        reasons.append(f"P0_BOUNDS: {value!r} outside [{bounds.min_value}, {bounds.max_value}]")
    return reasons


def _toward_base(before: float, after: float, base: Any) -> bool:
    if not is_numeric(base):
        return False
    low, high = sorted((before, float(base)))
    return low <= after <= high


def step_reason(
    key: str,
    after: Any,
    before: Any,
    base_value: Any,
    policy: AutoApplyPolicy,
    recorded: Mapping[str, Collection[Any]],
) -> str | None:
    """Why moving ``key`` from ``before`` (the current live value: the file's, else the base's)
    to ``after`` is too large a step (None: allowed; see the module docstring)."""
    bounds = policy.bounds.get(key)
    if bounds is None or not is_numeric(after):
        return None  # refused by the static checks already
    if is_numeric(before) and within_step(float(before), float(after), bounds.max_step):
        return None
    if is_numeric(before) and _toward_base(float(before), float(after), base_value):
        return None
    # Only now: the recorded history may be expensive to read (the adapter reads it lazily).
    if any(is_numeric(r) and float(r) == float(after) for r in recorded.get(key, ())):
        return None
    return (
        f"MAX_STEP: {before!r} -> {after!r} is more than max_step {bounds.max_step} and neither "
        "a move back toward the base value nor a value the audit trail recorded for this key"
    )


def check_table(
    result: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    base: Mapping[str, Any],
    policy: AutoApplyPolicy | None,
    recorded: Mapping[str, Collection[Any]] | None = None,
    step_rule: bool = True,
) -> GateResult:
    """Judge the complete resulting ``[auto_applied]`` table ``result`` (flat dotted keys)
    against the ``current`` one. ``recorded`` maps a key to the values the audit trail holds
    for it (looked up only for a change larger than ``max_step``). Without a valid ``policy``
    only the empty table passes (fail closed; ``overrides clear`` still works)."""
    refusals: list[KeyRefusal] = []
    for key, after in result.items():
        if policy is None:
            refusals.append(KeyRefusal(key, after, ("no valid promotion policy",)))
            continue
        reasons = static_reasons(key, after, base, policy)
        if not reasons and step_rule:
            base_value = lookup(base, key)
            before = current.get(key, None if is_missing(base_value) else base_value)
            if before != after or type(before) is not type(after):
                why = step_reason(
                    key, after, before, base_value, policy, recorded if recorded is not None else {}
                )
                if why is not None:
                    reasons.append(why)
        if reasons:
            refusals.append(KeyRefusal(key, after, tuple(reasons)))
    return GateResult(tuple(refusals))


def admissible(
    values: Mapping[str, Any], base: Mapping[str, Any], policy: AutoApplyPolicy
) -> tuple[dict[str, Any], tuple[KeyRefusal, ...]]:
    """Split ``values`` into the keys the gate passes without the step rule and those it
    refuses (what ``overrides adopt`` keeps and drops)."""
    kept: dict[str, Any] = {}
    dropped: list[KeyRefusal] = []
    for key, value in values.items():
        reasons = static_reasons(key, value, base, policy)
        if reasons:
            dropped.append(KeyRefusal(key, value, tuple(reasons)))
        else:
            kept[key] = value
    return kept, tuple(dropped)
