"""``overrides show|diff|rollback|clear|adopt|unfreeze|verify-audit`` (§2.5, §8.6, §8.8).

Every command that changes auto.toml goes through the promotion writer (lock, the governance
gate over the complete result, backup, atomic replace, verify, audit record attributed to the
operator). ``clear`` and ``rollback`` are the emergency paths: they work past a damaged audit
trail tail (moved aside, with a critical alert), and ``clear`` also past a hand edit and an
invalid policy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tomllib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import tomlkit

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.alerts.oneshot import OneShotAlerts
from peaktrade_daemon.cli.context import config_file, settings_from_args
from peaktrade_daemon.cli.promotion_support import (
    alert_refusals,
    mirror_to_database,
    operator_name,
    workspace_from_args,
)
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.config.loader import load_config, load_config_with_live_overrides
from peaktrade_daemon.config.overrides import is_live_like
from peaktrade_daemon.config.provenance import render_diff
from peaktrade_daemon.errors import (
    EXIT_FAILED,
    EXIT_OK,
    AuditError,
    ConfigError,
    PolicyError,
    SafetyRefusal,
    UnparseableFileError,
    UsageError,
)
from peaktrade_daemon.governance.live_state import live_values
from peaktrade_daemon.governance.plans import (
    Planner,
    WriteKind,
    plan_adopt,
    plan_restore,
    plan_rollback,
    plan_unfreeze,
)
from peaktrade_daemon.promotion.file_check import recorded_table
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext
from peaktrade_daemon.trading_config import check_trading_config, live_table_refusal


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add the ``overrides`` command family."""
    overrides = subparsers.add_parser(
        "overrides",
        help="inspect the live overrides file (config/live_overrides/auto.toml)",
        description="Inspect, diff, roll back or clear the live overrides written by promotion.",
    )
    actions = overrides.add_subparsers(title="actions", metavar="ACTION", required=True)
    diff = actions.add_parser(
        "diff",
        parents=[common],
        help="base vs live-override value for every overridden key",
        description=(
            "Print `key: base -> override` for every key the live overrides change, whether or "
            "not the current environment applies them (it says which)."
        ),
    )
    diff.set_defaults(handler=diff_overrides)

    show = actions.add_parser(
        "show", parents=[common], help="live override values, frozen keys, last change per key"
    )
    show.set_defaults(handler=show_overrides)

    rollback = actions.add_parser(
        "rollback",
        parents=[common],
        help="undo the last N recorded changes (default 1), or restore auto.toml.backup",
    )
    how = rollback.add_mutually_exclusive_group()
    how.add_argument("--steps", type=int, default=None, metavar="N", help="changes to undo")
    how.add_argument(
        "--to-backup",
        action="store_true",
        help="restore auto.toml.backup (only a backup whose hash the audit trail recorded)",
    )
    rollback.add_argument("--by", metavar="NAME", help="operator name (default: login name)")
    rollback.set_defaults(handler=rollback_overrides)

    clear = actions.add_parser(
        "clear",
        parents=[common],
        help="leave an empty [auto_applied] (works past a hand edit and a damaged trail tail)",
    )
    clear.add_argument("--by", metavar="NAME", help="operator name (default: login name)")
    clear.set_defaults(handler=clear_overrides)

    adopt = actions.add_parser(
        "adopt",
        parents=[common],
        help="record a hand-edited auto.toml as it is; keys the gate refuses are dropped",
        description=(
            "After auto.toml was edited by hand, every governed write is refused until an "
            "operator adopts the file (its values are recorded in the audit trail; keys the "
            "governance gate refuses are removed and named) or clears it."
        ),
    )
    adopt.add_argument("--by", metavar="NAME", help="operator name (default: login name)")
    adopt.set_defaults(handler=adopt_overrides)

    unfreeze = actions.add_parser(
        "unfreeze", parents=[common], help="clear the rollback guard's freeze of a key"
    )
    unfreeze.add_argument("key", metavar="KEY")
    unfreeze.add_argument("--by", metavar="NAME", help="operator name (default: login name)")
    unfreeze.set_defaults(handler=unfreeze_key)

    verify = actions.add_parser(
        "verify-audit",
        parents=[common],
        help="check the audit trail's hash chain and that auto.toml matches it (exit 1 if not)",
    )
    verify.set_defaults(handler=verify_audit)


