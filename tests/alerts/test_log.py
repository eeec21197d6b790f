"""The TSV alert log: escaping round-trips, five fields per line, reopen after rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from peaktrade_daemon.alerts.log import (
    AlertLog,
    escape_field,
    format_line,
    parse_line,
    unescape_field,
)
from peaktrade_daemon.alerts.model import Alert, AlertLevel

T0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@given(st.text())
def test_escape_round_trips_and_leaves_no_tab_or_newline(text: str) -> None:
    escaped = escape_field(text)
    assert "\t" not in escaped and "\n" not in escaped and "\r" not in escaped
    assert unescape_field(escaped) == text


@given(
    source=st.text(min_size=1),
    message=st.text(),
    context=st.dictionaries(
        st.text(), st.one_of(st.integers(), st.text(), st.floats(allow_nan=False))
    ),
)
def test_line_has_five_fields_and_parses_back(
    source: str, message: str, context: dict[str, object]
) -> None:
    alert = Alert(T0, AlertLevel.WARNING, source, message, context)
    line = format_line(alert)
    assert line.endswith("\n") and line.count("\n") == 1
    assert len(line.rstrip("\n").split("\t")) == 5
    back = parse_line(line)
    assert (back.source, back.message, back.context, back.timestamp) == (
        source,
        message,
        context,
        T0,
    )


def test_exact_line_format() -> None:
    alert = Alert(
        T0, AlertLevel.CRITICAL, "risk", "drawdown\t12%\nnow", {"symbol": "BTC/USD", "dd": 0.12}
    )
    assert format_line(alert) == (
        '2025-01-02T03:04:05.678Z\tcritical\trisk\tdrawdown\\t12%\\nnow\t{"dd":0.12,"symbol":"BTC/USD"}\n'
    )


def test_reopen_after_rotation_writes_to_a_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "autonomous_alerts.log"
    log = AlertLog(path)
    log.write(Alert(T0, AlertLevel.INFO, "a", "one", {}))
    path.rename(path.with_suffix(".log.1"))  # what logrotate does
    log.write(Alert(T0, AlertLevel.INFO, "a", "two", {}))  # still goes to the moved file
    log.reopen()
    log.write(Alert(T0, AlertLevel.INFO, "a", "three", {}))
    log.close()
    assert [parse_line(x).message for x in path.with_suffix(".log.1").read_text().splitlines()] == [
        "one",
        "two",
    ]
    assert [parse_line(x).message for x in path.read_text().splitlines()] == ["three"]
