"""``peaktrade-daemon replay`` end to end, as a user runs it (a real process on a copy of the
shipped root): the bundled EURUSD history under the shipped policy in ``bounded_auto``, where
every §8.4/§8.8 invariant holds at every recorded step; the same replay twice gives the same
bytes; the real root's files are untouched; a tripped rollback guard reverts and freezes; a
``disabled`` policy decides and never applies.

The ranges are a few weeks (a cycle per hourly bar, about 20 ms each) with a learning step
every two data days, so each replay takes seconds; the snippets ask for every kind of change:
many steps on each tuned key (rate limit and cooldowns bind), a step back down, and keys that
must never be written (``environment.*``, a blacklisted key, a key off the whitelist).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.promotion.policy_file import load_policy
from tests.conftest import PROJECT_ROOT, cli_command, subprocess_env
from tests.daemon_harness import set_toml
from tests.market.samples import frame

pytestmark = pytest.mark.timeout(300)

RANGE = ("--from", "2017-06-01", "--to", "2017-06-14")
PATCHES = [
    {"target": "portfolio.leverage", "new_value": 2.0},
    {"target": "strategy.trigger_delay", "new_value": 3.0},
    {"target": "macro.regime_weight", "new_value": 0.8},
    {"target": "environment.mode", "new_value": "live"},
    {"target": "risk.stop_loss", "new_value": 0.05},
    {"target": "portfolio.fee_bps", "new_value": 1.0},
    {"target": "portfolio.leverage", "new_value": 1.25, "generated_at": "2017-06-09T00:00:00Z"},
]


def _root(base: Path) -> Path:
    """A copy of the shipped root, learning every two data days, with a snippet folder."""
    root = base / "root"
    shutil.copytree(PROJECT_ROOT / "config", root / "config")
    shutil.copytree(PROJECT_ROOT / "data", root / "data")
    for sub in ("state", "logs", "reports"):
        (root / sub).mkdir()
    set_toml(root / "config" / "daemon.toml", "learn_interval_days = 7", "learn_interval_days = 2")
    snippets = base / "snippets"
    snippets.mkdir()
    entries = [{**p, "confidence": 0.95, "is_live_ready": True} for p in PATCHES]
    (snippets / "learned.json").write_text(json.dumps({"patches": entries}))
    return root


def replay(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command, with the test's snippet folder."""
    learner = ("--learner", "snippets", str(root.parent / "snippets"))
    return subprocess.run(
        cli_command("--root", str(root), "replay", "--symbol", "EUR/USD", *learner, *args),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=280,
    )


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: content hash and modification time."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def timeline(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "timeline.jsonl").read_text().splitlines()]


def _at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))


