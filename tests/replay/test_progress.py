"""The progress bar: drawn in place on a terminal with data time and ETA, silent otherwise."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from peaktrade_daemon.replay.progress import Progress, render

T0 = datetime(2017, 6, 1, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_shows_data_time_share_and_eta() -> None:
    line = render(T0, 0.25, elapsed_s=30.0)
    assert line.startswith("replay 2017-06-01T00:00:00Z [")
    assert "25%" in line and line.endswith("ETA 0:01:30")  # 30 s for a quarter: 90 s to go
    assert render(T0, 0.0, 0.0).endswith("ETA --:--:--")


def test_without_a_terminal_nothing_is_written() -> None:
    stream = io.StringIO()
    bar = Progress(stream, T0, T0 + timedelta(days=1), interval_s=0.0)
    bar(T0 + timedelta(hours=6))
    bar.close()
    assert stream.getvalue() == ""


def test_on_a_terminal_it_redraws_in_place_rate_limited_and_clears() -> None:
    stream = Terminal()
    wall = iter([0.0, 1.0, 1.05, 2.0])
    bar = Progress(stream, T0, T0 + timedelta(days=4), interval_s=0.2, wall=lambda: next(wall))
    bar(T0 + timedelta(days=1))  # t = 1.0: drawn
    bar(T0 + timedelta(days=2))  # t = 1.05: too soon, skipped
    bar(T0 + timedelta(days=3))  # t = 2.0: drawn
    drawn = stream.getvalue().split("\r")[1:]
    assert len(drawn) == 2
    assert "2017-06-02T00:00:00Z" in drawn[0] and " 25% " in drawn[0]
    assert "2017-06-04T00:00:00Z" in drawn[1] and " 75% " in drawn[1]
    bar.close()
    assert stream.getvalue().endswith("\r")
