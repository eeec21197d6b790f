"""One weighted decision criterion: a metric compared with a threshold.

A :class:`DecisionCriteria` is validated when it is built, so a bad criterion (from
``daemon.toml`` or from code) fails at load time with a message naming it, never later in the
middle of a decision:

- ``comparison`` is one of ``gt gte lt lte eq``; ``eq`` holds within :data:`EQ_TOLERANCE`
  (1e-6, absolute), because metrics are floats computed from data and exact equality on them is
  an accident of rounding.
- ``weight`` is a finite number > 0 (a zero weight would be a criterion that can never matter;
  an infinite one would make every confidence NaN).
- ``threshold`` is a finite number: NaN compares false with everything (a criterion that is
  silently never met) and an infinite threshold is a criterion that can never or always be met.
- ``metric_name`` defaults to ``name`` when empty, so the common case of a criterion named after
  its metric needs one field only.

Bool values are refused for ``threshold`` and ``weight``: ``True`` is an ``int`` in Python and
would pass as 1 without anyone meaning it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, get_args

from peaktrade_daemon.errors import ConfigError

Comparison = Literal["gt", "gte", "lt", "lte", "eq"]
COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)
EQ_TOLERANCE = 1e-6

SYMBOLS: Mapping[Comparison, str] = MappingProxyType(
    {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=="}
)


def _eq(value: float, threshold: float) -> bool:
    return abs(value - threshold) <= EQ_TOLERANCE


_TESTS: Mapping[Comparison, Callable[[float, float], bool]] = MappingProxyType(
    {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le, "eq": _eq}
)


class CriterionError(ConfigError, ValueError):
    """A decision criterion (or a decision's inputs) is invalid.

    A :class:`~peaktrade_daemon.errors.ConfigError` (exit code 2) because criteria come from
    configuration, and a ``ValueError`` so pydantic validators and plain Python callers can catch
    it the usual way.
    """


def _real(value: object, what: str, criterion: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CriterionError(f"{what} must be a number, got {value!r}", key=criterion)
    number = float(value)
    if not math.isfinite(number):
        raise CriterionError(f"{what} must be a finite number, got {value!r}", key=criterion)
    return number


@dataclass(frozen=True, slots=True)
class DecisionCriteria:
    """``metric <comparison> threshold`` with a weight; see the module docstring for the rules."""

    name: str
    threshold: float
    weight: float = 1.0
    metric_name: str = ""
    comparison: Comparison = "gt"
    required: bool = False
    test: Callable[[float, float], bool] = field(init=False, repr=False, compare=False)
    """``test(value, threshold)``: the comparison function itself, set from ``comparison``."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise CriterionError(f"a criterion needs a non-empty name, got {self.name!r}")
        if self.comparison not in _TESTS:
            raise CriterionError(
                f"unknown comparison {self.comparison!r}; use one of {', '.join(COMPARISONS)}",
                key=self.name,
            )
        threshold = _real(self.threshold, "threshold", self.name)
        weight = _real(self.weight, "weight", self.name)
        if weight <= 0:
            raise CriterionError(f"weight must be > 0, got {self.weight!r}", key=self.name)
        if not isinstance(self.metric_name, str):
            raise CriterionError(
                f"metric_name must be text, got {self.metric_name!r}", key=self.name
            )
        if not isinstance(self.required, bool):
            raise CriterionError(
                f"required must be true or false, got {self.required!r}", key=self.name
            )
        # Frozen: normalised values are set once, here, through object.__setattr__.
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "metric_name", self.metric_name.strip() or self.name)
        object.__setattr__(self, "test", _TESTS[self.comparison])

    def is_met(self, value: float) -> bool:
        """Whether a known, finite ``value`` satisfies the criterion."""
        return self.test(value, self.threshold)

    def describe(self) -> str:
        """``metric >= threshold`` for reasons and reports."""
        return f"{self.metric_name} {SYMBOLS[self.comparison]} {self.threshold:g}"
