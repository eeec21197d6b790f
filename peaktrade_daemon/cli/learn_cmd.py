"""``learn [--dry-run] [--in-dir DIR] [--out-file FILE] [--max-files N]`` (§7.3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from peaktrade_daemon.cli.promotion_support import alert_refusals, workspace_from_args
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_OK, UsageError
from peaktrade_daemon.learning.cycle import run_learning_cycle


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


def handle(args: argparse.Namespace) -> int:
    """Run one learning cycle and print its summary."""
    workspace, emitter = workspace_from_args(args)
    if args.max_files is not None and args.max_files < 0:
        raise UsageError("--max-files must be >= 0")
    if args.in_dir and not Path(args.in_dir).is_dir():
        # Reading "no snippets" from a mistyped directory would replace the learned overrides
        # with an empty file.
        raise UsageError(f"--in-dir {args.in_dir}: no such directory")
    with alert_refusals(emitter, "learning"):
        policy = workspace.policy()
    result = run_learning_cycle(
        snippets_dir=Path(args.in_dir) if args.in_dir else workspace.snippets_dir,
        out_file=Path(args.out_file) if args.out_file else workspace.offline_file,
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
