"""``promote [--auto-apply-mode MODE] [--dry-run] [--input FILE]`` (§8.2)."""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from peaktrade_daemon.cli.promotion_support import (
    alert_refusals,
    mirror_to_database,
    workspace_from_args,
)
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_OK, UsageError
from peaktrade_daemon.learning.snippets import read_snippet_file
from peaktrade_daemon.promotion.engine import PromotionRun, run_promotion
from peaktrade_daemon.promotion.models import AutoApplyMode


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``promote``."""
    promote = subparsers.add_parser(
        "promote",
        parents=[common],
        help="judge learned patches against the policy, write a proposal, maybe auto-apply",
        description=(
            "Run the promotion pipeline on a patch set: verdicts per patch, one proposal under "
            "reports/live_promotion/<id>/, and in bounded_auto one bounded step per eligible key."
        ),
    )
    promote.add_argument(
        "--auto-apply-mode",
        choices=[m.value for m in AutoApplyMode],
        help="override the policy's mode for this run (disabled writes nothing at all)",
    )
    promote.add_argument(
        "--input",
        metavar="FILE",
        help="patch set (.json or .jsonl; default: the patches `learn` last published)",
    )
    promote.set_defaults(handler=handle)


def print_run(run: PromotionRun, directory: Path) -> None:
    """Verdicts, the proposal and what was applied, one line each."""
    for decision in run.decisions:
        patch = decision.candidate.patch
        print(
            f"{decision.verdict.value:<26} {patch.target} -> {patch.new_value!r} "
            f"(conf {patch.confidence_score}): {'; '.join(decision.reasons)}"
        )
    if run.ignored:
        print(f"{run.ignored} patch(es) ignored: status is not APPLIED_OFFLINE or PROMOTED")
    for proposal in run.proposals:
        where = "(dry run, not written)" if run.dry_run else str(directory / proposal.proposal_id)
        print(f"proposal {proposal.proposal_id}: {len(proposal.accepted)} accepted {where}")
    if not run.proposals:
        print("no candidate accepted: no proposal written")
    for outcome in run.outcomes:
        state = (
            f"applied {outcome.before!r} -> {outcome.after!r}" if outcome.applied else "not applied"
        )
        print(f"auto-apply {outcome.key}: {state} ({outcome.reason})")


def handle(args: argparse.Namespace) -> int | Coroutine[Any, Any, int]:
    """Run the pipeline once."""
    workspace, emitter = workspace_from_args(args)
    with alert_refusals(emitter, "promotion"):
        policy = workspace.policy()
        mode = AutoApplyMode(args.auto_apply_mode) if args.auto_apply_mode else policy.mode
        if mode is AutoApplyMode.DISABLED:
            print("auto-apply mode is disabled: nothing promoted, nothing written")
            return EXIT_OK
        source = Path(args.input) if args.input else workspace.published_file
        if not source.exists():
            if args.input:
                raise UsageError(f"--input {source}: no such file")
            print(f"no published patches at {source} (run `learn` first): nothing to promote")
            return EXIT_OK
        try:
            patches, warnings = read_snippet_file(source)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{source}: cannot read patches: {exc}") from exc
        for warning in warnings:
            print(f"warning: {warning}")
        run = run_promotion(
            patches,
            policy=policy,
            mode=mode,
            base=workspace.base(),
            writer=workspace.writer(),
            audit=workspace.audit(),
            proposals_dir=workspace.proposals_dir,
            now=SystemClock().now(),
            dry_run=bool(args.dry_run),
        )
    print_run(run, workspace.proposals_dir)
    if run.dry_run:
        return EXIT_OK

    async def record() -> int:
        await mirror_to_database(workspace, run.proposals)
        return EXIT_OK

    return record()
