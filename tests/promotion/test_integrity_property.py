"""The §8.8 property: files on disk are untrusted, and no sequence of operator and automatic
commands ever leaves a value in the live overrides that the gate refuses.

For random policies, base configs and *arbitrary* auto.toml, backup and proposal-file contents
(an attacker's hand between the commands), every command runs as an operator runs it (the real
CLI in-process: approve, rollback, restore from backup, clear, adopt, unfreeze) or as the daemon
does (the promotion pipeline in bounded_auto, the rollback guard's revert). After each one:

* a command that refused (any error) left auto.toml's bytes as they were;
* a command that changed auto.toml left a table the gate passes (under the current policy and
  base: every key known, same kind, not blacklisted, not firewalled, bounded and in bounds) and
  a file that matches the audit trail (``verify-audit`` content check);
* whatever the file says, the live loader never applies a value behind the hard firewall.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import tempfile
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.cli.app import main
from peaktrade_daemon.cli.promotion_support import mirror_to_database
from peaktrade_daemon.config.loader import load_config, load_config_with_live_overrides
from peaktrade_daemon.errors import PeakTradeError
from peaktrade_daemon.governance.firewall import firewall_reasons
from peaktrade_daemon.governance.gate import check_table
from peaktrade_daemon.governance.live_state import live_values
from peaktrade_daemon.governance.plans import WriteKind, plan_guard_revert
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.file_check import check_document
from peaktrade_daemon.promotion.proposals import PATCHES_FILE
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext
from peaktrade_daemon.settings import load_settings
from tests.conftest import PROJECT_ROOT
from tests.promotion.conftest import make_patch

TUNED = ("portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight")
OTHER = ("risk.stop_loss", "risk.max_exposure", "portfolio.fee_bps", "environment.mode")
NUMBERS = st.one_of(
    st.floats(min_value=-5, max_value=60, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, 1.25, 1.5, 2.0, 2.95, 3.0, 3.5, 50.0, 1e300]),
)
ANY_VALUE = st.one_of(
    NUMBERS,
    st.sampled_from([10**30, 2**63, -(2**63) - 1, float("inf"), float("nan")]),
    st.booleans(),
    st.text(max_size=4),
    st.integers(-5, 60),
)
KEYS = st.sampled_from([*TUNED, *OTHER, "nope.key", "exchange.api_key"])


def _toml_value(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)  # may be beyond TOML's range: then the file does not parse
    return json.dumps(value)


def _overrides_text(values: dict[str, Any], *, table: bool) -> str:
    body = "".join(f'"{k}" = {_toml_value(v)}\n' for k, v in values.items())
    return ("[auto_applied]\n" if table else "") + body


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    bounded = [k for k in TUNED if draw(st.integers(0, 5))]
    bounds = {}
    for key in bounded:
        low = draw(st.one_of(st.just(0.0), st.floats(min_value=0, max_value=2)))
        bounds[key] = {
            "min": low,
            "max": low + draw(st.one_of(st.just(15.0), st.floats(min_value=0, max_value=15))),
            "max_step": draw(st.floats(min_value=0.05, max_value=3)),
        }
    if draw(st.integers(0, 3)) == 0:  # a policy that bounds a blacklisted key: still refused
        bounds["risk.stop_loss"] = {"min": 0.0, "max": 1.0, "max_step": 1.0}
    return {
        "mode": draw(st.sampled_from(["bounded_auto"] * 4 + ["manual_only", "disabled"])),
        "auto_apply_whitelist": [k for k in bounded if draw(st.integers(0, 4))],
        "blacklist": ["risk.stop_loss", "risk.max_leverage"],
        "blacklist_tags": ["experimental"],
        "min_confidence": 0.5,
        "min_confidence_for_auto_apply": 0.6,
        "max_auto_applies_per_day": draw(st.sampled_from([0, 3, 100])),
        "cooldown_minutes": draw(st.sampled_from([0.0, 0.0, 30.0])),
        "global_promotion_lock": False,
        "bounds": bounds,
        "rollback": {
            "enabled": True,
            "bake_window_minutes": 60,
            "max_drawdown_increase": 0.02,
            "max_sharpe_drop": 0.5,
        },
        # Evidence only ever holds a write back; the property is about what can get through.
        "evidence": {
            "enabled": False,
            "lookback_bars": 500,
            "min_periods": 100,
            "min_trades": 5,
            "tolerance": 0.00001,
            "max_drawdown_increase": 0.025,
        },
    }


def _base_text(leverage: float, delay: float, weight: float) -> str:
    return (
        '[environment]\nmode = "live"\n\n'
        f"[portfolio]\nleverage = {leverage!r}\nfee_bps = 5.0\n\n"
        f"[strategy]\ntrigger_delay = {delay!r}\n\n"
        f"[macro]\nregime_weight = {weight!r}\n\n"
        "[risk]\nstop_loss = 0.02\nmax_exposure = 1.5\nmax_leverage = 2.0\n\n"
        '[exchange]\napi_key = ""\n'
    )


ATTACKS = st.one_of(
    st.tuples(st.just("hand_edit"), st.dictionaries(KEYS, ANY_VALUE, max_size=3), st.booleans()),
    st.tuples(st.just("forge_backup"), st.dictionaries(KEYS, ANY_VALUE, max_size=3)),
    st.tuples(st.just("forge_proposal"), KEYS, ANY_VALUE),
)
PROMOTE = st.tuples(
    st.just("promote"),
    st.sampled_from(["bounded_auto", "bounded_auto", "manual_only"]),
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(TUNED), st.sampled_from(TUNED), KEYS),
            st.one_of(
                st.floats(min_value=0, max_value=16), st.floats(min_value=0, max_value=3), ANY_VALUE
            ),
        ),
        min_size=1,
        max_size=3,
    ),
)
COMMANDS = st.one_of(
    PROMOTE,
    PROMOTE,
    st.tuples(st.just("approve")),
    st.tuples(st.just("rollback"), st.integers(1, 3)),
    st.tuples(st.just("restore_backup")),
    st.tuples(st.just("clear")),
    st.tuples(st.just("adopt")),
    st.tuples(st.just("unfreeze"), st.sampled_from(TUNED)),
    st.tuples(st.just("guard_revert")),
)


class Desk:
    """One root: the files, the clock, and each command as it really runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.workspace = PromotionWorkspace.from_settings(load_settings(root))
        self.now = datetime(2026, 3, 2, 9, tzinfo=UTC)

    def cli(self, *argv: str) -> int:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return main(["--root", str(self.root), *argv])

    def latest_proposal(self) -> Path | None:
        directory = self.workspace.proposals_dir
        found = sorted(directory.iterdir()) if directory.is_dir() else []
        return found[-1] if found else None

    def run(self, command: tuple[Any, ...]) -> None:
        self.now += timedelta(minutes=45)
        name = command[0]
        if name == "promote":
            patches = []
            for key, value in command[2]:
                with contextlib.suppress(ValueError):  # not even a patch: never reaches here
                    patches.append(make_patch(key, value, confidence=0.9))
            try:
                policy = self.workspace.policy()
                run = run_promotion(
                    patches,
                    policy=policy,
                    mode=AutoApplyMode(command[1]),
                    base=self.workspace.base(),
                    writer=self.workspace.writer(),
                    audit=self.workspace.audit(),
                    proposals_dir=self.workspace.proposals_dir,
                    now=self.now,
                    actor="worker",
                )
                # As the worker does: every proposal it writes is recorded (its seal with it).
                asyncio.run(mirror_to_database(self.workspace, run.proposals))
            except PeakTradeError as exc:
                event(f"promote refused: {type(exc).__name__}")
        elif name == "approve":
            latest = self.latest_proposal()
            if latest is not None:
                self.cli("proposals", "approve", latest.name, "--by", "alice")
        elif name == "rollback":
            self.cli("overrides", "rollback", "--steps", str(command[1]), "--by", "alice")
        elif name == "restore_backup":
            self.cli("overrides", "rollback", "--to-backup", "--by", "alice")
        elif name == "clear":
            self.cli("overrides", "clear", "--by", "alice")
        elif name == "adopt":
            self.cli("overrides", "adopt", "--by", "alice")
        elif name == "unfreeze":
            self.cli("overrides", "unfreeze", command[1], "--by", "alice")
        elif name == "guard_revert":
            self.guard_revert()

    def guard_revert(self) -> None:
        audit = self.workspace.audit()
        try:
            records = audit.records()
            change = next(
                r
                for r in reversed(records)
                if r.get("event") == "change" and r.get("actor") == "auto"
            )
            self.workspace.writer().transact(
                plan_guard_revert(change, ["degraded"]),
                kind=WriteKind.RETREAT,
                gate=GateContext(self.workspace.base(), self.workspace.policy()),
                actor="rollback-guard",
                mode="bounded_auto",
                proposal_id=change.get("proposal_id"),
                now=self.now,
            )
        except (StopIteration, PeakTradeError):
            pass

    def attack(self, attack: tuple[Any, ...]) -> None:
        name = attack[0]
        auto = self.workspace.overrides_file
        if name == "hand_edit":
            auto.write_text(_overrides_text(attack[1], table=attack[2]))
        elif name == "forge_backup":
            auto.with_name("auto.toml.backup").write_text(_overrides_text(attack[1], table=True))
        elif name == "forge_proposal":
            latest = self.latest_proposal()
            if latest is None:
                return
            path = latest / PATCHES_FILE
            data = json.loads(path.read_text())
            for candidate in data["candidates"]:
                candidate["verdict"] = "ACCEPTED_FOR_PROPOSAL"
                candidate["target"] = candidate["patch"]["target"] = attack[1]
                candidate["patch"]["new_value"] = attack[2]
            path.write_text(json.dumps(data, allow_nan=True))


