"""DecisionCriteria: validation at construction and the five comparisons."""

from __future__ import annotations

import dataclasses
import math

import pytest

from peaktrade_daemon.decision import COMPARISONS, CriterionError, DecisionCriteria
from peaktrade_daemon.errors import ConfigError


def test_seed_signature_and_defaults() -> None:
    c = DecisionCriteria(name="my_metric", threshold=0.7)
    assert (c.weight, c.comparison, c.required) == (1.0, "gt", False)
    assert c.metric_name == "my_metric"  # empty metric_name means "the metric named like me"
    seed = DecisionCriteria(
        name="my_metric", threshold=0.7, weight=0.9, metric_name="custom_metric", comparison="gt"
    )
    assert seed.metric_name == "custom_metric"
    assert seed.describe() == "custom_metric > 0.7"


def test_integer_threshold_and_weight_become_floats() -> None:
    c = DecisionCriteria("total_trades", 5, weight=3, comparison="gte")
    assert isinstance(c.threshold, float) and isinstance(c.weight, float)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"comparison": "ge"}, "unknown comparison 'ge'"),
        ({"comparison": "GT"}, "unknown comparison"),
        ({"weight": 0.0}, "weight must be > 0"),
        ({"weight": -1.0}, "weight must be > 0"),
        ({"weight": math.inf}, "finite"),
        ({"weight": math.nan}, "finite"),
        ({"weight": True}, "must be a number"),
        ({"threshold": math.nan}, "finite"),
        ({"threshold": math.inf}, "finite"),
        ({"threshold": -math.inf}, "finite"),
        ({"threshold": True}, "must be a number"),
        ({"threshold": "0.5"}, "must be a number"),
        ({"name": ""}, "non-empty name"),
        ({"name": "   "}, "non-empty name"),
        ({"required": 1}, "required must be true or false"),
        ({"metric_name": 3}, "metric_name must be text"),
    ],
)
def test_invalid_criteria_fail_at_construction(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"name": "volatility", "threshold": 0.5, **kwargs}
    with pytest.raises(CriterionError, match=fragment) as info:
        DecisionCriteria(**args)  # type: ignore[arg-type]
    # One error, catchable the ways callers expect: as a config error (exit 2) and a ValueError.
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)
    assert info.value.exit_code == 2


# (comparison, threshold, value, met)
COMPARISON_TABLE = [
    ("gt", 0.5, 0.6, True),
    ("gt", 0.5, 0.5, False),
    ("gt", 0.5, 0.4, False),
    ("gte", 0.5, 0.6, True),
    ("gte", 0.5, 0.5, True),
    ("gte", 0.5, 0.4, False),
    ("lt", 0.5, 0.4, True),
    ("lt", 0.5, 0.5, False),
    ("lt", 0.5, 0.6, False),
    ("lte", 0.5, 0.4, True),
    ("lte", 0.5, 0.5, True),
    ("lte", 0.5, 0.6, False),
    ("eq", 0.5, 0.5, True),
    ("eq", 0.5, 0.5 + 9e-7, True),  # within the 1e-6 tolerance
    ("eq", 0.5, 0.5 - 9e-7, True),
    ("eq", 0.5, 0.5 + 2e-6, False),
    ("eq", 0.5, 0.5 - 2e-6, False),
    ("eq", 1.0, 0.0, False),
    ("gt", -2.0, -1.0, True),
    ("lte", -2.0, -2.5, True),
]


@pytest.mark.parametrize(("comparison", "threshold", "value", "met"), COMPARISON_TABLE)
def test_comparison_table(comparison: str, threshold: float, value: float, met: bool) -> None:
    c = DecisionCriteria("m", threshold, comparison=comparison)  # type: ignore[arg-type]
    assert c.is_met(value) is met


def test_table_covers_every_comparison() -> None:
    assert {row[0] for row in COMPARISON_TABLE} == set(COMPARISONS)


def test_criteria_are_immutable_values() -> None:
    c = DecisionCriteria("volatility", 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.threshold = 0.9  # type: ignore[misc]
    assert c == DecisionCriteria("volatility", 0.5, metric_name="volatility")
    assert hash(c) == hash(DecisionCriteria("volatility", 0.5))
