"""``overrides show|diff|rollback|clear|unfreeze|verify-audit`` (§2.5, §8.6).

Every command that changes auto.toml goes through the promotion writer (lock, backup, atomic
replace, verify, audit record attributed to the operator).
"""

from __future__ import annotations

import argparse
import json
import tomllib
from collections.abc import Coroutine
from typing import Any

from peaktrade_daemon.cli.context import config_file, settings_from_args
from peaktrade_daemon.cli.promotion_support import (
    alert_refusals,
    mirror_to_database,
    operator_name,
    workspace_from_args,
)
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.config.loader import load_config, load_config_with_live_overrides
from peaktrade_daemon.config.overrides import flatten, is_live_like, override_table
from peaktrade_daemon.config.provenance import render_diff
from peaktrade_daemon.errors import (
    EXIT_FAILED,
    EXIT_OK,
    AuditError,
    UnparseableFileError,
    UsageError,
)
from peaktrade_daemon.promotion.changes import Planner, plan_restore, plan_rollback, plan_unfreeze
from peaktrade_daemon.promotion.writer import LIVE_TABLE


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
    how.add_argument("--to-backup", action="store_true", help="restore auto.toml.backup's values")
    rollback.add_argument("--by", metavar="NAME", help="operator name (default: login name)")
    rollback.set_defaults(handler=rollback_overrides)

    clear = actions.add_parser("clear", parents=[common], help="leave an empty [auto_applied]")
    clear.add_argument("--by", metavar="NAME", help="operator name (default: login name)")
    clear.set_defaults(handler=clear_overrides)

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
        base_file, auto_overrides_path=auto_file, force_apply_overrides=True
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


def show_overrides(args: argparse.Namespace) -> int:
    """The values auto.toml sets, frozen keys, and the last change of each key."""
    workspace, _ = workspace_from_args(args)
    state = workspace.writer().read()
    print(f"# {workspace.overrides_file}")
    for key, value in state.values.items():
        last = state.last_change.get(key)
        print(
            f"{key} = {json.dumps(value)}" + (f"    # changed {last.isoformat()}" if last else "")
        )
    if not state.values:
        print("# no overrides")
    for key, reason in state.frozen.items():
        print(f"# FROZEN {key}: {reason}")
    print(f"# auto-applies in the governance window: {len(state.auto_applies)}")
    return EXIT_OK


def _write(
    args: argparse.Namespace, planner_for: Any, action: str, done: str
) -> Coroutine[Any, Any, int]:
    """Run one operator change through the writer, print it, mirror the audit into the DB.

    ``action`` is the verb (``clear``), ``done`` its past tense (``cleared``) for the report.
    """
    workspace, emitter = workspace_from_args(args)
    operator = operator_name(getattr(args, "by", None))
    writer = workspace.writer()
    with alert_refusals(emitter, "overrides"):
        planner: Planner = planner_for(workspace, operator)
        if args.dry_run:
            plan = planner(writer.read())
            for outcome in plan.outcome or []:
                print(f"would {action} {outcome.key}: {outcome.before!r} -> {outcome.after!r}")
            result_outcome = plan.outcome
            written = False
        else:
            result = writer.transact(
                planner, actor=operator, mode="operator", proposal_id=None, now=SystemClock().now()
            )
            result_outcome, written = result.outcome, result.written
    for outcome in result_outcome or []:
        if outcome.applied and written:
            print(f"{done} {outcome.key}: {outcome.before!r} -> {outcome.after!r}")
        elif not outcome.applied:
            print(f"skipped {outcome.key}: {outcome.reason}")
    if not written and not args.dry_run:
        print(f"nothing to {action}")

    async def record() -> int:
        if written:
            await mirror_to_database(workspace)
        return EXIT_OK

    return record()


def _verified_records(workspace: Any) -> list[dict[str, Any]]:
    audit = workspace.audit()
    report = audit.verify(workspace.overrides_file)
    if not report.ok:
        raise AuditError(
            f"{audit.path}: does not verify ({report.problems[0]}); nothing rolled back"
        )
    records: list[dict[str, Any]] = audit.records()
    return records


def _backup_values(workspace: Any) -> dict[str, Any]:
    backup = workspace.overrides_file.with_name(workspace.overrides_file.name + ".backup")
    try:
        document = tomllib.loads(backup.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"{backup}: no backup to restore") from exc
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, UnicodeDecodeError, ...
        raise UnparseableFileError(f"{backup}: does not parse ({exc}); nothing restored") from exc
    return dict(flatten(override_table(document, LIVE_TABLE)))


def rollback_overrides(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """``--steps N`` undoes the last N changes exactly; ``--to-backup`` restores the backup."""
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be >= 1")

    def planner_for(workspace: Any, operator: str) -> Planner:
        if args.to_backup:
            values = _backup_values(workspace)
            return lambda state: plan_restore(values, operator, "restore auto.toml.backup")(state)
        records = _verified_records(workspace)
        return plan_rollback(records, args.steps or 1, operator)

    return _write(args, planner_for, "roll back", "rolled back")


def clear_overrides(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Remove every live override (recorded per key); frozen keys stay frozen."""
    return _write(args, lambda ws, op: plan_restore({}, op, "clear"), "clear", "cleared")


def unfreeze_key(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Let auto-apply touch a key the rollback guard froze."""
    workspace, emitter = workspace_from_args(args)
    operator = operator_name(args.by)
    with alert_refusals(emitter, "overrides"):
        result = (
            workspace.writer().transact(
                plan_unfreeze(args.key),
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

    async def record() -> int:
        if result is not None and result.written:
            await mirror_to_database(workspace)
        return EXIT_OK

    return record()


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
