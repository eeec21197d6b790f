"""The replay feed: latest N bars as of replay time, speed, the symbol map, the mtime cache."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.market import replay
from peaktrade_daemon.market.bars import from_ns
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.settings import load_settings
from tests.market.samples import frame


def spy_on(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Path]:
    """The paths the replay module's parser ``name`` is called with, from now on."""
    calls: list[Path] = []
    real = getattr(replay, name)

    def spying(path: Path, raw: bytes, **kwargs: Any) -> object:
        calls.append(path)
        return real(path, raw, **kwargs)

    monkeypatch.setattr(replay, name, spying)
    return calls


async def test_latest_bars_as_of_replay_time(project_root: Path) -> None:
    settings = load_settings(
        project_root, cli_overrides={"replay": {"start": "2017-06-01T10:30:00", "speed": 60.0}}
    )
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    feeds = Feeds(settings, clock)
    async with asyncio.timeout(10):
        first = await feeds.bars("EUR/USD", 5)
        await clock.advance(60)  # one wall minute = one replay hour at speed 60
        later = await feeds.bars("EUR/USD", 5)
    df = frame("EURUSD")
    upto = df[df.index <= "2017-06-01 10:30"]
    assert from_ns(int(first.timestamps[-1])) == upto.index[-1].tz_localize(UTC)
    assert first.close.tolist() == upto.Close.tail(5).tolist()
    assert first.as_of == datetime(2017, 6, 1, 10, 30, tzinfo=UTC)
    assert later.as_of == datetime(2017, 6, 1, 11, 30, tzinfo=UTC)
    assert later.close.tolist() == df[df.index <= "2017-06-01 11:30"].Close.tail(5).tolist()
    assert first.age_s == 30 * 60


async def test_btc_eur_replays_the_btc_usd_history(project_root: Path) -> None:
    feeds = Feeds(load_settings(project_root), ManualClock())
    async with asyncio.timeout(10):
        eur = await feeds.bars("BTC/EUR", 10)
        usd = await feeds.bars("BTC/USD", 10)
    assert eur.symbol == "BTC/EUR" and usd.symbol == "BTC/USD"
    assert eur.close.tolist() == usd.close.tolist() == frame("BTCUSD").Close.tail(10).tolist()
    assert eur.timeframe == "1M"


async def test_edited_file_is_reread_unchanged_file_is_cached(project_root: Path) -> None:
    feeds = Feeds(load_settings(project_root), ManualClock())
    path = project_root / "data/samples/GOOG.csv"
    async with asyncio.timeout(10):
        before = await feeds.bars("GOOG", 3)
        again = await feeds.bars("GOOG", 3)
        assert again.timestamps.base is before.timestamps.base  # same cached arrays
        text = path.read_text().rstrip("\n") + "\n2013-03-04,806.0,810.0,800.0,809.5,2000000\n"
        path.write_text(text)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        after = await feeds.bars("GOOG", 3)
    # Without replay.start, replay time is anchored at the file's current end: the appended bar
    # is the newest one now.
    assert after.close.tolist() == [*before.close.tolist()[1:], 809.5]


async def test_missing_file_is_a_data_error(project_root: Path) -> None:
    (project_root / "data/samples/GOOG.csv").unlink()
    feeds = Feeds(load_settings(project_root), ManualClock())
    with pytest.raises(DataError, match=r"GOOG\.csv: no market data file for GOOG"):
        await feeds.bars("GOOG", 3)


async def test_the_cache_keeps_only_the_bars_a_window_can_still_reach(project_root: Path) -> None:
    settings = load_settings(project_root)
    feeds = Feeds(settings, ManualClock())
    df = frame("EURUSD")
    async with asyncio.timeout(10):
        small = await feeds.bars("EUR/USD", 50)
        kept = feeds._replay._cache[project_root / "data/samples/EURUSD.csv"]
        assert len(kept.bars) == 50 and not kept.whole
        assert not kept.bars.close.flags.writeable  # windows share it: nobody may write
        # A larger window reaches before the kept bars: the file is read again, keeping more.
        large = await feeds.bars("EUR/USD", 3000)
    assert large.close.tolist() == df.Close.tail(3000).tolist()
    assert small.close.tolist() == df.Close.tail(50).tolist()
    assert len(feeds._replay._cache[project_root / "data/samples/EURUSD.csv"].bars) == 3000


