"""Seventh round of attacks (red team, after commits 1913a77 and 4123db8): the closed
[portfolio]/[risk]/[strategy] tables checked at start-up and reload, and the promotion worker's
re-offered refused batches.

Findings (each test below failed on the code it was written against; fixed with it: the loader
drops an override entry the components refuse, with a critical warning, for every reader
through ``trading_config.load_trading_config``; the writer refuses an advance whose result a
component refuses; the worker survives an OSError and leaves re-offering a refused set to the
inbox, so the stale-batch finding is now ``tests/promotion/test_batch_ack.py``):

* **A value in an override file that passes the loader's type check but not a component's
  check makes the whole snapshot fail.** ``snapshot._trading_config`` runs
  ``check_trading_config`` on the *effective* config (base + offline + live overrides). The
  override loader (``config/overrides.check_override``) checks only key, type and finiteness,
  so ``"strategy.ma_crossover.fast_window" = 40`` (above slow_window 30), ``"portfolio.leverage"
  = 0.0`` (an operator's "emergency lowering" the SPEC allows by hand), ``"macro.regime_weight" =
  1.5``, ``"risk.stop_loss" = -0.01`` or ``"strategy.enabled" = ["nope"]`` in auto.toml is
  applied, and then ``PaperParams.from_config`` / ``enabled_strategies`` raise ConfigError.
  Result: the daemon refuses to start (exit 2, blaming config.toml, which is fine), every SIGHUP
  reload fails while the file stays, and ``config check`` says "all configuration files are
  valid". §2.3 wants a bad override entry ignored with a warning, never an exception.
* **That failing reload also blocks the killswitch.** With such an entry in auto.toml, the
  operator's ``mode = "disabled"`` + SIGHUP is refused whole; the worker keeps the old policy
  (its ``policy_source`` is the daemon's snapshot) and goes on auto-applying.
* **Whoever can write reports/learning_snippets/ can do the same through the learner.**
  ``learn`` (and the in-daemon walk_forward learner job) writes every snippet patch that is not
  blacklisted or firewalled to config/auto/learning.override.toml; in a backtest or drill
  environment the next start or reload then fails on the component check.
* **A re-offered refused batch is acknowledged after a newer set was processed.** The inbox
  keeps one "seen" digest (the last set acknowledged). Set A is refused whole (config.toml
  unreadable for a moment); the learner then publishes set B, which is processed (seen = B). At
  the next SIGHUP the worker re-offers A: the superseded A is judged again after B, and its
  acknowledgement writes seen = A, so the inbox (whose reload forgets its stat) publishes B once
  more: B is promoted twice, and the stale A once more after B.
* **The gate itself can write such a value.** The writer's gate checks bounds, never the
  component ranges, and ``load_policy`` accepts bounds past them (macro.regime_weight up to 1.5):
  a governed change to 1.05 is written, and every later start and reload fails.
* **A plain file planted at reports/live_promotion kills the worker task.** The FileExistsError
  (an OSError) from the proposal writer is not a PeakTradeError: it escapes
  ``PromotionWorker.run``; the batch is neither acknowledged nor kept for the next reload.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from peaktrade_daemon.config.loader import load_config
from peaktrade_daemon.errors import GateRefusal
from peaktrade_daemon.governance.plans import WriteKind, plan_restore
from peaktrade_daemon.governance.verdicts import Verdict
from peaktrade_daemon.promotion.engine import (
    build_promotion_candidates_from_patches,
    filter_candidates_for_live,
)
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.snapshot import SnapshotSpec, load_snapshot
from peaktrade_daemon.trading_config import check_trading_config
from tests.conftest import cli_command, subprocess_env
from tests.daemon_harness import (
    SIGHUP,
    SIGTERM,
    AlertTail,
    DaemonProcess,
    NotifySocket,
    run_cli,
    set_toml,
)
from tests.promotion.conftest import T0, make_patch
from tests.promotion.test_batch_ack import desk

AUTO = Path("config/live_overrides/auto.toml")
CONFIG = Path("config/config.toml")
POLICY = Path("config/promotion.toml")

#: Override entries of the base config's own type that a component refuses.
COMPONENT_REFUSED = {
    "fast_window_above_slow": ('"strategy.ma_crossover.fast_window" = 40', 10),
    "leverage_zero": ('"portfolio.leverage" = 0.0', 1.0),
    "regime_weight_above_one": ('"macro.regime_weight" = 1.5', 0.25),
    "negative_stop": ('"risk.stop_loss" = -0.01', 0.02),
    "unknown_strategy": ('"strategy.enabled" = ["nope"]', None),
}


def _live(root: Path) -> None:
    set_toml(root / CONFIG, 'mode = "paper"', 'mode = "live"')


def _hand_edit(root: Path, line: str) -> None:
    path = root / AUTO
    path.write_text(path.read_text() + line + "\n")


def _key(line: str) -> str:
    return line.split("=", 1)[0].strip().strip('"')


# -- finding 1: an override value a component refuses blocks start-up and every reload -------


@pytest.mark.parametrize("case", sorted(COMPONENT_REFUSED))
def test_an_override_a_component_refuses_is_ignored_not_a_failed_snapshot(
    project_root: Path, case: str
) -> None:
    """auto.toml ``[auto_applied]`` holds a value of the base value's type that the paper book
    or a strategy refuses. The loader applies it (only key, type and finiteness are checked:
    config/overrides.py check_override), then ``check_trading_config`` on the effective config
    (snapshot.py _trading_config) raises: ``load_snapshot`` fails, so the daemon cannot start
    and no SIGHUP reload can succeed while the file stays. Safe: the entry is refused with a
    warning and the base value stays (§2.3: a bad override never makes the loader raise)."""
    _live(project_root)
    line, base_value = COMPONENT_REFUSED[case]
    _hand_edit(project_root, line)
    snapshot = load_snapshot(SnapshotSpec(root=project_root))  # raises ConfigError today
    key = _key(line)
    if base_value is not None:
        assert snapshot.config.get(key) == base_value
    assert any(w.key == key for w in snapshot.warnings)


async def test_config_check_and_the_daemon_agree_on_a_component_refused_override(
    project_root: Path,
) -> None:
    """``config check`` says every file is valid (it checks config.toml alone and the
    overrides' loader warnings), while the daemon on the same root refuses to start (exit 2),
    naming config.toml although the value is in auto.toml. The operator has no tool that
    points at the file to fix; the daemon must start (the entry ignored) or check must fail."""
    _live(project_root)
    _hand_edit(project_root, '"strategy.ma_crossover.fast_window" = 40')
    check_code, check_out, _ = await run_cli(project_root, "config", "check")
    proc = await asyncio.create_subprocess_exec(
        *cli_command("--root", str(project_root), "--once", "--dry-run"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    daemon_refused = proc.returncode == 2
    assert not (check_code == 0 and daemon_refused), (
        f"config check exit {check_code} ({check_out.strip().splitlines()[-1]!r}) but the "
        f"daemon refused to start: {err.decode().strip()}"
    )
    assert not daemon_refused, err.decode()


# -- finding 2: the same entry makes the killswitch reload fail ------------------------------


@pytest.mark.slow
async def test_a_component_refused_override_does_not_block_the_killswitch_reload(
    project_root: Path, notify: NotifySocket, tail: AlertTail
) -> None:
    """A running live daemon in bounded_auto. Someone appends
    ``"strategy.ma_crossover.fast_window" = 40`` to auto.toml; the operator then engages the
    killswitch (promotion.toml ``mode = "disabled"``) and sends SIGHUP. The reload builds the
    snapshot with ``check_trading_config`` on the effective config, which raises, so the whole
    reload is refused and the worker keeps the bounded_auto policy (SPEC §8.8 "the killswitch
    wins")."""
    _live(project_root)
    set_toml(project_root / POLICY, 'mode = "manual_only"', 'mode = "bounded_auto"')
    daemon = await DaemonProcess(project_root, "--poll-interval", "3600", notify=notify).start()
    try:
        await notify.expect("READY", 60)
        _hand_edit(project_root, '"strategy.ma_crossover.fast_window" = 40')
        set_toml(project_root / POLICY, 'mode = "bounded_auto"', 'mode = "disabled"')
        daemon.signal(SIGHUP)
        await notify.expect("RELOADING", 30)
        await notify.expect("READY", 30)
        # Whatever the reload said is in the alert log by now (it is written before READY).
        await asyncio.sleep(0.5)
        tail._read_available()
        failed = [a for a in tail.seen if a.message.startswith("configuration reload failed")]
        assert not failed, f"the killswitch reload was refused: {failed[0].context['error']}"
        daemon.signal(SIGTERM)
        assert await daemon.wait(30) == 0
    finally:
        await daemon.kill()


# -- finding 3: a planted learning snippet does the same through learn's offline file --------


async def test_a_planted_snippet_cannot_make_the_offline_config_unloadable(
    project_root: Path,
) -> None:
    """reports/learning_snippets/ is untrusted (§8.8). ``learn`` writes every snippet patch that
    is not blacklisted or firewalled to config/auto/learning.override.toml
    (learning/cycle.py run_learning_cycle); in a drill (or backtest) environment that file is
    merged, and ``check_trading_config`` then refuses the effective config: the daemon's next
    start or reload fails. Safe: learn skips it, or the loader ignores the entry."""
    set_toml(project_root / CONFIG, 'mode = "paper"', 'mode = "drill"')
    snippets = project_root / "reports" / "learning_snippets"
    snippets.mkdir(parents=True, exist_ok=True)
    (snippets / "planted.json").write_text(
        json.dumps({"patches": [{"target": "strategy.ma_crossover.fast_window", "value": 40}]})
    )
    code, out, err = await run_cli(project_root, "learn")
    assert code == 0, out + err
    snapshot = load_snapshot(SnapshotSpec(root=project_root))  # raises ConfigError today
    assert snapshot.config.get("strategy.ma_crossover.slow_window") == 30
    assert snapshot.config.get("strategy.ma_crossover.fast_window") < 30


def test_a_value_the_governed_gate_passes_cannot_block_the_next_reload(
    project_root: Path,
) -> None:
    """The one gate checks key, type, firewall, bounds and max_step, never what the paper book
    accepts. A policy whose bounds reach past a component's range (here macro.regime_weight up
    to 1.5, step 0.8: load_policy accepts it) lets the gate write 1.05, a governed, recorded
    change; every later start and reload then fails on ``check_trading_config``. Safe: the
    policy is refused, or the gate refuses the value, or the loader ignores it."""
    _live(project_root)
    policy_file = project_root / POLICY
    text = policy_file.read_text()
    old = '[bounds."macro.regime_weight"]\nmin = 0.0\nmax = 0.8\nmax_step = 0.1'
    assert old in text
    policy_file.write_text(
        text.replace(old, '[bounds."macro.regime_weight"]\nmin = 0.0\nmax = 1.5\nmax_step = 0.8')
    )
    policy = load_policy(policy_file)
    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    before = (project_root / AUTO).read_bytes()
    with pytest.raises(GateRefusal, match=r"macro\.regime_weight.*must be <= 1"):
        workspace.writer().transact(
            plan_restore({"macro.regime_weight": 1.05}, "alice", "approve"),
            kind=WriteKind.ADVANCE,
            gate=GateContext(workspace.base(), policy),
            actor="alice",
            mode="operator",
            proposal_id=None,
            now=T0,
        )
    assert (project_root / AUTO).read_bytes() == before
    load_snapshot(SnapshotSpec(root=project_root))


def test_a_bounded_value_a_component_refuses_is_a_sanity_rejection(project_root: Path) -> None:
    """The verdict pipeline refuses such a value up front (one patch, never its batch): with
    bounds reaching past the paper book's range, macro.regime_weight 1.05 is
    REJECTED_BY_SANITY_CHECK naming the component's reason, and a proposal never offers it."""
    policy_file = project_root / POLICY
    text = policy_file.read_text()
    old = '[bounds."macro.regime_weight"]\nmin = 0.0\nmax = 0.8\nmax_step = 0.1'
    policy_file.write_text(
        text.replace(old, '[bounds."macro.regime_weight"]\nmin = 0.0\nmax = 1.5\nmax_step = 0.8')
    )
    policy = load_policy(policy_file)
    base = PromotionWorkspace.from_settings(load_settings(project_root)).base()
    patches = [
        make_patch("macro.regime_weight", 1.05, confidence=0.95),
        make_patch("macro.regime_weight", 0.5, confidence=0.95, pid="fine"),
    ]
    candidates = build_promotion_candidates_from_patches(patches, policy)
    refused, fine = filter_candidates_for_live(candidates, policy, base, {})
    assert refused.verdict is Verdict.REJECTED_BY_SANITY_CHECK
    assert "refuses it" in refused.reasons[0] and "must be <= 1" in refused.reasons[0]
    assert fine.verdict is Verdict.ACCEPTED_FOR_PROPOSAL


# -- finding 5: a file planted where the proposals directory goes kills the worker task -----


async def test_a_file_planted_as_the_proposals_directory_does_not_kill_the_worker(
    project_root: Path,
) -> None:
    """Whoever can write reports/ replaces reports/live_promotion/ with a plain file.
    ``materialize_promotion_proposals`` (promotion/proposals.py mkdir) raises FileExistsError,
    an OSError, not a PeakTradeError: ``PromotionWorker._promote`` did not catch it, so it
    escaped ``PromotionWorker.run`` (the component task died and was restarted with backoff by
    the supervisor) and no alert named the problem. Safe: a refusal (critical alert naming the
    path), the batch not marked seen, the worker still running."""
    proposals = project_root / "reports" / "live_promotion"
    proposals.parent.mkdir(parents=True, exist_ok=True)
    proposals.write_text("planted\n")
    async with desk(project_root) as d:
        await d.publish(make_patch("portfolio.leverage", 1.5))
        refused = [m for _, m, _ in d.recorder.alerts if m.startswith("promotion refused")]
        assert refused and "live_promotion" in refused[0]
        assert d.seen() is None
        proposals.unlink()
        await d.reload()  # the worker task survived: the set goes through now
        assert d.proposals() == 1


# =============================================================================================
# Doors tried that turned out closed (these pass: kept so the record shows what was tried)
# =============================================================================================


@pytest.mark.parametrize(
    "line",
    [
        '"risk.stop_los" = 0.5',  # a typo key the closed table refuses in config.toml
        '"strategy.ma_crossover.extra" = 1',
        '"strategy.experimental.fast_window" = 3',
        '"portfolio.new_key" = 1.0',
    ],
)
def test_closed_an_override_cannot_add_a_key_to_a_closed_table(
    project_root: Path, line: str
) -> None:
    """Overrides never create keys (check_override: unknown key): the closed-table check never
    sees an override's unknown key, so such an entry cannot block start-up or reload."""
    _live(project_root)
    _hand_edit(project_root, line)
    snapshot = load_snapshot(SnapshotSpec(root=project_root))
    assert snapshot.config.get(_key(line)) is None
    assert any(w.key == _key(line) for w in snapshot.warnings)


def test_closed_a_nested_table_override_cannot_add_a_key_either(project_root: Path) -> None:
    _live(project_root)
    _hand_edit(project_root, "[auto_applied.strategy.breakout]\nstop_after = 3")
    snapshot = load_snapshot(SnapshotSpec(root=project_root))
    assert snapshot.config.get("strategy.breakout.stop_after") is None


def test_closed_offline_overrides_are_not_merged_in_live_or_paper(project_root: Path) -> None:
    """The offline file is merged in backtest/drill only: a planted config/auto file cannot
    block a live daemon."""
    _live(project_root)
    auto = project_root / "config" / "auto"
    auto.mkdir(exist_ok=True)
    (auto / "x.override.toml").write_text('[overrides]\n"portfolio.leverage" = 0.0\n')
    assert load_snapshot(SnapshotSpec(root=project_root)).config.get("portfolio.leverage") == 1.0


def test_closed_every_bounded_value_the_shipped_gate_can_write_passes_the_component_check(
    project_root: Path,
) -> None:
    """Through the governed writer, only bounded keys move, inside [min, max]: with the shipped
    policy no gate-passed value can fail the component check (leverage 1.0-2.0, trigger_delay
    3-15, regime_weight 0-0.8)."""
    policy = load_policy(project_root / POLICY)
    config = load_config(project_root / CONFIG)
    for key, bounds in policy.bounds.items():
        for value in (bounds.min_value, bounds.max_value):
            check_trading_config(config.with_updates({key: value}), project_root / CONFIG)


def test_closed_hard_firewall_leverage_in_auto_toml_is_not_a_failed_snapshot(
    project_root: Path,
) -> None:
    """Leverage above 3.0 is dropped by the live loader's firewall before the component check."""
    _live(project_root)
    _hand_edit(project_root, '"portfolio.leverage" = 50.0')
    snapshot = load_snapshot(SnapshotSpec(root=project_root))
    assert snapshot.config.get("portfolio.leverage") == 1.0
