"""Eighth round of attacks (red team, after commits 1913a77, 4123db8, 1d4ec29 and 7e62a45): the
loader's ``keep_accepted`` replay of refused override entries, the component check in the
verdict pipeline and the writer, the closed [portfolio]/[risk]/[strategy] tables and the
required policy blacklists.

Findings (each test below fails on the code it was written against):

* **One refused entry drops a different, governed entry.** ``_Layering.keep_accepted``
  (config/loader.py) replays the override entries greedily, one at a time in file order, over
  the base. A pair that is only valid together (``fast_window`` 40 before ``slow_window`` 50,
  the order the writer leaves when fast_window was written first) passes as a whole, but as
  soon as any *other* entry is refused (an operator's emergency ``portfolio.leverage = 0.0``)
  the replay tries fast_window 40 against the base slow_window 30, refuses it, and fast_window
  falls back to the base 10: a combination (10, 50) no gate passed, the governed value not in
  force, the warning blaming fast_window.
* **``overrides diff`` still bypasses the components' check.** It uses
  ``load_config_with_live_overrides`` (cli/overrides_cmd.py), so it prints an entry the daemon
  drops as the effective value (``10 -> 40``, "APPLIED") with no warning.
* **``overrides adopt`` records a value a component refuses.** The writer runs the component
  check for ``ADVANCE`` only (promotion/writer.py); adopt's gate checks bounds, and the policy's
  bounds may reach past a component's range (round 7: load_policy accepts regime_weight up to
  1.5). The trail and auto.toml then say 1.05 is live while the loader uses the base value.
* **...and that record breaks the paper book's history for good.** Once the adopted 1.05 is
  undone (``overrides clear``), the change record ``before = 1.05`` sits in the append-only
  trail; ``params_timeline`` (portfolio/timeline.py) walks back through it and
  ``PaperParams.from_config`` raises, so the paper portfolio in every live-like daemon answers
  "live change history unusable" on every run, forever.
* **A patch the verdict passes makes the writer refuse the whole batch.** The verdict's
  component check (promotion/engine.py ``_judged``) judges each patch's final value alone over
  the base; the writer (``_components_accept``) judges the whole resulting table with the
  planner's *step* values. An integer key (``strategy.breakout.lookback``: the planner writes
  ``25.0``, ``param_int`` refuses a float) or two keys valid alone but not together
  (rsi oversold 50 / overbought 45) pass the verdict, then the writer raises GateRefusal for
  the transaction: the legitimate ``portfolio.leverage`` patch of the same batch is not applied
  either, ``promote`` exits 3 (SPEC §8.8: one patch is rejected, never the batch). In the
  daemon the batch is left unacknowledged and re-offered, and refused again, at every reload.
* **``bench/overrides.py`` (``make bench``) no longer runs.** Its in-code policy has no
  ``blacklist``/``blacklist_tags`` (now required: ValidationError); with them added its bench
  base (no tuned keys) makes every ADVANCE a GateRefusal from the component check.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.portfolio.timeline import params_timeline
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.snapshot import SnapshotSpec, load_snapshot
from peaktrade_daemon.trading_config import load_trading_config
from tests.conftest import PROJECT_ROOT, subprocess_env
from tests.daemon_harness import run_cli, set_toml

AUTO = Path("config/live_overrides/auto.toml")
CONFIG = Path("config/config.toml")
POLICY = Path("config/promotion.toml")
REGIME_BOUNDS = '[bounds."macro.regime_weight"]\nmin = 0.0\nmax = 0.8\nmax_step = 0.1'


def _live(root: Path) -> None:
    set_toml(root / CONFIG, 'mode = "paper"', 'mode = "live"')


def _write_auto(root: Path, *lines: str) -> None:
    (root / AUTO).write_text("[auto_applied]\n" + "".join(f"{line}\n" for line in lines))


def _append_auto(root: Path, line: str) -> None:
    path = root / AUTO
    path.write_text(path.read_text() + line + "\n")


def _wide_regime_bounds(root: Path) -> None:
    """The round-7 precondition: bounds reaching past the paper book's range (load_policy
    accepts them)."""
    set_toml(
        root / POLICY,
        REGIME_BOUNDS,
        '[bounds."macro.regime_weight"]\nmin = 0.0\nmax = 1.5\nmax_step = 0.8',
    )


def _auto_values(root: Path) -> dict[str, object]:
    import tomllib

    table = tomllib.loads((root / AUTO).read_text()).get("auto_applied", {})
    return dict(table)


# -- finding 1: the greedy replay drops a different, governed entry --------------------------


def test_a_refused_entry_does_not_drop_a_different_governed_entry(project_root: Path) -> None:
    """auto.toml holds the governed pair fast_window 40 / slow_window 50 (valid together; the
    writer keeps a key's first position, so fast_window, written first at 20 and later moved
    to 40, comes before slow_window). The operator then lowers leverage to 0.0 by hand (an
    emergency "stop trading" the paper book refuses). ``keep_accepted`` (config/loader.py)
    replays entry by entry over the base: fast_window 40 against the base slow_window 30 is
    refused, so fast_window goes back to 10 while slow_window 50 stays. Safe: only the refused
    entry is dropped; the governed pair stays in force."""
    _live(project_root)
    _write_auto(
        project_root,
        '"strategy.ma_crossover.fast_window" = 40',
        '"strategy.ma_crossover.slow_window" = 50',
        '"portfolio.leverage" = 0.0',
    )
    config = load_snapshot(SnapshotSpec(root=project_root)).config
    assert config.get("portfolio.leverage") == 1.0  # the refused entry: dropped, fine
    dropped = sorted(w.key or "" for w in config.warnings)
    assert config.get("strategy.ma_crossover.slow_window") == 50
    assert config.get("strategy.ma_crossover.fast_window") == 40, (
        f"the governed fast_window fell back to the base value; warnings for {dropped}"
    )
    assert dropped == ["portfolio.leverage"]


# -- finding 2: overrides diff shows a dropped entry as effective ----------------------------


async def test_overrides_diff_does_not_show_a_dropped_entry_as_effective(
    project_root: Path,
) -> None:
    """``overrides diff`` (cli/overrides_cmd.py diff_overrides) loads with
    ``load_config_with_live_overrides``, not ``load_trading_config``: for an entry the daemon
    drops (fast_window 40 above slow_window 30) it prints ``10 -> 40`` under "live overrides
    are APPLIED" and no warning, while the daemon, ``config show`` and ``config check`` say
    the value in force is 10. Safe: diff shows the effective value, or warns."""
    _live(project_root)
    _append_auto(project_root, '"strategy.ma_crossover.fast_window" = 40')
    effective = load_snapshot(SnapshotSpec(root=project_root)).config
    assert effective.get("strategy.ma_crossover.fast_window") == 10
    code, out, err = await run_cli(project_root, "overrides", "diff")
    assert code == 0, out + err
    row = next(line for line in out.splitlines() if "fast_window" in line)
    assert "-> 40" not in row or "refused" in out, out


# -- finding 3: adopt records a value the components refuse ----------------------------------


async def test_adopt_does_not_record_a_value_a_component_refuses(project_root: Path) -> None:
    """With bounds reaching past the paper book's range, someone writes
    ``"macro.regime_weight" = 1.05`` into auto.toml by hand; the operator resolves the hand
    edit as documented, ``overrides adopt``. Adopt's gate (bounds, no step rule) passes it and
    the writer skips the component check (writer.py: ADVANCE only): the trail records 1.05 as
    live, auto.toml keeps it, while every loader drops it. Safe: adopt drops it and names it,
    like any other key the gate refuses."""
    _live(project_root)
    _wide_regime_bounds(project_root)
    _append_auto(project_root, '"macro.regime_weight" = 1.05')
    code, out, err = await run_cli(project_root, "overrides", "adopt", "--by", "alice")
    assert code in (0, 3), out + err
    assert load_snapshot(SnapshotSpec(root=project_root)).config.get("macro.regime_weight") == 0.25
    assert _auto_values(project_root).get("macro.regime_weight") != 1.05, out


async def test_an_adopted_refused_value_does_not_break_the_paper_books_history(
    project_root: Path,
) -> None:
    """The same adopt, then the operator notices and runs ``overrides clear``. The trail now
    holds a change ``before = 1.05``. The paper book of every live-like daemon builds its
    parameter timeline from the trail (paper.py _load_timeline -> timeline.params_timeline),
    walking back through each ``before``: ``PaperParams.from_config`` refuses 1.05, and the
    book answers "live change history unusable" on every run. The trail is append-only, so no
    operator command repairs it. Safe: the timeline can be built (no such record exists, or
    a value the components refuse is read as the one that was in force)."""
    _live(project_root)
    _wide_regime_bounds(project_root)
    _append_auto(project_root, '"macro.regime_weight" = 1.05')
    code, out, err = await run_cli(project_root, "overrides", "adopt", "--by", "alice")
    assert code in (0, 3), out + err
    code, out, err = await run_cli(project_root, "overrides", "clear", "--by", "alice")
    assert code == 0, out + err
    settings = load_settings(project_root)
    current = trading_config(settings)
    changes = audited_live_changes(settings, current)
    params_timeline(current, changes)  # raises ConfigError today


# -- finding 4: a verdict-passed patch makes the writer refuse its whole batch ---------------


def _policy_with(root: Path, bounds: dict[str, tuple[float, float, float]]) -> None:
    path = root / POLICY
    text = path.read_text()
    shipped = '["portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight"]'
    keys = ", ".join(f'"{k}"' for k in bounds)
    text = text.replace(
        f"auto_apply_whitelist = {shipped}", f"auto_apply_whitelist = {shipped[:-1]}, {keys}]"
    )
    # Evidence off: the gate's own rules decide (every step would wait for PASS otherwise).
    text = text.replace("[evidence]\nenabled = true", "[evidence]\nenabled = false")
    extra = "".join(
        f'[bounds."{k}"]\nmin = {lo!r}\nmax = {hi!r}\nmax_step = {step!r}\n\n'
        for k, (lo, hi, step) in bounds.items()
    )
    assert REGIME_BOUNDS in text
    path.write_text(text.replace(REGIME_BOUNDS, extra + REGIME_BOUNDS))


def _patch(pid: str, target: str, value: float) -> dict[str, object]:
    return {
        "id": pid,
        "target": target,
        "new_value": value,
        "status": "APPLIED_OFFLINE",
        "confidence_score": 0.95,
        "meta": {"is_live_ready": True},
    }


BATCH_CASES = {
    # The planner's next_step is a float (25.0); param_int refuses a float for an integer key.
    "integer_key": (
        {"strategy.breakout.lookback": (5, 60, 10)},
        [_patch("k", "strategy.breakout.lookback", 25)],
    ),
    # Each fine alone over the base (50 < 70, 30 < 45); together oversold 50 > overbought 45.
    "cross_key_pair": (
        {
            "strategy.rsi_reversion.oversold": (10.0, 60.0, 20.0),
            "strategy.rsi_reversion.overbought": (40.0, 90.0, 30.0),
        },
        [
            _patch("lo", "strategy.rsi_reversion.oversold", 50.0),
            _patch("hi", "strategy.rsi_reversion.overbought", 45.0),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(BATCH_CASES))
async def test_a_patch_the_verdict_passes_does_not_make_the_writer_refuse_its_batch(
    project_root: Path, case: str
) -> None:
    """Operator policy with bounds (and whitelist) for strategy keys. A batch holds those
    patches and a plain ``portfolio.leverage`` 1.25. ``_judged`` (promotion/engine.py) checks
    each patch's final value alone over the base, so all are ACCEPTED_FOR_PROPOSAL; the writer
    (``_components_accept``, promotion/writer.py) checks the whole resulting table of step
    values and raises GateRefusal for the transaction: nothing is written, ``promote`` exits 3,
    and the leverage step the policy allows is lost with them (in the daemon the batch is
    re-offered, and refused again, at every reload). Safe: the offending patch is rejected,
    the rest of the batch goes on (§8.8)."""
    _live(project_root)
    bounds, patches = BATCH_CASES[case]
    _policy_with(project_root, bounds)
    batch = project_root / "patches.json"
    batch.write_text(json.dumps({"patches": [*patches, _patch("lev", "portfolio.leverage", 1.25)]}))
    code, out, err = await run_cli(
        project_root, "promote", "--auto-apply-mode", "bounded_auto", "--input", str(batch)
    )
    assert code == 0, (out + err).strip().splitlines()[-1]
    assert _auto_values(project_root).get("portfolio.leverage") == 1.25
    # Whatever the writer did write, the daemon's loader keeps all of it (nothing refused).
    config = load_snapshot(SnapshotSpec(root=project_root)).config
    assert not [w for w in config.warnings if "refused by the component" in w.reason]


# -- finding 5: make bench: bench/overrides.py no longer runs --------------------------------


async def test_bench_overrides_still_runs() -> None:
    """``make bench`` runs every bench/*.py. bench/overrides.py builds its policy in code
    without ``blacklist``/``blacklist_tags`` (required since 1d4ec29: a ValidationError), and
    its bench base holds no tuned keys, which the writer's new component check refuses for
    every ADVANCE (GateRefusal "missing: the learning loop tunes this key")."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROJECT_ROOT / "bench" / "overrides.py"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env=subprocess_env(BENCH_ROUNDS="2", BENCH_DIR=os.environ.get("TMPDIR", "/tmp")),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode().strip().splitlines()[-1]


# =============================================================================================
# Doors tried that turned out closed (these pass: kept so the record shows what was tried)
# =============================================================================================


@pytest.mark.parametrize(
    "line",
    [
        '"strategy.enabled" = [["ma_crossover"]]',  # a list inside the list: unhashable
        '"strategy.enabled" = [{ a = 1 }]',
        '"strategy.ma_crossover.fast_window" = 10.5',  # int and float are one override kind
    ],
)
def test_closed_odd_values_are_dropped_never_a_failed_snapshot(
    project_root: Path, line: str
) -> None:
    """Values of the base value's kind whose shape a component might not expect: the check
    raises ConfigError (the entry dropped with a warning), never another exception out of the
    loader."""
    _live(project_root)
    _append_auto(project_root, line)
    config = load_snapshot(SnapshotSpec(root=project_root)).config
    assert config.get("strategy.ma_crossover.fast_window") == 10


def test_closed_many_refused_offline_entries_cost_linear_time(project_root: Path) -> None:
    """The replay is one trial per applied entry (each a copy and a check of the base): 400
    planted offline files each with a refused entry load in well under a second or two, not
    quadratically (TOML forbids a key twice in one file, so one file holds at most the base's
    keys)."""
    import time

    set_toml(project_root / CONFIG, 'mode = "paper"', 'mode = "drill"')
    offline = project_root / "config" / "auto"
    offline.mkdir(exist_ok=True)
    for i in range(400):
        (offline / f"f{i:04d}.override.toml").write_text(
            '[overrides]\n"macro.regime_weight" = 1.5\n"portfolio.leverage" = 1.1\n'
        )
    started = time.perf_counter()
    config = load_trading_config(
        project_root / CONFIG,
        root=project_root,
        auto_overrides_path=project_root / AUTO,
        offline_dir=offline,
    )
    assert time.perf_counter() - started < 5.0
    assert config.get("macro.regime_weight") == 0.25
    assert config.get("portfolio.leverage") == 1.1


async def test_closed_config_check_names_a_typo_in_an_invalid_base(project_root: Path) -> None:
    """An invalid base (``stop_los``) makes ``config check`` exit 1 naming the key and the key
    it meant; ``config show`` exits 2 with the same message, not a traceback."""
    set_toml(project_root / CONFIG, "stop_loss = 0.02", "stop_los = 0.02")
    code, out, err = await run_cli(project_root, "config", "check")
    assert code == 1 and "did you mean 'risk.stop_loss'" in out, out + err
    code, out, err = await run_cli(project_root, "config", "show")
    assert code == 2 and "did you mean 'risk.stop_loss'" in err and "Traceback" not in err


async def test_closed_a_retreat_is_not_blocked_by_the_component_check(project_root: Path) -> None:
    """The component check runs for ADVANCE only: ``overrides clear`` of an adopted value the
    components refuse still works (the emergency path is never blocked)."""
    _live(project_root)
    _wide_regime_bounds(project_root)
    _append_auto(project_root, '"macro.regime_weight" = 1.05')
    code, out, err = await run_cli(project_root, "overrides", "adopt", "--by", "alice")
    assert code == 0, out + err
    code, out, err = await run_cli(project_root, "overrides", "clear", "--by", "alice")
    assert code == 0, out + err
    assert "macro.regime_weight" not in _auto_values(project_root)


def test_closed_one_threshold_level_keeps_the_other_defaults() -> None:
    """settings._levels_over_defaults: one level from the environment keeps the metric's
    other level and direction and every other metric's levels."""
    from peaktrade_daemon.settings import PerformanceMonitorSettings

    found = PerformanceMonitorSettings.model_validate(
        {"thresholds": {"exposure": {"warning": 1.3}}}
    )
    assert found.thresholds["exposure"].critical == 1.5
    assert found.thresholds["exposure"].warning == 1.3
    assert found.thresholds["daily_pnl_pct"].when == "below"
    assert found.thresholds["current_drawdown"].critical == 0.2
