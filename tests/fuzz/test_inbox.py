"""reports/learning/published_patches.json as the running daemon's patch inbox reads it.

Contract: a damaged file (or a damaged ``state/published_patches.seen``) is a warning alert
naming the file, the content is marked seen (no alert storm every poll), and the component
never raises, so the supervisor never has to restart it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.events import Event
from peaktrade_daemon.learning.models import PatchesPublished
from peaktrade_daemon.promotion.inbox import PatchInbox
from peaktrade_daemon.settings import load_settings
from tests.fuzz.mutations import damaged

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
GOOD = json.dumps(
    {
        "patches": [
            {
                "id": "p1",
                "target": "portfolio.leverage",
                "old_value": None,
                "new_value": 1.25,
                "status": "APPLIED_OFFLINE",
                "confidence_score": 0.9,
                "meta": {"is_live_ready": True},
            }
        ]
    }
).encode()


class Recorder:
    """The AlertEmitter protocol, keeping what it was given."""

    def __init__(self) -> None:
        self.alerts: list[tuple[AlertLevel, str, str, dict[str, Any]]] = []

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        self.alerts.append((level, source, message, dict(context or {})))


def inbox(root: Path) -> tuple[PatchInbox, Recorder, list[Event]]:
    published: list[Event] = []
    recorder = Recorder()
    box = PatchInbox(
        load_settings(root), clock=ManualClock(), alerts=recorder, publish=published.append
    )
    box.path.parent.mkdir(parents=True, exist_ok=True)
    return box, recorder, published


@FUZZ
@given(data=st.data())
async def test_a_damaged_published_file_is_one_warning_never_a_crash(
    project_root: Path, data: st.DataObject
) -> None:
    box, recorder, published = inbox(project_root)
    raw = data.draw(st.one_of(damaged(GOOD), st.just(b"[" * 100_000)))
    box.path.write_bytes(raw)
    count = await box.check()
    if recorder.alerts:
        ((level, source, _, context),) = recorder.alerts
        assert source == "promotion"
        assert level is AlertLevel.WARNING and context["file"] == str(box.path)
        assert count == 0 and published == []
    else:
        assert all(isinstance(e, PatchesPublished) for e in published)
    assert await box.check() == 0  # the same content is never judged twice
    assert len(recorder.alerts) <= 1


@pytest.mark.parametrize(
    "seen", [b"\xff\xfe\x00", b"", b"x" * 10_000], ids=["binary", "empty", "long"]
)
async def test_a_damaged_seen_file_does_not_stop_the_inbox(project_root: Path, seen: bytes) -> None:
    box, recorder, published = inbox(project_root)
    box.path.write_bytes(GOOD)
    box.seen_file.parent.mkdir(parents=True, exist_ok=True)
    box.seen_file.write_bytes(seen)
    assert await box.check() == 1
    assert recorder.alerts == [] and len(published) == 1
