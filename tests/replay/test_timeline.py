"""The timeline: entries from cycles, learning steps, the audit trail and alerts, in a
deterministic order and with nothing that differs between two runs of the same replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.learning.cycle import LearnResult
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.replay.learners import LearnStep
from peaktrade_daemon.replay.timeline import Redactor, Timeline, counts, timeline_bytes
from peaktrade_daemon.workflows.cycle import CycleSummary

T0 = datetime(2017, 6, 1, 9, tzinfo=UTC)
ROOT = Path("/tmp/peaktrade-replay-abc123")
BASE = {"portfolio": {"leverage": 1.0}, "macro": {"regime_weight": 0.25}}


def _summary(at: datetime, action: str = "SKIP") -> CycleSummary:
    return CycleSummary(
        cycle_id=f"{at:%Y%m%dT%H%M%S}-1a2b3c4d",
        started_at=at,
        finished_at=at,
        workflow_type="market_scan",
        selection_reason="default",
        symbol="EUR/USD",
        action=action,
        confidence=0.5,
        executed=False,
        success=True,
        reasons=("volume_ratio=1.2 >= 1.5 (not met)",),
    )


def _record(seq: int, at: datetime, **fields: object) -> dict[str, object]:
    return {"seq": seq, "time": at.isoformat(), "write_id": f"w-{seq}", **fields}


def test_the_redactor_removes_the_scratch_path_and_random_id_suffixes() -> None:
    redact = Redactor(ROOT)
    text = (
        f"{ROOT}/config/live_overrides/auto.toml: run 20170601T090000-market_scan-deadbeef "
        "failed in cycle 20170601T090000-0a1b2c3d, proposal 20170601T090000Z-12345678"
    )
    assert redact.text(text) == (
        "<replay root>/config/live_overrides/auto.toml: run 20170601T090000-market_scan "
        "failed in cycle 20170601T090000, proposal 20170601T090000Z"
    )
    assert redact.value({"a": [text, 1.5]}) == {"a": [redact.text(text), 1.5]}


def test_entries_come_in_time_then_kind_order_with_live_values_around_each_change() -> None:
    timeline = Timeline(Redactor(ROOT), T0 + timedelta(days=1))
    later = T0 + timedelta(hours=1)
    timeline.decision(_summary(later))
    timeline.decision(_summary(T0, "EXECUTE"))
    patch = ConfigPatch(id="p1", target="portfolio.leverage", old_value=None, new_value=1.5)
    timeline.learn(LearnStep(T0, (patch,), LearnResult(written=[patch])), "snippets")
    timeline.alert(Alert(later, AlertLevel.CRITICAL, "promotion", f"refused {ROOT}/x", {}))
    timeline.alert(Alert(T0, AlertLevel.INFO, "promotion", "auto-applied", {}))  # left out
    timeline.audit(
        [
            _record(
                1,
                T0,
                event="verdict",
                key="portfolio.leverage",
                verdict="ACCEPTED_FOR_PROPOSAL",
                proposed=1.5,
                current=1.0,
                patch_id="p1",
                reasons=["ok"],
            ),
            _record(
                1,
                T0,
                event="evidence",
                key="portfolio.leverage",
                verdict="PASS",
                step_value=1.25,
                final_verdict="INCONCLUSIVE",
                live_value=1.0,
                patch_id="p1",
                reasons=["not worse beyond tolerance"],
            ),
            _record(
                2,
                T0,
                event="change",
                actor="auto",
                key="portfolio.leverage",
                before=None,
                after=1.25,
                reasons=["step"],
            ),
            _record(
                3,
                later,
                event="change",
                actor="rollback-guard",
                key="portfolio.leverage",
                before=1.25,
                after=None,
                reasons=["degraded"],
                undoes=2,
            ),
            _record(
                3,
                later,
                event="freeze",
                actor="rollback-guard",
                key="portfolio.leverage",
                reasons=["degraded"],
            ),
            _record(
                4,
                later,
                event="change",
                actor="auto",
                key="macro.regime_weight",
                before=0.25,
                after=0.35,
                reasons=["x"],
                write_id="w-lost",
            ),
            _record(5, later, event="write_aborted", write_id="w-lost"),
        ],
        BASE,
    )
    entries = timeline.entries()
    assert [(e["time"][11:16], e["kind"]) for e in entries] == [
        ("09:00", "decision"),
        ("09:00", "learn"),
        ("09:00", "verdict"),
        ("09:00", "verdict"),
        ("09:00", "apply"),
        ("10:00", "decision"),
        ("10:00", "revert"),
        ("10:00", "freeze"),
        ("10:00", "alert"),
    ]
    policy, evidence = entries[2], entries[3]
    assert (policy["stage"], policy["verdict"]) == ("policy", "ACCEPTED_FOR_PROPOSAL")
    assert (evidence["stage"], evidence["verdict"], evidence["step"]) == ("evidence", "PASS", 1.25)
    apply, revert = entries[4], entries[6]
    assert (apply["key"], apply["before"], apply["after"]) == ("portfolio.leverage", 1.0, 1.25)
    assert (revert["before"], revert["after"]) == (1.25, 1.0)  # absent from auto.toml: base
    assert entries[0]["time"] == "2017-06-01T09:00:00Z"
    assert entries[-1]["message"] == "refused <replay root>/x"
    assert entries[1]["published"] == {"portfolio.leverage": 1.5}
    assert counts(entries) == {
        "decision": 2,
        "learn": 1,
        "verdict": 2,
        "apply": 1,
        "revert": 1,
        "freeze": 1,
        "alert": 1,
    }
    lines = timeline_bytes(entries).decode().splitlines()
    assert [json.loads(line) for line in lines] == entries
    assert all(
        line
        == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for line in lines
    )


def test_a_dedup_summary_is_stamped_with_its_window_close_not_when_it_was_written() -> None:
    end = T0 + timedelta(hours=2)
    timeline = Timeline(Redactor(ROOT), end)
    context = {"suppressed": 4, "first_at": "2017-06-01T09:00:00Z", "window_s": 300.0}
    # Written late (a background task woke after the clock had moved on): the time is the close.
    timeline.alert(
        Alert(
            T0 + timedelta(minutes=42),
            AlertLevel.WARNING,
            "monitor.market",
            "x (repeated 4 more times within 300s)",
            context,
        )
    )
    # A window flushed at shutdown closes at the replay's end at the latest.
    late = {"suppressed": 1, "first_at": "2017-06-01T10:58:00Z", "window_s": 300.0}
    timeline.alert(Alert(end, AlertLevel.WARNING, "monitor.market", "y", late))
    times = [(e["time"], e.get("suppressed")) for e in timeline.entries()]
    assert times == [("2017-06-01T09:05:00Z", 4), ("2017-06-01T11:00:00Z", 1)]
