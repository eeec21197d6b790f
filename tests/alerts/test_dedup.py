"""De-duplication: fingerprint identity, counting within a window, summaries when it closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from peaktrade_daemon.alerts.dedup import Deduplicator, fingerprint, message_template
from peaktrade_daemon.alerts.model import Alert, AlertLevel

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _a(
    msg: str, symbol: str = "BTC", level: AlertLevel = AlertLevel.WARNING, **ctx: object
) -> Alert:
    return Alert(T0, level, "monitor", msg, {"symbol": symbol, **ctx})


def test_fingerprint_ignores_numbers_and_non_key_context_but_not_identity() -> None:
    assert message_template("drawdown 12.5% over 10%") == "drawdown #% over #%"
    base = fingerprint(_a("drawdown 12.5%", value=1))
    assert fingerprint(_a("drawdown 13.1%", value=2)) == base
    assert fingerprint(_a("drawdown 12.5%", symbol="ETH")) != base
    assert fingerprint(_a("drawdown 12.5%", level=AlertLevel.CRITICAL)) != base
    assert fingerprint(_a("spread 12.5%")) != base


def test_window_counts_repeats_and_summarises_on_close() -> None:
    d = Deduplicator(60)
    assert d.offer(_a("dd 1%"), T0)[0]
    for i in range(1, 5):
        assert not d.offer(_a(f"dd {i}%"), T0 + timedelta(seconds=i))[0]
    assert d.offer(_a("dd 1%", symbol="ETH"), T0 + timedelta(seconds=5))[0]
    assert d.next_close_at() == T0 + timedelta(seconds=60)
    assert d.expire(T0 + timedelta(seconds=59)) == []
    closed = d.expire(T0 + timedelta(seconds=65))
    assert [c.count for c in closed] == [4]  # the ETH window suppressed nothing: no summary
    summary = closed[0].summary(T0 + timedelta(seconds=65))
    assert summary.context["suppressed"] == 4
    assert summary.context["symbol"] == "BTC"
    assert "repeated 4 more times within 60s" in summary.message
    assert d.offer(_a("dd 9%"), T0 + timedelta(seconds=66))[0]  # a new window: emitted again


def test_zero_window_disables_and_flush_reports_open_windows() -> None:
    off = Deduplicator(0)
    assert all(off.offer(_a("x"), T0)[0] for _ in range(3))
    d = Deduplicator(600)
    d.offer(_a("x"), T0)
    d.offer(_a("x"), T0)
    assert [c.count for c in d.flush()] == [1]
    assert d.open_windows == 0


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 50)), max_size=60))
def test_every_alert_is_emitted_or_counted_in_exactly_one_summary(
    ops: list[tuple[int, float]],
) -> None:
    d = Deduplicator(10)
    now = T0
    emitted = suppressed_total = 0
    for sym, gap in ops:
        now += timedelta(seconds=gap)
        suppressed_total += sum(c.count for c in d.expire(now))
        emitted += d.offer(_a("x", symbol=str(sym)), now)[0]
    suppressed_total += sum(c.count for c in d.flush())
    assert emitted + suppressed_total == len(ops)
