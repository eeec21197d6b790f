"""``proposals list|show ID|approve ID --by NAME [--note]|reject ID --by NAME --note`` (§8.7)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

from peaktrade_daemon.cli.promotion_support import (
    alert_refusals,
    mirror_to_database,
    operator_name,
    workspace_from_args,
)
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_FAILED, EXIT_OK, DataError, UsageError
from peaktrade_daemon.promotion.review import ProposalFiles, approve_proposal, review_record
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.promotion_store import (
    ProposalRow,
    get_proposal,
    list_proposals,
    set_review,
    upsert_proposal,
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add the ``proposals`` command family."""
    proposals = subparsers.add_parser(
        "proposals",
        help="review promotion proposals (list, show, approve, reject)",
        description="Review proposals under reports/live_promotion/ and record the decision.",
    )
    actions = proposals.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="every proposal and its state")
    listing.add_argument("--status", choices=["pending", "approved", "applied", "rejected"])
    listing.set_defaults(handler=handle_list)
    show = actions.add_parser("show", parents=[common], help="a proposal's checklist and state")
    show.add_argument("proposal_id", metavar="ID")
    show.set_defaults(handler=handle_show)
    approve = actions.add_parser(
        "approve",
        parents=[common],
        help="apply the accepted patches through the bounded writer (one step per key)",
    )
    approve.add_argument("proposal_id", metavar="ID")
    approve.add_argument("--by", required=True, metavar="NAME", help="operator name (recorded)")
    approve.add_argument("--note", default=None, help="free text recorded with the approval")
    approve.set_defaults(handler=handle_approve)
    reject = actions.add_parser("reject", parents=[common], help="reject a proposal (recorded)")
    reject.add_argument("proposal_id", metavar="ID")
    reject.add_argument("--by", required=True, metavar="NAME", help="operator name (recorded)")
    reject.add_argument("--note", required=True, help="why (recorded)")
    reject.set_defaults(handler=handle_reject)


def _files(workspace: PromotionWorkspace, proposal_id: str) -> ProposalFiles:
    try:
        return ProposalFiles.open(workspace.proposals_dir, proposal_id)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


@contextlib.contextmanager
def _damaged_as_usage() -> Iterator[None]:
    """A damaged file of the proposal the operator named: exit 2 with the file's name."""
    try:
        yield
    except DataError as exc:
        raise UsageError(str(exc)) from exc


async def _row(workspace: PromotionWorkspace, files: ProposalFiles) -> ProposalRow | None:
    meta, created_at = files.meta, files.created_at  # read before the database is opened
    database = await open_database(workspace.database_url)
    try:
        await upsert_proposal(
            database,
            proposal_id=files.proposal_id,
            created_at=created_at,
            mode=str(meta.get("mode")),
            source=str(meta.get("source", "promote")),
            candidates=int(meta.get("candidates", 0)),
            accepted=int(meta.get("accepted", 0)),
        )
        return await get_proposal(database, files.proposal_id)
    finally:
        await database.close()


def handle_list(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """One line per proposal, newest first, with its review state."""
    workspace, _ = workspace_from_args(args)

    async def run() -> int:
        damaged = 0
        for files in ProposalFiles.all(workspace.proposals_dir):
            try:
                await _row(workspace, files)
            except DataError as exc:  # one damaged proposal must not hide the others
                damaged += 1
                print(f"warning: skipped proposal {files.proposal_id}: {exc}", file=sys.stderr)
        database = await open_database(workspace.database_url)
        try:
            rows = await list_proposals(database, args.status)
        finally:
            await database.close()
        for row in rows:
            who = f" by {row.reviewed_by}" if row.reviewed_by else ""
            print(
                f"{row.proposal_id}  {row.created_at.isoformat()}  {row.mode:<12} "
                f"accepted {row.accepted}/{row.candidates}  {row.status}{who}"
            )
        if not rows:
            print("no proposals")
        return EXIT_FAILED if damaged else EXIT_OK

    return run()


def handle_show(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """The checklist, then the review state."""
    workspace, _ = workspace_from_args(args)
    files = _files(workspace, args.proposal_id)

    async def run() -> int:
        with _damaged_as_usage():
            row = await _row(workspace, files)
            checklist = files.checklist
        print(checklist)
        if row is not None:
            print(
                f"status: {row.status}"
                + (f" by {row.reviewed_by}: {row.review_note or ''}" if row.reviewed_by else "")
            )
        return EXIT_OK

    return run()


def handle_approve(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Apply one bounded step per accepted key, attributed to the operator."""
    workspace, emitter = workspace_from_args(args)
    files = _files(workspace, args.proposal_id)
    operator = operator_name(args.by)

    async def run() -> int:
        with _damaged_as_usage():
            row = await _row(workspace, files)
            files.accepted_patches()  # damaged patches: refuse before anything is recorded
        if row is not None and row.status == "rejected":
            raise UsageError(f"proposal {files.proposal_id} was rejected by {row.reviewed_by}")
        now = SystemClock().now()
        with alert_refusals(emitter, "promotion"):
            outcomes = approve_proposal(
                files, workspace, operator, args.note, now, dry_run=bool(args.dry_run)
            )
        for outcome in outcomes:
            state = (
                f"applied {outcome.before!r} -> {outcome.after!r}"
                if outcome.applied
                else "not applied"
            )
            print(f"{outcome.key}: {state} ({outcome.reason})")
        if args.dry_run:
            return EXIT_OK
        done = all(
            o.reached_target or o.reason == "already at the proposed value" for o in outcomes
        )
        database = await open_database(workspace.database_url)
        try:
            await set_review(
                database,
                files.proposal_id,
                status="applied" if done else "approved",
                by=operator,
                note=args.note,
                at=now,
            )
        finally:
            await database.close()
        await mirror_to_database(workspace)
        remaining = "approved; more steps remain (approve again after the cooldown)"
        print(f"proposal {files.proposal_id}: {'applied' if done else remaining}")
        return EXIT_OK

    return run()


def handle_reject(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Record the rejection (and its note) in the database and the audit trail."""
    workspace, _ = workspace_from_args(args)
    files = _files(workspace, args.proposal_id)
    operator = operator_name(args.by)

    async def run() -> int:
        with _damaged_as_usage():
            row = await _row(workspace, files)
        if row is not None and row.status in {"applied", "rejected"}:
            raise UsageError(
                f"proposal {files.proposal_id} is already {row.status}; "
                "to undo applied changes use `overrides rollback`"
            )
        if args.dry_run:
            print(f"would reject {files.proposal_id}")
            return EXIT_OK
        now = SystemClock().now()
        workspace.audit().append(
            [review_record(files.proposal_id, "rejected", operator, args.note, now)]
        )
        database = await open_database(workspace.database_url)
        try:
            await set_review(
                database, files.proposal_id, status="rejected", by=operator, note=args.note, at=now
            )
        finally:
            await database.close()
        await mirror_to_database(workspace)
        print(f"proposal {files.proposal_id}: rejected by {operator}")
        return EXIT_OK

    return run()