def _assert_sound(desk: Desk, before: bytes, governed: bool) -> None:
    auto = desk.workspace.overrides_file
    after = auto.read_bytes()
    base = load_config(desk.workspace.config_file).to_dict()
    try:
        document = tomllib.loads(after.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):  # the loader ignores such a file whole
        assert not governed or after == before, "a command wrote a file that does not parse"
        return
    values = live_values(document)
    if governed and after != before:
        policy = AutoApplyPolicy.model_validate(
            tomllib.loads(desk.workspace.policy_file.read_text())
        )
        verdict = check_table(values, values, base=base, policy=policy, step_rule=False)
        assert verdict.ok, f"a command left values the gate refuses: {verdict.summary()}"
        records = desk.workspace.audit().records()
        assert check_document(after, None if not records else _last(records), records).status in (
            "match",
        ), "the file and the audit trail disagree after a governed write"
    effective = load_config_with_live_overrides(
        desk.workspace.config_file, auto_overrides_path=auto
    )
    for key in values:
        value = effective.get(key)
        if value is not None:
            assert not firewall_reasons(key, value) or value == _lookup(base, key), (
                f"the live loader applied {key} = {value!r} behind the firewall"
            )


def _last(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in reversed(records) if "file_sha256_after" in r), None)


def _lookup(base: dict[str, Any], key: str) -> Any:
    node: Any = base
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


