"""The governance policy of ``config/promotion.toml`` as typed, validated values (§8.1).

Every number and flag is strict: ``"2.0"`` (a string) or ``true`` (a bool) where a number belongs
is a policy error, never silently converted; inf and nan are errors too. Loading the file is the
adapter's job (:mod:`peaktrade_daemon.promotion.policy_file`); this module only says what a valid
policy is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from peaktrade_daemon.governance.evidence import EvidencePolicy
from peaktrade_daemon.governance.strict import Count, Flag, Number
from peaktrade_daemon.learning.models import check_target


class AutoApplyMode(StrEnum):
    """``disabled`` (killswitch), ``manual_only`` (proposals only), ``bounded_auto``."""

    DISABLED = "disabled"
    MANUAL_ONLY = "manual_only"
    BOUNDED_AUTO = "bounded_auto"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: Durations longer than this are typos, and beyond what datetime arithmetic can add to now.
MAX_MINUTES = 366 * 24 * 60


class AutoApplyBounds(_Frozen):
    """Where one key may go and how far one apply may move it. In the policy file the fields are
    spelled ``min``, ``max`` and ``max_step``; positional construction follows the seed:
    ``AutoApplyBounds(min_value, max_value, max_step)``."""

    min_value: Number
    max_value: Number
    max_step: Number

    def __init__(self, min_value: float, max_value: float, max_step: float) -> None:
        super().__init__(min_value=min_value, max_value=max_value, max_step=max_step)  # type: ignore[call-arg]

    @model_validator(mode="after")
    def _consistent(self) -> AutoApplyBounds:
        values = (self.min_value, self.max_value, self.max_step)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("min, max and max_step must be finite numbers")
        if self.min_value > self.max_value:
            raise ValueError(f"min {self.min_value} is above max {self.max_value}")
        if self.max_step <= 0:
            raise ValueError(f"max_step must be > 0, got {self.max_step}")
        return self

    def contains(self, value: float) -> bool:
        """``min <= value <= max``."""
        return self.min_value <= value <= self.max_value


class RollbackGuardPolicy(_Frozen):
    """§8.5: how long an auto-applied key is watched and what counts as degradation.

    Drawdowns are fractions (0.02 = two percentage points), Sharpe is annualised.
    """

    enabled: Flag = True
    bake_window_minutes: Number = Field(gt=0, le=MAX_MINUTES)
    check_interval_seconds: Number = Field(60.0, gt=0, le=86_400)
    max_drawdown_increase: Number = Field(ge=0)
    max_sharpe_drop: Number = Field(ge=0)


def _check_keys(keys: Iterable[str]) -> None:
    for key in keys:
        try:
            check_target(key)
        except ValueError:
            raise ValueError(f"{key!r} is not a dotted config key") from None


class AutoApplyPolicy(_Frozen):
    """The governance policy of ``config/promotion.toml`` (§8.1); see that file for meanings."""

    mode: AutoApplyMode = AutoApplyMode.MANUAL_ONLY
    bounds: dict[str, AutoApplyBounds] = {}
    auto_apply_whitelist: tuple[str, ...] = ()
    #: Required (an empty list must be said): a policy that leaves a restriction out would
    #: otherwise silently restrict nothing.
    blacklist: tuple[str, ...]
    blacklist_tags: tuple[str, ...]
    target_tags: dict[str, tuple[str, ...]] = {}
    min_confidence: Number = Field(ge=0, le=1)
    min_confidence_for_auto_apply: Number = Field(ge=0, le=1)
    max_auto_applies_per_day: Count = Field(ge=0)
    cooldown_minutes: Number = Field(ge=0, le=MAX_MINUTES)
    global_promotion_lock: Flag = False
    rollback: RollbackGuardPolicy
    #: §9: a policy without ``[evidence]`` is invalid (``enabled = false`` turns it off, loudly).
    evidence: EvidencePolicy

    @field_validator("bounds", mode="before")
    @classmethod
    def _spelled_min_max(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        converted: dict[str, Any] = {}
        for key, spec in value.items():
            if isinstance(spec, Mapping):
                extra = set(spec) - {"min", "max", "max_step"}
                if extra:
                    raise ValueError(f"bounds.{key}: unknown field(s) {', '.join(sorted(extra))}")
                spec = AutoApplyBounds(spec.get("min"), spec.get("max"), spec.get("max_step"))  # type: ignore[arg-type]
            converted[key] = spec
        return converted

    @field_validator("auto_apply_whitelist", "blacklist")
    @classmethod
    def _dotted_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # An empty or padded entry matches no key: a blacklist entry that silently blocks
        # nothing must be refused, not kept.
        _check_keys(value)
        return value

    @field_validator("bounds", "target_tags")
    @classmethod
    def _dotted_table_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_keys(value)
        return value

    @field_validator("blacklist_tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not tag.strip() for tag in value):
            raise ValueError("blacklist_tags holds an empty tag")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AutoApplyPolicy:
        if self.min_confidence_for_auto_apply < self.min_confidence:
            raise ValueError("min_confidence_for_auto_apply must be >= min_confidence")
        unbounded = [key for key in self.auto_apply_whitelist if key not in self.bounds]
        if unbounded:
            raise ValueError(f"whitelisted keys without bounds: {', '.join(unbounded)}")
        return self
