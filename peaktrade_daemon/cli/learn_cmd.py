"""``learn [--dry-run] [--in-dir DIR] [--out-file FILE] [--max-files N]`` (§7.3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.cli.promotion_support import alert_refusals, workspace_from_args
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_OK, UsageError
from peaktrade_daemon.learning.cycle import run_learning_cycle
from peaktrade_daemon.settings import DaemonSettings


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


def check_out_file(out_file: Path, settings: DaemonSettings) -> None:
    """Refuse an offline override file that would replace a governed file: never auto.toml (only
    the promotion writer writes it, §8.8) or anything beside it, the base config, the policy,
    the jobs or the daemon's settings, state/ or the promotion records; inside the root's
    config/ only into the offline overrides directory. The protected places are checked first,
    so an offline directory set over one of them opens nothing; and on the resolved path, so
    a symlink does not lead there either."""
    target = out_file.expanduser().resolve()
    paths = settings.paths
    places = (
        settings.path(paths.live_overrides_file).parent,
        settings.path(paths.state_dir),
        settings.path(paths.audit_log).parent,
        settings.path(paths.reports_dir) / "live_promotion",
    )
    files = (
        settings.path(paths.config_file),
        settings.path(paths.promotion_policy_file),
        settings.path(paths.jobs_file),
        settings.root / "config" / "daemon.toml",
    )
    protected = [p for p in places if target.is_relative_to(p.resolve())]
    protected += [f for f in files if target == f.resolve()]
    offline = settings.path(paths.offline_overrides_dir)
    if not protected and not target.is_relative_to(offline.resolve()):
        config_dir = settings.root / "config"
        protected += [config_dir] if target.is_relative_to(config_dir.resolve()) else []
    if protected:
        raise UsageError(
            f"--out-file {out_file}: learn never writes {protected[0]} (the live overrides, the "
            f"policy, the base config, state/ and the promotion records are governed); write "
            f"into {offline} or outside the root"
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
    check_out_file(out_file, settings_from_args(args))
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