def diff_overrides(args: argparse.Namespace) -> int:
    """Print base vs effective for every key auto.toml overrides."""
    settings = settings_from_args(args)
    base_file = config_file(settings)
    auto_file = settings.path(settings.paths.live_overrides_file)
    base = load_config(base_file)
    forced = load_config_with_live_overrides(
        base_file,
        auto_overrides_path=auto_file,
        force_apply_overrides=True,
        accept=lambda config: check_trading_config(config, base_file),
    )
    applies = is_live_like(base.to_dict())
    mode = base.get("environment.mode", "?")
    print(f"# {auto_file}")
    print(
        f"# environment.mode = {mode!r}: live overrides are "
        f"{'APPLIED' if applies else 'NOT applied (not live-like)'}"
    )
    rows = render_diff(base, forced)
    for row in rows:
        print(row)
    for warning in forced.warnings:
        print(f"# warning: {warning}")
    if not rows:
        print("# no overrides")
    return EXIT_OK


def _shown(value: Any) -> str:
    """A value as ``show`` prints it: JSON, or TOML's own spelling for what JSON has no type
    for (a hand-edited date or time must be shown, not crash the command that shows it)."""
    try:
        return json.dumps(value)
    except TypeError:
        return str(tomlkit.item(value).as_string())


def show_overrides(args: argparse.Namespace) -> int:
    """The values auto.toml sets, frozen keys, and the last change of each key."""
    workspace, _ = workspace_from_args(args)
    state = workspace.writer().read()
    print(f"# {workspace.overrides_file}")
    for key, value in state.values.items():
        last = state.last_change.get(key)
        print(f"{key} = {_shown(value)}" + (f"    # changed {last.isoformat()}" if last else ""))
    if not state.values:
        print("# no overrides")
    for key, reason in state.frozen.items():
        print(f"# FROZEN {key}: {reason}")
    print(f"# auto-applies in the governance window: {len(state.auto_applies)}")
    return EXIT_OK


def _gate(workspace: PromotionWorkspace, *, need_policy: bool) -> GateContext:
    """The gate's context. ``clear`` works without a valid policy or base config (its result is
    empty, which needs neither); every other change needs both (fail closed)."""
    if need_policy:
        return GateContext(workspace.base(), workspace.policy())
    try:
        return GateContext(workspace.base(), workspace.policy())
    except (PolicyError, ConfigError) as exc:
        print(f"warning: {exc}; clearing anyway (an empty table needs no policy)")
        return GateContext({}, None)


def _repair_tail(workspace: PromotionWorkspace, emitter: OneShotAlerts, now: datetime) -> None:
    """The emergency paths work past a damaged trail tail: move it aside, loudly."""
    audit = workspace.audit()
    damage = audit.damaged_tail()
    if damage is None:
        return
    aside = audit.repair_tail(now)
    message = f"audit trail: {damage.reason}; moved aside to {aside}"
    print(f"warning: {message}")
    emitter.emit_sync(AlertLevel.CRITICAL, "overrides", message, {"file": str(aside)})


async def _write(
    args: argparse.Namespace,
    planner_for: Callable[[PromotionWorkspace, str], Planner],
    *,
    kind: WriteKind,
    action: str,
    done: str,
) -> int:
    """Run one operator change through the writer (and its gate), print it, mirror the audit
    into the DB. ``action`` is the verb (``clear``), ``done`` its past tense (``cleared``)."""
    workspace, emitter = workspace_from_args(args)
    operator = operator_name(getattr(args, "by", None))
    writer = workspace.writer()
    now = SystemClock().now()
    with alert_refusals(emitter, "overrides"):
        if kind in (WriteKind.RETREAT, WriteKind.CLEAR, WriteKind.ADOPT) and not args.dry_run:
            _repair_tail(workspace, emitter, now)
        planner = planner_for(workspace, operator)
        gate = _gate(workspace, need_policy=kind is not WriteKind.CLEAR)
        if args.dry_run:
            outcome = planner(writer.read()).outcome
            written = False
            for line in _outcome_lines(outcome, "would " + action):
                print(line)
        else:
            result = writer.transact(
                planner,
                kind=kind,
                gate=gate,
                actor=operator,
                mode="operator",
                proposal_id=None,
                now=now,
            )
            outcome, written = result.outcome, result.written
            for line in _outcome_lines(outcome, done if written else "skipped"):
                print(line)
    if not written and not args.dry_run:
        print(f"nothing to {action}")
    if written:
        await mirror_to_database(workspace)
    return EXIT_OK


def _outcome_lines(outcome: Any, verb: str) -> list[str]:
    if isinstance(outcome, tuple):  # adopt: (kept, dropped)
        kept, dropped = outcome
        return [f"kept {key} = {value!r}" for key, value in kept.items()] + [
            f"dropped {r.key} = {r.value!r}: {'; '.join(r.reasons)}" for r in dropped
        ]
    lines = []
    for item in outcome or []:
        if item.applied:
            lines.append(f"{verb} {item.key}: {item.before!r} -> {item.after!r}")
        else:
            lines.append(f"skipped {item.key}: {item.reason}")
    return lines


