"""The operator's review actions shared by the CLI and the review page."""

from __future__ import annotations

from pathlib import Path

import pytest

from peaktrade_daemon.alerts.oneshot import OneShotAlerts
from peaktrade_daemon.errors import SafetyRefusal, UsageError
from peaktrade_daemon.promotion.evidence import root_evidence
from peaktrade_daemon.promotion.operator import approve, check_note, check_operator, reject
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.promotion_store import get_proposal
from tests.http.review_harness import promote
from tests.promotion.conftest import T0


def test_operator_and_note_checks() -> None:
    assert check_operator("  alice ") == "alice"
    for bad in ("", "   ", "a\nb", "x" * 129, "tab\there"):
        with pytest.raises(UsageError):
            check_operator(bad)
    for reserved in ("auto", "rollback-guard", "writer"):
        with pytest.raises(SafetyRefusal):
            check_operator(reserved)
    assert check_note("  ", required=False) is None and check_note(" ok ", required=False) == "ok"
    with pytest.raises(UsageError, match="note is required"):
        check_note(None, required=True)
    with pytest.raises(UsageError):
        check_note("x" * 4001, required=False)


async def test_dry_runs_write_nothing_and_ids_are_never_paths(
    workspace: PromotionWorkspace, project_root: Path
) -> None:
    database = await open_database(workspace.database_url)
    try:
        pid = await promote(workspace, database, now=T0)
        auto = workspace.overrides_file.read_bytes()
        audit = workspace.audit_file.read_bytes()
        alerts = OneShotAlerts(load_settings(project_root), dry_run=True)
        async with root_evidence(load_settings(project_root)) as evidence:
            result = await approve(
                workspace,
                database,
                pid,
                "alice",
                None,
                T0,
                alerts=alerts,
                evidence=evidence,
                dry_run=True,
            )
        await alerts.close()
        assert [o.after for o in result.outcomes if o.applied] == [1.25, 8.0, 0.35]
        rejected = await reject(workspace, database, pid, "bob", "no", T0, dry_run=True)
        assert rejected.status == "rejected" and rejected.dry_run
        assert workspace.overrides_file.read_bytes() == auto
        assert workspace.audit_file.read_bytes() == audit
        row = await get_proposal(database, pid)
        assert row is not None and row.status == "pending"
        for bad in ("../../etc", f"{pid}/..", ""):
            with pytest.raises(UsageError):
                await reject(workspace, database, bad, "bob", "no", T0)
    finally:
        await database.close()
