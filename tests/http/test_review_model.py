"""What the review page reads: live values now, and warnings instead of guesses when files break."""

from __future__ import annotations

import shutil
from pathlib import Path

from peaktrade_daemon.http.review_model import load_views
from peaktrade_daemon.storage.promotion_store import list_proposals
from tests.http.review_harness import promote, review_server


async def test_live_values_now_and_unreadable_files_become_warnings(project_root: Path) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        rows = await list_proposals(rs.database)
        views, warnings = load_views(rs.workspace, rows)
        [view] = views
        assert warnings == [] and view.open and view.status == "pending"
        leverage = next(
            c for c in view.candidates if c.accepted and c.target == "portfolio.leverage"
        )
        assert (leverage.live_at_proposal, leverage.live_now, leverage.proposed) == (1.0, 1.0, 1.75)
        assert leverage.planned_steps == (1.25, 1.5, 1.75)
        assert "- [ ] Leverage within bounds" in view.checklist

        auto = project_root / "config/live_overrides/auto.toml"
        auto.write_text("[auto_applied\nbroken")
        [view], warnings = load_views(rs.workspace, rows)
        assert any("auto.toml cannot be read" in w for w in warnings)
        assert all(c.live_now is None for c in view.candidates)  # unknown, never a guess

        shutil.rmtree(project_root / "reports/live_promotion" / pid)
        [view], warnings = load_views(rs.workspace, rows)
        assert any(f"proposal {pid}: files unreadable" in w for w in warnings)
        assert view.candidates == () and view.checklist == ""
