"""DecisionEngine: the decision table (SPEC §4.3), overrides, the record, and its invariants."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peaktrade_daemon.decision import (
    CriterionError,
    CriterionOutcome,
    DecisionAction,
    DecisionCriteria,
    DecisionEngine,
    DecisionInputError,
    WorkflowDecision,
)
from peaktrade_daemon.settings import DecisionSection, DecisionTypeSettings

EXECUTE, ALERT, SKIP, WAIT = (
    DecisionAction.EXECUTE,
    DecisionAction.ALERT,
    DecisionAction.SKIP,
    DecisionAction.WAIT,
)


def C(name: str, threshold: float, weight: float = 1.0, comparison: str = "gt", **kw: Any) -> Any:
    return DecisionCriteria(name, threshold, weight=weight, comparison=comparison, **kw)  # type: ignore[arg-type]


def engine_for(criteria: list[DecisionCriteria], **bands: Any) -> DecisionEngine:
    engine = DecisionEngine(DecisionSection(custom={"t": DecisionTypeSettings(**bands)}))
    if criteria:
        engine.add_criteria(workflow_type="t", criteria=criteria)
    return engine


@dataclass(frozen=True)
class Row:
    id: str
    criteria: list[DecisionCriteria]
    metrics: dict[str, Any]
    action: DecisionAction
    confidence: float
    unknown: tuple[str, ...] = ()
    bands: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] | None = None


THREE_TWO = [C("a", 0.5, 3.0), C("b", 0.5, 2.0)]  # weights 3 and 2 of 5: 0.6 and 0.4 exactly
TENTHS = [C("a", 0, 0.1), C("b", 0, 0.2), C("c", 0, 0.3), C("d", 0, 0.4)]  # 0.1+0.2+0.3 != 0.6

TABLE = [
    # every comparison, met and not met, through the engine
    Row("gt met", [C("x", 0.5)], {"x": 0.51}, EXECUTE, 1.0),
    Row("gt equal not met", [C("x", 0.5)], {"x": 0.5}, SKIP, 0.0),
    Row("gte equal met", [C("x", 0.5, comparison="gte")], {"x": 0.5}, EXECUTE, 1.0),
    Row("gte below", [C("x", 0.5, comparison="gte")], {"x": 0.49}, SKIP, 0.0),
    Row("lt met", [C("x", 0.5, comparison="lt")], {"x": 0.49}, EXECUTE, 1.0),
    Row("lt equal not met", [C("x", 0.5, comparison="lt")], {"x": 0.5}, SKIP, 0.0),
    Row("lte equal met", [C("x", 0.5, comparison="lte")], {"x": 0.5}, EXECUTE, 1.0),
    Row("lte above", [C("x", 0.5, comparison="lte")], {"x": 0.51}, SKIP, 0.0),
    Row("eq within 1e-6", [C("x", 1.0, comparison="eq")], {"x": 1.0 + 5e-7}, EXECUTE, 1.0),
    Row("eq outside 1e-6", [C("x", 1.0, comparison="eq")], {"x": 1.0 + 5e-6}, SKIP, 0.0),
    # band edges: exactly at a band reaches it
    Row("exactly 0.6 executes", THREE_TWO, {"a": 1, "b": 0}, EXECUTE, 0.6),
    Row("exactly 0.4 alerts", THREE_TWO, {"a": 0, "b": 1}, ALERT, 0.4),
    Row("all met", THREE_TWO, {"a": 1, "b": 1}, EXECUTE, 1.0),
    Row("none met", THREE_TWO, {"a": 0, "b": 0}, SKIP, 0.0),
    Row("float sum at 0.6", TENTHS, {"a": 1, "b": 1, "c": 1, "d": -1}, EXECUTE, 0.6),
    Row("float sum at 0.4", TENTHS, {"a": -1, "b": -1, "c": -1, "d": 1}, ALERT, 0.4),
    Row("just below 0.6", [C("a", 0, 0.599), C("b", 0, 0.401)], {"a": 1, "b": -1}, ALERT, 0.599),
    Row("just below 0.4", [C("a", 0, 0.399), C("b", 0, 0.601)], {"a": 1, "b": -1}, SKIP, 0.399),
    # per-type bands
    Row(
        "custom execute band", THREE_TWO, {"a": 1, "b": 0}, ALERT, 0.6, bands={"execute_band": 0.7}
    ),
    Row(
        "custom alert band",
        THREE_TWO,
        {"a": 0, "b": 1},
        SKIP,
        0.4,
        bands={"execute_band": 0.9, "alert_band": 0.5},
    ),
    # missing data: unknown, never 0
    Row("missing metric waits", THREE_TWO, {"a": 1}, WAIT, 0.6, unknown=("b",)),
    Row("missing is not 0 for lt", [C("x", 0.5, comparison="lt")], {}, WAIT, 0.0, unknown=("x",)),
    Row("None is missing", THREE_TWO, {"a": 1, "b": None}, WAIT, 0.6, unknown=("b",)),
    Row("NaN waits", THREE_TWO, {"a": 1, "b": math.nan}, WAIT, 0.6, unknown=("b",)),
    Row("inf waits", THREE_TWO, {"a": 1, "b": math.inf}, WAIT, 0.6, unknown=("b",)),
    Row("bool is not a number", THREE_TWO, {"a": 1, "b": True}, WAIT, 0.6, unknown=("b",)),
    Row("text is not a number", THREE_TWO, {"a": 1, "b": "0.9"}, WAIT, 0.6, unknown=("b",)),
    Row(
        "numpy scalars are numbers", THREE_TWO, {"a": np.float64(1), "b": np.int64(0)}, EXECUTE, 0.6
    ),
    Row("numpy NaN", THREE_TWO, {"a": 1, "b": np.float32("nan")}, WAIT, 0.6, unknown=("b",)),
    Row(
        "stale waits",
        THREE_TWO,
        {"a": 1, "b": 1},
        WAIT,
        0.6,
        unknown=("b",),
        context={"stale_metrics": {"b"}},
    ),
    # unknown share tolerated up to the configured share; unknown then counts as not met
    Row(
        "unknown within share",
        THREE_TWO,
        {"a": 1},
        EXECUTE,
        0.6,
        unknown=("b",),
        bands={"max_unknown_weight_share": 0.4},
    ),
    Row(
        "unknown share exceeded",
        THREE_TWO,
        {"b": 1},
        WAIT,
        0.4,
        unknown=("a",),
        bands={"max_unknown_weight_share": 0.4},
    ),
    Row(
        "required unknown waits whatever the share",
        [C("a", 0.5, 3.0), C("b", 0.5, 2.0, required=True)],
        {"a": 1},
        WAIT,
        0.6,
        unknown=("b",),
        bands={"max_unknown_weight_share": 1.0},
    ),
    Row(
        "required known and not met just counts",
        [C("a", 0.5, 3.0), C("b", 0.5, 2.0, required=True)],
        {"a": 1, "b": 0},
        EXECUTE,
        0.6,
    ),
    # no criteria
    Row("no criteria skips", [], {"x": 1.0}, SKIP, 0.0),
    Row("unconditional executes", [], {}, EXECUTE, 1.0, bands={"unconditional": True}),
    # operator overrides win over the criteria, and over missing data
    Row(
        "force_execute",
        THREE_TWO,
        {"a": 0, "b": 0},
        EXECUTE,
        1.0,
        context={"force_execute": True, "forced_by": "alice"},
    ),
    Row(
        "force_skip",
        THREE_TWO,
        {"a": 1, "b": 1},
        SKIP,
        1.0,
        context={"force_skip": True, "forced_by": "bob"},
    ),
    Row(
        "force_execute over missing data",
        THREE_TWO,
        {},
        EXECUTE,
        1.0,
        unknown=("a", "b"),
        context={"force_execute": True, "forced_by": "alice"},
    ),
    Row(
        "force_execute without criteria",
        [],
        {},
        EXECUTE,
        1.0,
        context={"force_execute": True, "forced_by": "alice"},
    ),
    Row(
        "force flags false are no force",
        THREE_TWO,
        {"a": 0, "b": 1},
        ALERT,
        0.4,
        context={"force_execute": False, "force_skip": False},
    ),
]


@pytest.mark.parametrize("row", TABLE, ids=[r.id for r in TABLE])
def test_decision_table(row: Row) -> None:
    engine = engine_for(row.criteria, **row.bands)
    decision = engine.make_decision("t", row.metrics, row.context)
    assert decision.action is row.action, decision.reasoning
    assert decision.confidence == pytest.approx(row.confidence, abs=1e-12)
    assert decision.missing_metrics == row.unknown
    unknown = [
        r.metric_name for r in decision.criteria_results if r.outcome is CriterionOutcome.UNKNOWN
    ]
    assert tuple(unknown) == row.unknown
    if row.action is WAIT:
        for metric in row.unknown:
            assert metric in decision.reasoning  # the missing metrics are named
    for result in decision.criteria_results:
        if result.outcome is CriterionOutcome.UNKNOWN:
            assert result.value is None and result.contribution == 0.0 and result.note


def test_reasons_for_each_action() -> None:
    engine = engine_for(THREE_TWO)
    assert engine.make_decision("t", {"a": 1, "b": 0}).reasoning == (
        "confidence 0.60 >= execute band 0.60"
    )
    assert "alert band" in engine.make_decision("t", {"a": 0, "b": 1}).reasoning
    assert "< alert band 0.40" in engine.make_decision("t", {"a": 0, "b": 0}).reasoning
    assert engine_for([]).make_decision("t", {}).reasoning == "no criteria defined"
    unknown_type = DecisionEngine().make_decision("nobody_configured_this", {"x": 1.0})
    assert (unknown_type.action, unknown_type.reasoning) == (SKIP, "no criteria defined")


def test_wait_names_metrics_and_reasons_from_the_monitors() -> None:
    engine = engine_for([C("a", 0.5, 3.0), C("b", 0.5, 2.0, required=True), C("c", 0.5)])
    decision = engine.make_decision(
        "t",
        {"a": 1.0, "c": 2.0},
        {
            "missing_reasons": {"b": "no ticker"},
            "stale_metrics": {"c": "last bar 3d old"},
        },
    )
    assert decision.action is WAIT
    assert decision.missing_metrics == ("b", "c")
    assert "b (missing: no ticker)" in decision.reasoning
    assert "c (stale: last bar 3d old)" in decision.reasoning
    assert "required criteria unknown: b" in decision.reasoning
    assert decision.metadata["required_unknown"] == ["b"]
    notes = {r.name: r.note for r in decision.criteria_results}
    assert notes == {"a": "", "b": "missing: no ticker", "c": "stale: last bar 3d old"}
    # the stale value is not used even though it is present and would meet the criterion
    stale = decision.criteria_results[2]
    assert (stale.value, stale.outcome) == (None, CriterionOutcome.UNKNOWN)


def test_tolerated_unknown_is_mentioned_in_the_reason() -> None:
    engine = engine_for(THREE_TWO, max_unknown_weight_share=0.5)
    decision = engine.make_decision("t", {"a": 1.0})
    assert decision.action is EXECUTE
    assert "unknown (counted as not met): b (missing)" in decision.reasoning
    assert decision.metadata["unknown_weight_share"] == pytest.approx(0.4)


def test_forced_decision_records_who_and_what_the_criteria_said() -> None:
    engine = engine_for(THREE_TWO)
    decision = engine.make_decision(
        "t", {"a": 0.0, "b": 1.0}, {"force_execute": True, "forced_by": "alice"}
    )
    assert (decision.action, decision.confidence) == (EXECUTE, 1.0)
    assert decision.reasoning.startswith("forced EXECUTE by alice (force_execute)")
    meta = decision.metadata
    assert meta["forced"] is True and meta["forced_by"] == "alice"
    assert (meta["unforced_action"], meta["unforced_confidence"]) == ("ALERT", pytest.approx(0.4))
    assert [r.outcome for r in decision.criteria_results] == [
        CriterionOutcome.NOT_MET,
        CriterionOutcome.MET,
    ]
    plain = engine.make_decision("t", {"a": 0.0, "b": 1.0})
    assert plain.metadata["forced"] is False and plain.metadata["forced_by"] is None


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        ({"force_execute": True, "force_skip": True, "forced_by": "x"}, "both given"),
        ({"force_execute": True}, "forced_by"),
        ({"force_skip": True, "forced_by": "  "}, "forced_by"),
        ({"force_skip": True, "forced_by": 7}, "forced_by"),
        ({"force_execute": "yes", "forced_by": "x"}, "true or false"),
        ({"force_skip": 1, "forced_by": "x"}, "true or false"),
        ({"now": datetime(2026, 1, 1)}, "aware datetime"),
        ({"now": "2026-01-01T00:00:00Z"}, "aware datetime"),
        ({"stale_metrics": "volatility"}, "metric names"),
    ],
)
def test_contradictory_or_malformed_context_is_refused(
    context: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(DecisionInputError, match=fragment) as info:
        engine_for(THREE_TWO).make_decision("t", {"a": 1.0, "b": 1.0}, context)
    assert isinstance(info.value, ValueError) and info.value.exit_code == 2


def test_record_holds_every_input_and_round_trips_through_json() -> None:
    engine = engine_for([C("a", 0.5, 3.0, comparison="gte"), C("b", -1.0, 1.0, "lt"), C("c", 2.0)])
    now = datetime(2026, 3, 2, 8, 15, tzinfo=timezone(timedelta(hours=1)))
    decision = engine.make_decision(
        "t",
        {"a": 0.7, "b": -0.5},
        {"now": now, "symbol": "BTC/USD", "run_id": 42, "tags": ["x"]},
    )
    rows = [r.to_dict() for r in decision.criteria_results]
    assert rows[0] == {
        "name": "a",
        "metric_name": "a",
        "value": 0.7,
        "comparison": "gte",
        "threshold": 0.5,
        "weight": 3.0,
        "required": False,
        "outcome": "met",
        "contribution": pytest.approx(0.6),
        "note": "",
    }
    assert (rows[1]["outcome"], rows[1]["contribution"], rows[1]["value"]) == ("not_met", 0.0, -0.5)
    assert (rows[2]["outcome"], rows[2]["value"], rows[2]["note"]) == ("unknown", None, "missing")
    assert sum(r["contribution"] for r in rows) == pytest.approx(decision.confidence)
    meta = decision.metadata
    assert meta["decided_at"] == "2026-03-02T08:15:00+01:00"
    assert meta["context"] == {"symbol": "BTC/USD", "run_id": 42, "tags": "['x']"}
    assert (meta["total_weight"], meta["met_weight"], meta["unknown_weight"]) == (5.0, 3.0, 1.0)
    assert meta["workflow_type"] == "t" and decision.workflow_type == "t"

    text = json.dumps(decision.to_dict(), allow_nan=False)
    again = WorkflowDecision.from_dict(json.loads(text))
    assert again == WorkflowDecision.from_dict(decision.to_dict())
    assert again.to_dict() == decision.to_dict()
    assert again.action is decision.action and again.criteria_results == decision.criteria_results


def test_seed_usage() -> None:
    engine = DecisionEngine()
    engine.add_criteria(
        workflow_type="custom_workflow",
        criteria=DecisionCriteria(
            name="my_metric",
            threshold=0.7,
            weight=0.9,
            metric_name="custom_metric",
            comparison="gt",
        ),
    )
    assert engine.make_decision("custom_workflow", {"custom_metric": 0.8}).action is EXECUTE
    assert engine.make_decision("custom_workflow", {"custom_metric": 0.6}).action is SKIP
    assert engine.make_decision("custom_workflow", {"my_metric": 0.8}).action is WAIT


def test_add_criteria_refuses_duplicates_atomically() -> None:
    engine = engine_for([C("a", 0.5)])
    with pytest.raises(CriterionError, match="'a' is already defined"):
        engine.add_criteria(workflow_type="t", criteria=[C("b", 0.5), C("a", 0.9)])
    assert [c.name for c in engine.criteria_for("t")] == ["a"]
    with pytest.raises(CriterionError, match="'c' is already defined"):
        engine.add_criteria(workflow_type="t", criteria=[C("c", 0.5), C("c", 0.6)])
    with pytest.raises(CriterionError, match="not a DecisionCriteria"):
        engine.add_criteria(workflow_type="t", criteria=[("d", 0.5)])  # type: ignore[list-item]
    assert [c.name for c in engine.criteria_for("t")] == ["a"]


def test_add_criteria_extends_the_built_in_defaults() -> None:
    engine = DecisionEngine()
    before = engine.criteria_for("market_scan")
    engine.add_criteria(workflow_type="market_scan", criteria=C("spread", 0.001, comparison="lt"))
    assert engine.criteria_for("market_scan") == (*before, C("spread", 0.001, comparison="lt"))
    assert DecisionEngine().criteria_for("market_scan") == before  # engines share nothing


def test_unconditional_type_takes_no_criteria() -> None:
    engine = engine_for([], unconditional=True)
    with pytest.raises(CriterionError, match="unconditional"):
        engine.add_criteria(workflow_type="t", criteria=C("a", 0.5))


def test_pure_same_inputs_same_decision_and_inputs_untouched() -> None:
    engine = engine_for(THREE_TWO)
    metrics = {"a": 1.0, "b": math.nan}
    context = {"now": datetime(2026, 1, 1, tzinfo=UTC), "stale_metrics": ["a"]}
    frozen_metrics, frozen_context = copy.deepcopy(metrics), copy.deepcopy(context)
    first = engine.make_decision("t", metrics, context).to_dict()
    second = engine.make_decision("t", metrics, context).to_dict()
    assert json.dumps(first) == json.dumps(second)
    assert metrics.keys() == frozen_metrics.keys() and context == frozen_context


criteria_strategy = st.lists(
    st.builds(
        lambda t, w, c, r: (t, w, c, r),
        st.floats(-10, 10, allow_nan=False),
        st.floats(0.001, 1000),
        st.sampled_from(["gt", "gte", "lt", "lte", "eq"]),
        st.booleans(),
    ),
    min_size=0,
    max_size=12,
)
value_strategy = st.one_of(
    st.floats(-20, 20, allow_nan=False),
    st.just(math.nan),
    st.none(),
)


@given(criteria_strategy, st.data(), st.floats(0.001, 1000))
def test_confidence_is_bounded_and_a_met_criterion_never_lowers_it(
    specs: list[tuple[float, float, str, bool]], data: st.DataObject, extra_weight: float
) -> None:
    criteria = [
        C(f"m{i}", t, w, comparison, required=r) for i, (t, w, comparison, r) in enumerate(specs)
    ]
    metrics = {c.metric_name: data.draw(value_strategy) for c in criteria}
    engine = engine_for(criteria)
    before = engine.make_decision("t", metrics)
    assert 0.0 <= before.confidence <= 1.0
    assert sum(r.contribution for r in before.criteria_results) == pytest.approx(before.confidence)

    engine.add_criteria(workflow_type="t", criteria=C("extra", 0.0, extra_weight, "gte"))
    after = engine.make_decision("t", {**metrics, "extra": 1.0})
    assert 0.0 <= after.confidence <= 1.0
    assert after.confidence >= before.confidence
