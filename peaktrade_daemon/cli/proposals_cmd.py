"""``proposals list|show ID|approve ID --by NAME [--note]|reject ID --by NAME --note`` (§8.7)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.cli.promotion_support import operator_name, workspace_from_args
from peaktrade_daemon.clock import SystemClock
from peaktrade_daemon.errors import EXIT_FAILED, EXIT_OK, DataError, SealBroken, UsageError
from peaktrade_daemon.promotion.evidence import root_evidence
from peaktrade_daemon.promotion.operator import (
    approve,
    list_reviews,
    open_proposal,
    reject,
    sync_proposal,
)
from peaktrade_daemon.promotion.proposals import ProposalFiles
from peaktrade_daemon.promotion.review import proposal_seals
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.storage.db import MEMORY_DATABASE, database_missing, opened_database
from peaktrade_daemon.storage.promotion_store import get_seal


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
    approve.add_argument(
        "--override-evidence",
        action="store_true",
        help="apply a step whose evidence FAILed (recorded as overridden in the audit trail)",
    )
    approve.set_defaults(handler=handle_approve)
    reject = actions.add_parser("reject", parents=[common], help="reject a proposal (recorded)")
    reject.add_argument("proposal_id", metavar="ID")
    reject.add_argument("--by", required=True, metavar="NAME", help="operator name (recorded)")
    reject.add_argument("--note", required=True, help="why (recorded)")
    reject.set_defaults(handler=handle_reject)


def _files(workspace: PromotionWorkspace, proposal_id: str) -> ProposalFiles:
    return open_proposal(workspace, proposal_id)


@contextlib.contextmanager
def _damaged_as_usage() -> Iterator[None]:
    """A damaged file of the proposal the operator named: exit 2 with the file's name."""
    try:
        yield
    except DataError as exc:
        raise UsageError(str(exc)) from exc


def handle_list(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """One line per proposal, newest first, with its review state."""
    workspace, _ = workspace_from_args(args)

    # Listing must not create the state database: without one nothing was reviewed yet, and
    # the proposals on disk are listed from a database in memory.
    url = MEMORY_DATABASE if database_missing(workspace.database_url) else workspace.database_url

    async def run() -> int:
        skipped: list[str] = []
        async with opened_database(url) as database:
            rows = await list_reviews(database, workspace, args.status, skipped=skipped)
        for problem in skipped:
            print(f"warning: {problem}", file=sys.stderr)
        for row in rows:
            who = f" by {row.reviewed_by}" if row.reviewed_by else ""
            print(
                f"{row.proposal_id}  {row.created_at.isoformat()}  {row.mode:<12} "
                f"accepted {row.accepted}/{row.candidates}  {row.status}{who}"
            )
        if not rows:
            print("no proposals")
        return EXIT_FAILED if skipped else EXIT_OK

    return run()


def handle_show(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """The checklist, the seal check, then the review state (exit 1 when the seal is broken:
    the files were edited after the proposal was judged, and approval is refused)."""
    workspace, _ = workspace_from_args(args)
    files = _files(workspace, args.proposal_id)

    async def run() -> int:
        async with opened_database(workspace.database_url) as database:
            with _damaged_as_usage():
                row = await sync_proposal(database, files)
                database_seal = await get_seal(database, files.proposal_id)
                checklist = files.checklist
        print(checklist)
        code = EXIT_OK
        records = await asyncio.to_thread(workspace.audit().records)
        try:
            with _damaged_as_usage():
                seals = proposal_seals(records, files.proposal_id, database_seal)
                files.sealed_decisions(seals)
            print(f"seal: {seals[0][:12]} matches the audit trail and the state database")
        except SealBroken as exc:
            print(f"SEAL BROKEN: {exc}")
            code = EXIT_FAILED
        if row is not None:
            print(
                f"status: {row.status}"
                + (f" by {row.reviewed_by}: {row.review_note or ''}" if row.reviewed_by else "")
            )
        return code

    return run()


def handle_approve(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Apply one bounded step per accepted key, attributed to the operator (the same code path
    as the review page's approve button: :func:`peaktrade_daemon.promotion.operator.approve`)."""
    workspace, emitter = workspace_from_args(args)
    operator = operator_name(args.by)
    _files(workspace, args.proposal_id)  # a malformed id is refused before the database opens

    async def run() -> int:
        async with (
            opened_database(workspace.database_url) as database,
            root_evidence(settings_from_args(args)) as evidence,
        ):
            with _damaged_as_usage():
                result = await approve(
                    workspace,
                    database,
                    args.proposal_id,
                    operator,
                    args.note,
                    SystemClock().now(),
                    alerts=emitter,
                    evidence=evidence,
                    dry_run=bool(args.dry_run),
                    override_evidence=bool(args.override_evidence),
                )
        for outcome in result.outcomes:
            state = (
                f"applied {outcome.before!r} -> {outcome.after!r}"
                if outcome.applied
                else "not applied"
            )
            print(f"{outcome.key}: {state} ({outcome.reason})")
        if result.dry_run:
            return EXIT_OK
        remaining = "approved; more steps remain (approve again after the cooldown)"
        done = result.status == "applied"
        print(f"proposal {result.proposal_id}: {'applied' if done else remaining}")
        return EXIT_OK

    return run()


def handle_reject(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Record the rejection (and its note) in the database and the audit trail."""
    workspace, _ = workspace_from_args(args)
    operator = operator_name(args.by)
    _files(workspace, args.proposal_id)  # a malformed id is refused before the database opens

    async def run() -> int:
        async with opened_database(workspace.database_url) as database:
            with _damaged_as_usage():
                result = await reject(
                    workspace,
                    database,
                    args.proposal_id,
                    operator,
                    args.note,
                    SystemClock().now(),
                    dry_run=bool(args.dry_run),
                )
        if result.dry_run:
            print(f"would reject {result.proposal_id}")
        else:
            print(f"proposal {result.proposal_id}: rejected by {result.operator}")
        return EXIT_OK

    return run()