def _chain_records(workspace: PromotionWorkspace) -> list[dict[str, Any]]:
    """The trail's records once its chain and head verify (file agreement is the writer's own
    check, under the lock); AuditError otherwise."""
    audit = workspace.audit()
    report = audit.verify(include_aside=False)
    if not report.ok:
        raise AuditError(f"{audit.path}: does not verify ({report.problems[0]}); nothing changed")
    records: list[dict[str, Any]] = audit.records()
    return records


def _backup_values(workspace: PromotionWorkspace) -> dict[str, Any]:
    """auto.toml.backup's values, when it is genuine: its hash must be the one the audit trail
    recorded for auto.toml before the last write (§8.8 "Backups are evidence")."""
    backup = workspace.overrides_file.with_name(workspace.overrides_file.name + ".backup")
    try:
        raw = backup.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{backup}: no backup to restore") from exc
    _chain_records(workspace)
    last = workspace.audit().last_write()
    found = hashlib.sha256(raw).hexdigest()
    if last is None:
        raise SafetyRefusal(
            f"{backup}: the audit trail records no write it could be the backup of; nothing restored"
        )
    expected = last.file_sha256_before
    if found != expected:
        raise SafetyRefusal(
            f"{backup}: sha256 {found[:12]} is not the state before the last recorded write "
            f"({expected[:12]}): not written by the promotion writer; nothing restored"
        )
    if last.resolved_hand_edit:
        raise SafetyRefusal(
            f"{backup}: the hand-edited file the last write (adopt or clear) resolved: evidence "
            "of the edit, not a state the governance passed; nothing restored (`overrides "
            "rollback --steps N` undoes recorded changes)"
        )
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, UnicodeDecodeError, ...
        raise UnparseableFileError(f"{backup}: does not parse ({exc}); nothing restored") from exc
    return live_values(document)


async def rollback_overrides(args: argparse.Namespace) -> int:
    """``--steps N`` undoes the last N changes exactly; ``--to-backup`` restores the backup."""
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be >= 1")

    def planner_for(workspace: PromotionWorkspace, operator: str) -> Planner:
        if args.to_backup:
            return plan_restore(_backup_values(workspace), operator, "restore auto.toml.backup")
        return plan_rollback(_chain_records(workspace), args.steps or 1, operator)

    return await _write(
        args, planner_for, kind=WriteKind.RETREAT, action="roll back", done="rolled back"
    )


async def clear_overrides(args: argparse.Namespace) -> int:
    """Remove every live override (recorded per key); frozen keys stay frozen. Works past a
    hand edit, a damaged trail tail and an invalid policy: the killswitch can always be pulled."""
    return await _write(
        args,
        lambda ws, op: plan_restore({}, op, "clear"),
        kind=WriteKind.CLEAR,
        action="clear",
        done="cleared",
    )


async def adopt_overrides(args: argparse.Namespace) -> int:
    """Record a hand-edited auto.toml as it is, dropping (by name) what the gate refuses."""

    def planner_for(workspace: PromotionWorkspace, operator: str) -> Planner:
        records = _chain_records(workspace)
        base = workspace.base()
        return plan_adopt(
            base, workspace.policy(), operator, recorded_table(records), live_table_refusal(base)
        )

    return await _write(args, planner_for, kind=WriteKind.ADOPT, action="adopt", done="adopted")


async def unfreeze_key(args: argparse.Namespace) -> int:
    """Let auto-apply touch a key the rollback guard froze."""
    workspace, emitter = workspace_from_args(args)
    operator = operator_name(args.by)
    with alert_refusals(emitter, "overrides"):
        result = (
            workspace.writer().transact(
                plan_unfreeze(args.key),
                kind=WriteKind.BOOKKEEPING,
                gate=_gate(workspace, need_policy=True),
                actor=operator,
                mode="operator",
                proposal_id=None,
                now=SystemClock().now(),
            )
            if not args.dry_run
            else None
        )
    print(
        f"{args.key}: "
        + ("unfrozen" if result and result.written else "not frozen (nothing written)")
    )
    if result is not None and result.written:
        await mirror_to_database(workspace)
    return EXIT_OK


def verify_audit(args: argparse.Namespace) -> int:
    """Exit 0 when the chain, head and auto.toml agree; 1 (with each problem) otherwise."""
    workspace, _ = workspace_from_args(args)
    report = workspace.audit().verify(workspace.overrides_file)
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    print(
        f"{report.records} record(s): "
        + ("audit trail verifies" if report.ok else "TAMPERED OR INCONSISTENT")
    )
    return EXIT_OK if report.ok else EXIT_FAILED
