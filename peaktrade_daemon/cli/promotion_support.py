"""What the learning and promotion commands share: the workspace, refusals raised as critical
alerts, and mirroring what a command wrote into the state database."""

from __future__ import annotations

import argparse
import contextlib
import getpass
from collections.abc import Iterator, Sequence

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.alerts.oneshot import OneShotAlerts
from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.errors import AuditError, SafetyRefusal
from peaktrade_daemon.promotion.models import PromotionProposal
from peaktrade_daemon.promotion.operator import check_operator
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.storage.db import opened_database
from peaktrade_daemon.storage.promotion_store import record_promotion


def workspace_from_args(args: argparse.Namespace) -> tuple[PromotionWorkspace, OneShotAlerts]:
    """The workspace for ``--root`` and the one-shot alert emitter for its settings."""
    settings = settings_from_args(args)
    dry_run = bool(getattr(args, "dry_run", False))
    return PromotionWorkspace.from_settings(settings), OneShotAlerts(settings, dry_run=dry_run)


@contextlib.contextmanager
def alert_refusals(emitter: OneShotAlerts, source: str) -> Iterator[None]:
    """A safety refusal (missing policy, unparseable auto.toml, lock held) or a broken audit
    trail raises a critical alert, then propagates to the CLI's exit-code mapping."""
    try:
        yield
    except (SafetyRefusal, AuditError) as exc:
        emitter.emit_sync(AlertLevel.CRITICAL, source, str(exc), {"error": type(exc).__name__})
        raise


def operator_name(given: str | None) -> str:
    """``--by`` if given, else the login name (changes are always attributed to someone)."""
    return check_operator((given or "").strip() or getpass.getuser())


async def mirror_to_database(
    workspace: PromotionWorkspace, proposals: Sequence[PromotionProposal] = ()
) -> None:
    """Record new proposals as pending and index new audit records in the state database."""
    async with opened_database(workspace.database_url) as database:
        await record_promotion(database, workspace.audit(), proposals)
