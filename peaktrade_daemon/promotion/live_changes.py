"""The paper book's schedule of live changes, read from governance's record (§8.4, §9).

The book (:mod:`peaktrade_daemon.portfolio.timeline`) takes its live changes through a port,
:data:`~peaktrade_daemon.portfolio.timeline.LiveChanges`, and knows nothing of the audit trail;
this adapter is the one place that turns the trail's effective ``change`` records into
:class:`~peaktrade_daemon.portfolio.timeline.LiveChange` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from peaktrade_daemon.audit_records import changes_since
from peaktrade_daemon.config.loader import PeakConfig, load_config
from peaktrade_daemon.config.overrides import is_live_like
from peaktrade_daemon.errors import AuditError, DataError
from peaktrade_daemon.portfolio.timeline import LiveChange
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import DaemonSettings


def _applied_at(record: Mapping[str, Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(record.get("time")))
    except ValueError as exc:
        raise DataError(
            f"audit record {record.get('seq')}: time {record.get('time')!r} is not ISO"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audited_live_changes(settings: DaemonSettings, current: PeakConfig) -> list[LiveChange]:
    """The paper book's :data:`~peaktrade_daemon.portfolio.timeline.LiveChanges` port over
    governance's record (blocking): the ``change`` records of the audit trail whose write took
    effect, a ``null`` before/after (the key absent from auto.toml) read as the base config's
    value. Only a live-like environment reads auto.toml (§2.2), so elsewhere there are none."""
    if not is_live_like(current.to_dict()):
        return []
    base = load_config(settings.path(settings.paths.config_file))
    trail = PromotionWorkspace.from_settings(settings).audit()
    try:
        records = trail.records()
        damage = trail.damaged_tail()
    except AuditError as exc:
        raise DataError(str(exc)) from exc

    def value(key: str, recorded: Any) -> Any:
        return base.get(key) if recorded is None else recorded

    changes = [
        LiveChange(
            time=_applied_at(r),
            key=str(r.get("key")),
            before=value(str(r.get("key")), r.get("before")),
            after=value(str(r.get("key")), r.get("after")),
        )
        for r in changes_since(records)
    ]
    # Records the anchor does not vouch for are no history of the live config (§8.8).
    if damage is not None:
        raise DataError(f"{trail.path}: {damage.reason}; run `overrides verify-audit`")
    return changes