@dataclass(frozen=True)
class Runs:
    root: Path
    before: dict[str, tuple[str, int]]
    after: dict[str, tuple[str, int]]
    outs: list[Path]
    stdout: str


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The same bounded_auto replay twice, into reports/replay/<run_id>/ of the root."""
    root = _root(tmp_path_factory.mktemp("bounded"))
    before = snapshot(root)
    procs = [replay(root, *RANGE, "--mode", "bounded_auto") for _ in range(2)]
    for proc in procs:
        assert proc.returncode == 0, proc.stderr
    outs = sorted((root / "reports" / "replay").iterdir())
    yield Runs(root, before, snapshot(root), outs, procs[0].stdout)


def test_every_invariant_holds_at_every_recorded_step(bounded: Runs) -> None:
    policy = load_policy(PROJECT_ROOT / "config" / "promotion.toml")
    entries = timeline(bounded.outs[0])
    check_invariants(entries, policy)
    applies = [e for e in entries if e["kind"] == "apply"]
    keys = {e["key"] for e in applies}
    # The replay really exercised governance: every tuned key moved, one step at a time, and
    # some key took a second step once its bake window (a canary under evidence gating),
    # cooldown and the rate limit let it.
    assert keys == {"portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight"}
    assert len(applies) > len(keys)
    # One decision per hourly EUR/USD bar of the range.
    bars = frame("EURUSD").loc["2017-06-01":"2017-06-14"]
    assert sum(e["kind"] == "decision" for e in entries) == len(bars)
    # Holds end between bars too (a rate-limit slot frees 24 hours after an apply): the worker
    # checks then, on its check grid, not only at the next bar.
    stamps = {t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in bars.index}
    assert any(e["time"] not in stamps for e in applies)
    summary = json.loads((bounded.outs[0] / "summary.json").read_text())
    assert summary["counts"]["apply"] == len(applies)
    assert summary["mode"] == "bounded_auto" and summary["symbols"] == ["EUR/USD"]
    final = {key: lookup_base(key) for key in policy.bounds}
    for entry in applies:
        final[entry["key"]] = entry["after"]
    assert summary["final_live_values"] == final
    assert set(summary["books"]) == {"governed", "static", "ungoverned"}
    assert (bounded.outs[0] / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Changes to the live values" in (bounded.outs[0] / "summary.md").read_text()


def lookup_base(key: str) -> Any:
    with (PROJECT_ROOT / "config" / "config.toml").open("rb") as file:
        node: Any = tomllib.load(file)
    for part in key.split("."):
        node = node[part]
    return node


def check_invariants(entries: list[dict[str, Any]], policy: AutoApplyPolicy) -> None:
    """§8.3/§8.4/§8.8 on the recorded changes: whitelisted, bounded keys only, never
    ``environment.*``; inside the bounds; at most max_step per change (a revert goes back to a
    recorded value); each change starts where the last one left the key; the per-key cooldown
    and the rolling 24-hour rate limit in data time; an accepted verdict before the first
    apply of a key; no apply of a key after the guard froze it."""
    live: dict[str, Any] = {}
    last_change: dict[str, datetime] = {}
    applied_at: list[datetime] = []
    accepted: set[str] = set()
    frozen: set[str] = set()
    cooldown = timedelta(minutes=policy.cooldown_minutes)
    times = [e["time"] for e in entries]
    assert times == sorted(times)
    for entry in entries:
        kind, at = entry["kind"], _at(entry)
        if kind == "verdict" and entry["verdict"] == "ACCEPTED_FOR_PROPOSAL":
            accepted.add(entry["key"])
        if kind == "freeze":
            frozen.add(entry["key"])
        if kind not in ("apply", "revert"):
            continue
        key, before, after = entry["key"], entry["before"], entry["after"]
        assert not key.startswith("environment."), entry
        assert key in policy.auto_apply_whitelist and key in policy.bounds, entry
        bounds = policy.bounds[key]
        assert bounds.min_value <= after <= bounds.max_value, entry
        assert before == live.get(key, lookup_base(key)), entry
        if kind == "apply":
            assert entry["actor"] == "auto"
            assert key in accepted and key not in frozen, entry
            assert abs(after - before) <= bounds.max_step + 1e-9, entry
            if key in last_change:
                assert at - last_change[key] >= cooldown, entry
            window = [t for t in applied_at if at - timedelta(days=1) <= t]
            assert len(window) < policy.max_auto_applies_per_day, entry
            applied_at.append(at)
        else:
            assert entry["actor"] == "rollback-guard"
        live[key] = after
        last_change[key] = at


def test_the_same_replay_twice_gives_the_same_bytes(bounded: Runs) -> None:
    first, second = bounded.outs
    for name in ("timeline.jsonl", "summary.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert first.name != second.name  # two runs, two run directories


def test_the_real_root_is_untouched_but_for_the_outputs(bounded: Runs) -> None:
    added = set(bounded.after) - set(bounded.before)
    assert {p for p in bounded.before if bounded.before[p] != bounded.after.get(p)} == set()
    expected = {
        f"reports/replay/{out.name}/{name}"
        for out in bounded.outs
        for name in ("timeline.jsonl", "summary.json", "summary.md", "replay.png")
    }
    assert added == expected
    assert (
        f"wrote {bounded.outs[0]}" in bounded.stdout or f"wrote {bounded.outs[1]}" in bounded.stdout
    )


def test_a_tripped_guard_reverts_freezes_and_the_key_moves_no_more(tmp_path: Path) -> None:
    root = _root(tmp_path)
    policy_file = tmp_path / "tight.toml"
    policy_file.write_text(
        (PROJECT_ROOT / "config" / "promotion.toml")
        .read_text()
        .replace("max_drawdown_increase = 0.02", "max_drawdown_increase = 0.0005")
        .replace("max_sharpe_drop = 0.5", "max_sharpe_drop = 0.05")
        .replace("bake_window_minutes = 60", "bake_window_minutes = 600")
        # The before/after rule (evidence gating would watch each change with a canary).
        .replace("[evidence]\nenabled = true", "[evidence]\nenabled = false")
    )
    out = tmp_path / "out"
    proc = replay(
        root,
        "--from",
        "2017-06-01",
        "--to",
        "2017-06-08",
        "--mode",
        "bounded_auto",
        "--policy",
        str(policy_file),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    entries = timeline(out)
    check_invariants(entries, load_policy(policy_file))
    reverts = [e for e in entries if e["kind"] == "revert"]
    freezes = {e["key"] for e in entries if e["kind"] == "freeze"}
    assert reverts and freezes == {e["key"] for e in reverts}
    for revert in reverts:
        assert revert["reasons"][0].startswith("degraded: ")
        undone = [
            e
            for e in entries
            if e["kind"] == "apply" and e["key"] == revert["key"] and e["time"] <= revert["time"]
        ][-1]
        # The last change of the key, undone: back to the value it had before it.
        assert (revert["before"], revert["after"]) == (undone["after"], undone["before"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["revert"] == len(reverts)


def test_a_disabled_policy_decides_and_never_applies(tmp_path: Path) -> None:
    root = _root(tmp_path)
    set_toml(root / "config" / "promotion.toml", 'mode = "manual_only"', 'mode = "disabled"')
    out = tmp_path / "out"
    # --mode cannot lift the policy's killswitch.
    proc = replay(
        root,
        "--from",
        "2017-06-01",
        "--to",
        "2017-06-07",
        "--mode",
        "bounded_auto",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    kinds = [e["kind"] for e in timeline(out)]
    assert kinds.count("decision") == len(frame("EURUSD").loc["2017-06-01":"2017-06-07"])
    assert kinds.count("learn") == 3
    assert {"verdict", "apply", "revert", "freeze"}.isdisjoint(kinds)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "disabled"
    assert summary["final_live_values"] == {k: lookup_base(k) for k in summary["final_live_values"]}


def test_ctrl_c_stops_after_the_instant_in_progress_and_writes_nothing(tmp_path: Path) -> None:
    root = _root(tmp_path)
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    before = snapshot(root)
    learner = ("--learner", "snippets", str(root.parent / "snippets"))
    proc = subprocess.Popen(
        cli_command("--root", str(root), "replay", "--symbol", "EUR/USD", *learner),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(TMPDIR=str(scratch_parent)),
    )
    try:
        # The replay daemon is up once its scratch state database exists (a whole-history
        # replay takes minutes: this is mid-way).
        deadline = time.monotonic() + 120
        while not list(scratch_parent.glob("peaktrade-replay-*/state/peaktrade.db")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the replay daemon did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert snapshot(root) == before  # no output directory, nothing else
    assert list(scratch_parent.iterdir()) == []  # the scratch root is gone too


def test_the_walk_forward_learner_feeds_the_loop(tmp_path: Path) -> None:
    root = _root(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run(
        cli_command(
            "--root",
            str(root),
            "replay",
            "--symbol",
            "EUR/USD",
            "--from",
            "2017-09-01",
            "--to",
            "2017-09-16",
            "--mode",
            "bounded_auto",
            "--learner",
            "walk_forward",
            "--out",
            str(out),
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr
    entries = timeline(out)
    learned = [e for e in entries if e["kind"] == "learn"]
    assert learned and {e["learner"] for e in learned} == {"walk_forward"}
    check_invariants(entries, load_policy(PROJECT_ROOT / "config" / "promotion.toml"))
    assert json.loads((out / "summary.json").read_text())["learner"] == "walk_forward"
