"""Browser sessions of the review page: expiry, token rotation, bounded count, constant-time checks."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.http.review_auth import (
    MAX_SESSIONS,
    SessionStore,
    configured_token,
    token_matches,
)


async def test_sessions_expire_end_with_the_token_and_stay_bounded() -> None:
    clock = ManualClock()
    store = SessionStore(clock.now, ttl=timedelta(hours=1))
    session = store.create(b"t1")
    assert store.get(session.sid, b"t1") is session
    assert store.get(session.sid, b"t2") is None  # a rotated token ends it...
    assert store.get(session.sid, b"t1") is None  # ...for good
    assert store.get(None, b"t1") is None and store.get("", b"t1") is None

    fresh = store.create(b"t1")
    await clock.set(clock.now() + timedelta(minutes=59))
    assert store.get(fresh.sid, b"t1") is fresh
    await clock.set(clock.now() + timedelta(minutes=1))
    assert store.get(fresh.sid, b"t1") is None

    sessions = [store.create(b"t1") for _ in range(MAX_SESSIONS + 5)]
    assert len(store) == MAX_SESSIONS
    assert store.get(sessions[0].sid, b"t1") is None  # the oldest were evicted
    assert store.get(sessions[-1].sid, b"t1") is sessions[-1]
    assert len({s.sid for s in sessions} | {s.csrf for s in sessions}) == 2 * len(sessions)


def test_csrf_and_token_checks() -> None:
    session = SessionStore(ManualClock().now).create(b"t")
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(session.csrf + "x") and not session.csrf_matches("")
    assert configured_token(None) is None and configured_token(SecretStr("")) is None
    assert configured_token(SecretStr("abc")) == b"abc"
    assert token_matches("abc", b"abc") and not token_matches("abd", b"abc")
    assert not token_matches("", b"abc")
