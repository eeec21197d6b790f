"""ConfigPatch validation and JSON round-trip; LearningSignal and its rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peaktrade_daemon.learning.models import (
    ConfigPatch,
    LearningSignal,
    PatchStatus,
    patches_from_json,
    patches_from_signals,
    patches_to_json,
)

T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target": ""},
        {"target": "a..b"},
        {"target": "a. b"},
        {"new_value": [1, 2]},
        {"new_value": None},
        {"new_value": float("nan")},
        {"old_value": {"x": 1}},
        {"confidence_score": 1.5},
        {"confidence_score": -0.1},
        {"confidence_score": True},
        {"status": "promoted_somehow"},
        {"id": " "},
        {"meta": ["not", "a", "dict"]},
        {"generated_at": "yesterday"},
        {"generated_at": "2024-05-01T12:00:00"},  # no offset: which zone?
        {"new_value": 10**400},  # beyond float range
        {"new_value": 2**63},  # beyond TOML's integer range
        {"old_value": -(2**63) - 1},
        {"new_value": float("inf")},
        {"confidence_score": "0.9"},  # strict: no coercion from text
        {"reason": ["a", "list"]},
    ],
)
def test_invalid_patches_are_rejected(kwargs) -> None:
    base = {"id": "p1", "target": "portfolio.leverage", "old_value": 1.0, "new_value": 1.25}
    with pytest.raises(ValueError):
        ConfigPatch(**{**base, **kwargs})


def test_status_parses_any_case_and_times_need_an_offset() -> None:
    patch = ConfigPatch(
        id="p",
        target="a.b",
        old_value=None,
        new_value=True,
        status="applied_offline",
        generated_at="2024-05-01T14:00:00+02:00",
    )
    assert patch.status is PatchStatus.APPLIED_OFFLINE
    assert patch.generated_at == T and patch.generated_at.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone"):
        ConfigPatch(id="p", target="a.b", old_value=None, new_value=1, generated_at="2024-05-01")


def test_the_integer_range_ends_are_fine() -> None:
    base = {"id": "p1", "target": "a.b", "old_value": -(2**63)}
    assert ConfigPatch(**base, new_value=2**63 - 1).new_value == 2**63 - 1


def test_unknown_fields_fail_loudly() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        ConfigPatch.from_dict(
            {"id": "p", "target": "a.b", "old_value": 1, "new_value": 2, "colour": "red"}
        )


scalars = st.one_of(
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
targets = st.lists(
    st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=4
).map(".".join)
times = st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)))
patch_strategy = st.builds(
    ConfigPatch,
    id=st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
    target=targets,
    old_value=st.one_of(st.none(), scalars),
    new_value=scalars,
    status=st.sampled_from(list(PatchStatus)),
    generated_at=times,
    applied_at=times,
    promoted_at=times,
    reason=st.one_of(st.none(), st.text(max_size=20)),
    source_experiment_id=st.one_of(st.none(), st.text(max_size=8)),
    confidence_score=st.one_of(st.none(), st.floats(0, 1)),
    meta=st.dictionaries(
        st.text(max_size=5), st.one_of(scalars, st.lists(st.text(max_size=3))), max_size=3
    ),
)


@given(st.lists(patch_strategy, max_size=5))
def test_json_round_trip_is_exact_and_deterministic(patches: list[ConfigPatch]) -> None:
    text = patches_to_json(patches)
    again = patches_from_json(text)
    assert again == patches
    assert patches_to_json(again) == text
    assert json.loads(text)["patches"] == [p.to_dict() for p in patches]


def test_signals_become_patches_by_the_documented_rule() -> None:
    def signal(
        minute: int, value: float, target: str = "portfolio.leverage", **evidence
    ) -> LearningSignal:
        return LearningSignal(
            source="walk_forward",
            metric="sharpe_gain",
            value=0.3,
            observed_at=T.replace(minute=minute),
            recommendation={"target": target, "new_value": value},
            evidence=evidence,
        )

    signals = [
        signal(5, 1.75, confidence=0.9, is_live_ready=True, tags=["walk_forward"]),
        signal(1, 1.5, confidence=0.99),
        signal(2, 0.25, target="macro.regime_weight", confidence=0.8),  # equals current: no patch
    ]
    [patch] = patches_from_signals(
        signals, {"portfolio.leverage": 1.0, "macro.regime_weight": 0.25}
    )
    assert (patch.target, patch.old_value, patch.new_value) == ("portfolio.leverage", 1.0, 1.75)
    assert patch.confidence_score == 0.9 and patch.is_live_ready and patch.tags == ("walk_forward",)
    assert patch.status is PatchStatus.PROPOSED and patch.generated_at == T.replace(minute=5)
    assert patches_from_signals(signals, {"portfolio.leverage": 1.0})[0].id == patch.id  # stable id