@pytest.mark.timeout(600)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    policy=policies(),
    base=st.tuples(
        st.sampled_from([1.0, 1.5, 2.5]),
        st.sampled_from([10.0, 3.0]),
        st.sampled_from([0.25, 0.9]),
    ),
    start=st.one_of(st.none(), st.none(), st.none(), st.dictionaries(KEYS, ANY_VALUE, max_size=3)),
    steps=st.lists(st.one_of(COMMANDS, COMMANDS, COMMANDS, ATTACKS), min_size=2, max_size=10),
)
def test_no_sequence_of_commands_leaves_a_value_the_gate_refuses(
    policy: dict[str, Any],
    base: tuple[float, float, float],
    start: dict[str, Any] | None,
    steps: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(PROJECT_ROOT / "config", root / "config")
        (root / "config" / "config.toml").write_text(_base_text(*base))
        (root / "config" / "promotion.toml").write_text(tomlkit.dumps(policy))
        auto = root / "config" / "live_overrides" / "auto.toml"
        auto.write_text("[auto_applied]\n" if start is None else _overrides_text(start, table=True))
        desk = Desk(root)
        for step in steps:
            before = auto.read_bytes()
            if step[0] in ("hand_edit", "forge_backup", "forge_proposal"):
                desk.attack(step)
                _assert_sound(desk, before, governed=False)
            else:
                desk.run(step)
                _assert_sound(desk, before, governed=True)
                event(f"{step[0]}: {'wrote' if auto.read_bytes() != before else 'no change'}")
