"""A replay's inputs are checked against the root before anything exists: each problem is an
error naming it, with the exit code the command returns (2 usage, 3 policy)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.errors import PolicyError, UsageError
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.replay.inputs import ReplayRequest, build_request, parse_time
from peaktrade_daemon.settings import load_settings

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _snippets(folder: Path, *entries: dict[str, Any], name: str = "a.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"patches": list(entries)}))
    return folder


def _request(root: Path, **given: Any) -> ReplayRequest:
    arguments: dict[str, Any] = {
        "symbols": ("EUR/USD",),
        "start": None,
        "end": None,
        "policy": None,
        "mode": None,
        "learner": [
            "snippets",
            str(_snippets(root / "snips", {"target": "portfolio.leverage", "new_value": 1.5})),
        ],
        "poll_interval_s": None,
        "out": None,
        "now": NOW,
    }
    arguments.update(given)
    return build_request(load_settings(root), **arguments)


def test_defaults_replay_the_symbols_common_history_into_reports_replay(project_root: Path) -> None:
    request = _request(project_root, symbols=())
    # GOOG's history (2004-2013) does not overlap EUR/USD's: left out, and said so.
    assert request.symbols == ("BTC/USD", "BTC/EUR", "EUR/USD")
    assert any(w.startswith("GOOG left out") for w in request.warnings)
    assert (request.start, request.end) == (
        datetime(2017, 4, 19, 9, tzinfo=UTC),
        datetime(2018, 2, 7, 15, tzinfo=UTC),
    )
    assert request.out_dir.parent == project_root / "reports" / "replay"
    assert request.out_dir.name.startswith("20261206T120000Z-")
    assert not request.out_dir.exists()  # created only when the outputs are written
    assert request.effective_mode is AutoApplyMode.MANUAL_ONLY  # the shipped policy's


def test_dates_and_their_day_bounds(project_root: Path) -> None:
    request = _request(project_root, start="2017-06-01", end="2017-06-30")
    assert request.start == datetime(2017, 6, 1, tzinfo=UTC)
    assert request.end == datetime(2017, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_time("2017-06-01T10:00", "--from") == datetime(2017, 6, 1, 10, tzinfo=UTC)
    assert parse_time("2017-06-01T10:00+02:00", "--from") == datetime(2017, 6, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"symbols": ("EUR/USD", "XAU/USD")}, "unknown symbol(s) XAU/USD (configured: "),
        (
            {"start": "2016-12-31"},
            "--from 2016-12-31T00:00:00Z is before the data: EUR/USD starts 2017-04-19T09:00:00Z",
        ),
        (
            {"end": "2018-03-01"},
            "--to 2018-03-01T23:59:59Z is after the data: EUR/USD ends 2018-02-07T15:00:00Z",
        ),
        (
            {"start": "2017-07-01", "end": "2017-06-01"},
            "--from 2017-07-01T00:00:00Z is not before --to",
        ),
        ({"start": "June"}, "--from 'June' is not an ISO-8601 date or date-time"),
        (
            {"symbols": ("EUR/USD", "GOOG")},
            "the symbols' histories do not overlap (EUR/USD 2017-04-19",
        ),
        ({"poll_interval_s": 0.0}, "--poll-interval 0: must be a number of seconds, at least 1"),
        ({"poll_interval_s": 1e-300}, "--poll-interval 1e-300: must be a number of seconds"),
        (
            {"poll_interval_s": 1.0},
            "--poll-interval: 2017-04-19 to 2018-02-07 every 1 s is 2.54e+07 cycles, more than "
            "2,000,000; raise --poll-interval or narrow --from/--to",
        ),
        (
            {"learner": ["snippets"]},
            "--learner snippets: expected 'walk_forward' or 'snippets DIR'",
        ),
    ],
)
def test_bad_input_is_a_usage_error_naming_it(
    project_root: Path, given: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        _request(project_root, **given)
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_symbol_without_history_or_with_a_broken_file(project_root: Path) -> None:
    (project_root / "data" / "samples" / "EURUSD.csv").write_text(
        ",Open,High,Low,Close,Volume\nx,1,1,1,1,1\n"
    )
    with pytest.raises(UsageError, match=r"EUR/USD: history unusable: .*EURUSD.csv: line 2"):
        _request(project_root)
    (project_root / "data" / "samples" / "EURUSD.csv").unlink()
    with pytest.raises(UsageError, match=r"EUR/USD: no history to replay: .*EURUSD.csv"):
        _request(project_root)


def test_an_invalid_or_missing_policy_is_refused_with_exit_3(
    project_root: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text('mode = "sometimes"\n')
    with pytest.raises(PolicyError, match=str(bad)) as caught:
        _request(project_root, policy=str(bad))
    assert caught.value.exit_code == 3
    with pytest.raises(PolicyError, match="not found"):
        _request(project_root, policy=str(tmp_path / "none.toml"))


def test_snippet_folders_that_give_nothing_to_learn(project_root: Path, tmp_path: Path) -> None:
    cases = {
        "missing": (tmp_path / "nowhere", "no such directory"),
        "empty": (tmp_path / "empty", "no *.json or *.jsonl snippet in it"),
        "broken": (tmp_path / "broken", "broken/a.json: not JSON"),
        "invalid": (tmp_path / "invalid", "no valid patch in it"),
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.json").write_text("{not json")
    _snippets(tmp_path / "invalid", {"target": "portfolio.leverage"})
    for folder, message in cases.values():
        with pytest.raises(UsageError, match=message.replace("*", r"\*")):
            _request(project_root, learner=["snippets", str(folder)])


def test_snippet_patches_are_released_at_their_generated_at_in_learns_order(
    project_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "snips"
    _snippets(
        folder,
        {"target": "portfolio.leverage", "new_value": 1.5, "generated_at": "2017-06-10T00:00:00Z"},
        name="new.json",
    )
    _snippets(
        folder,
        {"target": "macro.regime_weight", "new_value": 0.3},
        {"target": "nope", "new_value": "x", "confidence": 7},
        name="old.json",
    )
    os.utime(folder / "old.json", (1, 1))  # older by file time: read first, as learn does
    request = _request(project_root, learner=["snippets", str(folder)], start="2017-06-01")
    releases = request.learner.releases
    assert [(r.patch.target, r.at) for r in releases] == [
        ("macro.regime_weight", request.start),  # no generated_at: known from the start
        ("portfolio.leverage", datetime(2017, 6, 10, tzinfo=UTC)),
    ]
    assert any("old.json: entry 1: skipped" in w for w in request.warnings)


def test_out_must_be_new_or_empty_and_never_under_config_or_state(
    project_root: Path, tmp_path: Path
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    with pytest.raises(UsageError, match="exists and is not an empty directory"):
        _request(project_root, out=str(full))
    for place in ("config/out", "state/out"):
        with pytest.raises(UsageError, match="replay never writes under"):
            _request(project_root, out=str(project_root / place))
    (tmp_path / "empty").mkdir()
    assert _request(project_root, out=str(tmp_path / "empty")).out_dir == tmp_path / "empty"
