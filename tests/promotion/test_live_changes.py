"""The composition root's adapters: the paper book's live-change port over the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.config import load_config
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.portfolio.timeline import LiveChange, params_timeline
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import DaemonSettings, load_settings

T1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=2)


def change(key: str, before: Any, after: Any, at: datetime, write_id: str) -> dict[str, Any]:
    """A ``change`` record as the writer appends it."""
    return {
        "event": "change",
        "time": at.isoformat(),
        "key": key,
        "before": before,
        "after": after,
        "write_id": write_id,
    }


def _trail(settings: DaemonSettings) -> AuditTrail:
    return PromotionWorkspace.from_settings(settings).audit()


@pytest.fixture
def settings(project_root: Path) -> DaemonSettings:
    return load_settings(project_root)


def _live(settings: DaemonSettings, **values: Any) -> Any:
    base = load_config(settings.path(settings.paths.config_file))
    return base.with_updates({"environment.mode": "live", **values})


def test_the_port_reads_the_changes_that_took_effect_with_null_as_the_base_value(
    settings: DaemonSettings,
) -> None:
    _trail(settings).append(
        [
            change("portfolio.leverage", None, 1.25, T1, "w-1"),
            {"event": "verdict", "key": "portfolio.leverage", "time": T1.isoformat()},
            change("macro.regime_weight", None, 0.35, T1, "w-2"),
            change("portfolio.leverage", 1.25, 1.5, T2, "w-3"),
            {"event": "write_aborted", "write_id": "w-3", "time": T2.isoformat()},
            change("portfolio.leverage", 1.25, 1.75, T2, "w-4"),
        ]
    )
    current = _live(settings, **{"portfolio.leverage": 1.75, "macro.regime_weight": 0.35})
    changes = audited_live_changes(settings, current)
    assert changes == [
        LiveChange(T1, "portfolio.leverage", 1.0, 1.25),  # base config.toml says 1.0
        LiveChange(T1, "macro.regime_weight", 0.25, 0.35),
        LiveChange(T2, "portfolio.leverage", 1.25, 1.75),
    ]
    timeline = params_timeline(current, changes)
    assert [(at, p.leverage, p.regime_weight) for at, p in timeline.changes] == [
        (T1, 1.25, 0.25),
        (T1, 1.25, 0.35),
        (T2, 1.75, 0.35),
    ]


def test_outside_a_live_like_environment_auto_toml_has_no_history(
    settings: DaemonSettings,
) -> None:
    _trail(settings).append([change("portfolio.leverage", None, 1.25, T1, "w-1")])
    base = load_config(settings.path(settings.paths.config_file))
    assert audited_live_changes(settings, base) == []


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"seq": 7, "event": "change", "key": "portfolio.leverage", "time": "yesterday"}', "7"),
        ("not json at all", "not JSON"),
    ],
)
def test_an_unreadable_record_is_a_data_error_naming_it(
    settings: DaemonSettings, line: str, match: str
) -> None:
    path = settings.path(settings.paths.audit_log)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(line + "\n")
    with pytest.raises(DataError, match=match):
        audited_live_changes(settings, _live(settings))