class SteppedClock:
    """A wall clock that an operator (or NTP) can step back."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


async def test_only_the_files_last_bars_are_parsed_until_a_window_reaches_before_them(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wholes = spy_on(monkeypatch, "parse_ohlcv_csv")
    clock = SteppedClock(datetime(2030, 1, 1, tzinfo=UTC))
    feeds = Feeds(load_settings(project_root), clock)
    df = frame("GOOG")
    async with asyncio.timeout(10):
        newest = await feeds.bars("GOOG", 50)
        assert wholes == []  # the tail of 50 lines
        clock.at -= timedelta(days=10)  # replay time 10 days before the file's end
        earlier = await feeds.bars("GOOG", 50)
    assert [p.name for p in wholes] == [
        "GOOG.csv"
    ]  # the tail cannot hold that window: the whole file
    assert newest.close.tolist() == df.Close.tail(50).tolist()
    end = df.index[-1] - pd.Timedelta(days=10)
    assert earlier.close.tolist() == df[df.index <= end].Close.tail(50).tolist()


async def test_an_unchanged_window_is_the_same_arrays(project_root: Path) -> None:
    feeds = Feeds(load_settings(project_root), ManualClock())
    async with asyncio.timeout(10):
        first = await feeds.bars("GOOG", 100)
        again = await feeds.bars("GOOG", 100)
    for name in ("timestamps", "open", "high", "low", "close", "volume"):
        assert getattr(first, name) is getattr(again, name), name


async def test_checks_asking_together_share_one_read_of_each_file(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = spy_on(monkeypatch, "parse_ohlcv_tail")
    feeds = Feeds(load_settings(project_root), ManualClock())
    async with asyncio.timeout(10):
        windows = await asyncio.gather(
            *(feeds.bars(symbol, 20) for symbol in ("BTC/USD", "BTC/EUR", "GOOG") * 3)
        )
    # BTC/USD and BTC/EUR replay one file: two files, each read and parsed once.
    assert sorted(p.name for p in reads) == ["BTCUSD.csv", "GOOG.csv"]
    assert feeds._replay._parses.batches <= 2
    assert [w.symbol for w in windows[:3]] == ["BTC/USD", "BTC/EUR", "GOOG"]


async def test_a_bad_file_fails_every_check_that_waited_for_it(project_root: Path) -> None:
    (project_root / "data/samples/GOOG.csv").write_text(",Open,High,Low,Close,Volume\nbad\n")
    feeds = Feeds(load_settings(project_root), ManualClock())
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(
            feeds.bars("GOOG", 5), feeds.bars("GOOG", 5), feeds.bars("BTC/USD", 5),
            return_exceptions=True,
        )  # fmt: skip
    assert all(isinstance(o, DataError) and "GOOG.csv: line 2" in str(o) for o in outcomes[:2])
    assert not isinstance(outcomes[2], Exception)


async def test_unreadable_file_is_a_data_error_naming_it(project_root: Path) -> None:
    sample = project_root / "data/samples/GOOG.csv"
    sample.unlink()
    sample.mkdir()  # exists, but reading it fails (EISDIR), as an unreadable file would
    feeds = Feeds(load_settings(project_root), ManualClock())
    with pytest.raises(DataError, match=r"GOOG\.csv: cannot read market data: Is a directory"):
        await feeds.bars("GOOG", 3)


async def test_a_reload_restarts_replay_time_only_for_a_new_start_or_speed(
    project_root: Path,
) -> None:
    base = {"start": "2017-06-01T10:30:00", "speed": 60.0}
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    feeds = Feeds(load_settings(project_root, cli_overrides={"replay": base}), clock)
    async with asyncio.timeout(10):
        await clock.advance(60)
        # Settings of the replay section that are not the feed's time (the replay command's
        # learning interval, staleness) keep the running replay where it is.
        other = {**base, "learn_interval_days": 3.0, "stale_after_bars": 5.0}
        await feeds.reconfigure(load_settings(project_root, cli_overrides={"replay": other}))
        assert (await feeds.bars("EUR/USD", 1)).as_of == datetime(2017, 6, 1, 11, 30, tzinfo=UTC)
        await feeds.reconfigure(
            load_settings(project_root, cli_overrides={"replay": {**other, "speed": 120.0}})
        )
        assert (await feeds.bars("EUR/USD", 1)).as_of == datetime(2017, 6, 1, 10, 30, tzinfo=UTC)
