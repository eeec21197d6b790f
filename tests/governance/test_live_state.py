"""Resolving a hand edit keeps the recorded bookkeeping: ``stricter`` (a pure merge)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from peaktrade_daemon.governance.live_state import LiveState, stricter

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
TIMES = st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m))
KEYS = st.sampled_from(["portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight"])
STATES = st.builds(
    LiveState,
    values=st.dictionaries(KEYS, st.floats(0, 3), max_size=3),
    frozen=st.dictionaries(KEYS, st.sampled_from(["guard", "hand"]), max_size=3),
    last_change=st.dictionaries(KEYS, TIMES, max_size=3),
    auto_applies=st.lists(TIMES, max_size=6),
)


def test_a_hand_edit_cannot_loosen_what_the_trail_recorded() -> None:
    recorded = LiveState(
        {},
        {"portfolio.leverage": "drawdown up"},
        {"portfolio.leverage": T0},
        [T0, T0, T0],  # one write's three applies share its time
    )
    edited = LiveState({"portfolio.leverage": 1.5}, {}, {}, [])
    merged = stricter(edited, recorded)
    assert merged.values == {"portfolio.leverage": 1.5}
    assert merged.frozen == {"portfolio.leverage": "drawdown up"}
    assert merged.last_change == {"portfolio.leverage": T0}
    assert merged.auto_applies == [T0, T0, T0]
    later = T0 + timedelta(minutes=5)
    merged = stricter(LiveState({}, {"x": "hand"}, {"portfolio.leverage": later}, [T0]), recorded)
    assert merged.frozen == {"x": "hand", "portfolio.leverage": "drawdown up"}
    assert merged.last_change == {"portfolio.leverage": later}
    assert merged.auto_applies == [T0, T0, T0]


@given(found=STATES, recorded=STATES)
def test_the_merge_is_never_looser_than_either(found: LiveState, recorded: LiveState) -> None:
    merged = stricter(found, recorded)
    assert merged.values == found.values
    assert set(merged.frozen) == set(found.frozen) | set(recorded.frozen)
    for key in set(found.last_change) | set(recorded.last_change):
        known = [s.last_change[key] for s in (found, recorded) if key in s.last_change]
        assert merged.last_change[key] == max(known)
    since = T0 + timedelta(minutes=2)
    assert merged.applies_since(since) >= max(
        found.applies_since(since), recorded.applies_since(since)
    )
