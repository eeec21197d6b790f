"""``learn [--dry-run] [--in-dir DIR] [--out-file FILE] [--max-files N]`` (§7.3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from peaktrade_daemon.cli.promotion_support import alert_refusals, workspace_from_args
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_OK, UsageError
from peaktrade_daemon.learning.cycle import run_learning_cycle
from peaktrade_daemon.promotion.workspace import PromotionWorkspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``learn``."""
    learn = subparsers.add_parser(
        "learn",
        parents=[common],
        help="turn learning snippets into offline overrides and publish the patches",
        description=(
            "Read reports/learning_snippets/*.json|*.jsonl (oldest first, last patch per key "
            "wins), write config/auto/learning.override.toml (blacklisted keys never), and "
            "publish the patches for `promote`."
        ),
    )
    learn.add_argument("--in-dir", metavar="DIR", help="snippet directory")
    learn.add_argument("--out-file", metavar="FILE", help="offline override file to write")
    learn.add_argument("--max-files", type=int, metavar="N", help="only the newest N snippet files")
    learn.set_defaults(handler=handle)


def check_out_file(out_file: Path, workspace: PromotionWorkspace) -> None:
    """Refuse an offline override file that would replace governed files: ``learn`` writes
    into the offline overrides directory or outside the root's config/, state/ and promotion
    records, never auto.toml (only the promotion writer does, §8.8), the policy or the base
    config. Checked on the resolved path, so a symlink does not lead there either."""
    target = out_file.expanduser().resolve()
    if target.is_relative_to(workspace.offline_file.parent.resolve()):
        return
    protected = (
        workspace.config_file.parent,
        workspace.overrides_file.parent,
        workspace.audit_file.parent,
        workspace.proposals_dir,
        *((workspace.audit_anchor.parent,) if workspace.audit_anchor else ()),
    )
    for place in protected:
        if target.is_relative_to(place.resolve()):
            raise UsageError(
                f"--out-file {out_file}: learn never writes under {place} (the live overrides, "
                f"the policy, the base config and the promotion records); write into "
                f"{workspace.offline_file.parent} or outside the root"
            )


def handle(args: argparse.Namespace) -> int:
    """Run one learning cycle and print its summary."""
    workspace, emitter = workspace_from_args(args)
    if args.max_files is not None and args.max_files < 0:
        raise UsageError("--max-files must be >= 0")
    if args.in_dir and not Path(args.in_dir).is_dir():
        # Reading "no snippets" from a mistyped directory would replace the learned overrides
        # with an empty file.
        raise UsageError(f"--in-dir {args.in_dir}: no such directory")
    out_file = Path(args.out_file) if args.out_file else workspace.offline_file
    check_out_file(out_file, workspace)
    with alert_refusals(emitter, "learning"):
        policy = workspace.policy()
    result = run_learning_cycle(
        snippets_dir=Path(args.in_dir) if args.in_dir else workspace.snippets_dir,
        out_file=out_file,
        published_file=workspace.published_file,
        policy=policy,
        now=SystemClock().now(),
        max_files=args.max_files,
        dry_run=bool(args.dry_run),
    )
    for warning in result.warnings:
        print(f"warning: {warning}")
    for target, reason in result.skipped:
        print(f"skipped {target}: {reason}")
    for patch in result.written:
        print(
            f"{'would write' if result.dry_run else 'wrote'} {patch.target} = {patch.new_value!r}"
        )
    print(
        f"files seen {result.files_seen}, used {result.files_used}; patches parsed "
        f"{result.patches_parsed}, written {len(result.written)}"
        + (" (dry run: nothing written)" if result.dry_run else f" to {result.out_file}")
    )
    return EXIT_OK
