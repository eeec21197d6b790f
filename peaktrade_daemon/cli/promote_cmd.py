"""``promote [--auto-apply-mode MODE] [--dry-run] [--input FILE]`` (§8.2)."""

from __future__ import annotations

import argparse
import asyncio
import functools
from pathlib import Path

from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.cli.promotion_support import (
    alert_refusals,
    mirror_to_database,
    workspace_from_args,
)
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_OK, SafetyRefusal, UsageError
from peaktrade_daemon.governance.holds import effective_mode
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import Verdict
from peaktrade_daemon.learning.snippets import SnippetReport, read_snippet_file
from peaktrade_daemon.promotion.baseline import Hold, cli_hold
from peaktrade_daemon.promotion.engine import (
    PromotionRun,
    build_promotion_candidates_from_patches,
    filter_candidates_for_live,
    run_promotion,
)
from peaktrade_daemon.promotion.evidence import root_evidence
from peaktrade_daemon.promotion.workspace import PromotionWorkspace


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
        evidence = run.evidence.get(patch.id)
        if evidence is not None:
            print(
                f"  evidence {evidence.verdict.value} for the step {evidence.live_value!r} -> "
                f"{evidence.step_value!r}: {'; '.join(evidence.reasons)}"
            )
    for entry in run.refused:
        print(
            f"{Verdict.REJECTED_BY_SANITY_CHECK.value:<26} {entry.target} ({entry.where}): "
            f"SANITY: {entry.reason}"
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


def requested_mode(policy: AutoApplyPolicy, flag: str | None) -> AutoApplyMode:
    """The mode this run uses. The policy's ``mode = "disabled"`` is the killswitch: a flag
    asking for more is refused (exit 3), never obeyed (§8.1, §8.8)."""
    requested = AutoApplyMode(flag) if flag else None
    mode: AutoApplyMode = effective_mode(policy, requested)
    if requested not in (None, mode):
        raise SafetyRefusal(
            f'promotion.toml has mode = "disabled" (the killswitch); --auto-apply-mode '
            f"{requested.value} cannot lift it; nothing promoted"
        )
    return mode


def _read_patches(args: argparse.Namespace, workspace: PromotionWorkspace) -> SnippetReport | None:
    source = Path(args.input) if args.input else workspace.published_file
    if not source.exists():
        if args.input:
            raise UsageError(f"--input {source}: no such file")
        print(f"no published patches at {source} (run `learn` first): nothing to promote")
        return None
    try:
        report = read_snippet_file(source)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{source}: cannot read patches: {exc}") from exc
    for warning in report.warnings:
        print(f"warning: {warning}")
    return report


async def handle(args: argparse.Namespace) -> int:
    """Run the pipeline once (bounded_auto with the daemon's holds, computed here)."""
    workspace, emitter = workspace_from_args(args)
    with alert_refusals(emitter, "promotion"):
        policy = workspace.policy()
        mode = requested_mode(policy, args.auto_apply_mode)
        if mode is AutoApplyMode.DISABLED:
            print("auto-apply mode is disabled: nothing promoted, nothing written")
            return EXIT_OK
        report = _read_patches(args, workspace)
        if report is None:
            return EXIT_OK
        now = SystemClock().now()
        settings = settings_from_args(args)
        base = workspace.base()
        hold: Hold = lambda key: None  # noqa: E731
        if mode is AutoApplyMode.BOUNDED_AUTO and not args.dry_run:
            records = await asyncio.to_thread(workspace.audit().records)
            hold, _ = await cli_hold(settings, policy, records, now)
        # The evidence, computed here from the root's data with the daemon's paper book (§9).
        live = workspace.writer().read().values
        preview = filter_candidates_for_live(
            build_promotion_candidates_from_patches(report.patches, policy), policy, base, live
        )
        async with root_evidence(settings) as runner:
            evidence = await runner.evaluate(preview, live, policy, base)
        run = await asyncio.to_thread(
            functools.partial(
                run_promotion,
                report.patches,
                policy=policy,
                mode=mode,
                base=base,
                writer=workspace.writer(),
                audit=workspace.audit(),
                proposals_dir=workspace.proposals_dir,
                now=now,
                dry_run=bool(args.dry_run),
                hold=hold,
                refused=report.refused,
                evidence=evidence,
            )
        )
    print_run(run, workspace.proposals_dir)
    if not run.dry_run:
        await mirror_to_database(workspace, run.proposals)
    return EXIT_OK
