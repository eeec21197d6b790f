"""Who may use the review page, and how a browser proves it (§3.7, §8.7).

The secret is ``http.token`` from settings, always compared with :func:`hmac.compare_digest`.

- Scripts send it on every request (``Authorization: Bearer`` or ``X-PeakTrade-Token``). A page
  on another origin cannot attach such a header without a CORS preflight this server never grants,
  so header-authenticated posts need no CSRF token.
- A browser logs in once with a form posting the token; the server then keeps a session in memory
  and sets a random session id as an ``HttpOnly; SameSite=Strict`` cookie scoped to ``/review``.
  Each session has its own CSRF token, which every state-changing form carries in a hidden field;
  a cookie-authenticated post must also come from this origin (``Origin``, else ``Referer``).
  Sessions die with the process, after :data:`SESSION_TTL`, on logout, and as soon as the
  configured token changes (a reload with a new token logs every browser out).
- With no token configured, nothing here authenticates anyone: the page refuses (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import SecretStr

COOKIE_NAME = "peaktrade_review"
COOKIE_PATH = "/review"
SESSION_TTL = timedelta(hours=8)
MAX_SESSIONS = 32


def configured_token(token: SecretStr | None) -> bytes | None:
    """The token's bytes, or None when it is unset or empty (state changes then refused)."""
    if token is None or not token.get_secret_value():
        return None
    return token.get_secret_value().encode()


def token_matches(given: str, expected: bytes) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    # surrogateescape: a header with bytes that are not UTF-8 is a wrong token, not a 500.
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)


def header_token(request: web.Request) -> str | None:
    """The token a script sent in a header, if any."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.headers.get("X-PeakTrade-Token")


def same_origin(request: web.Request) -> bool:
    """True when the request says it comes from this server's own origin. Browsers send
    ``Origin`` on every POST; a missing ``Origin`` falls back to ``Referer``; neither: refused."""
    own = f"{request.scheme}://{request.host}"
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("Referer", "")
    return referer == own or referer.startswith(own + "/")


def _token_digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


@dataclass(slots=True)
class Flash:
    """A one-time message shown on the next page view (Post/Redirect/Get)."""

    kind: str  # "ok" or "error"
    text: str


@dataclass(slots=True)
class Session:
    """One logged-in browser."""

    sid: str
    csrf: str
    token_digest: bytes
    expires_at: datetime
    flashes: list[Flash] = field(default_factory=list)

    def csrf_matches(self, given: str) -> bool:
        """Constant-time check of a form's CSRF field."""
        return hmac.compare_digest(given.encode(), self.csrf.encode())

    def take_flashes(self) -> list[Flash]:
        """The pending messages, removed from the session."""
        flashes, self.flashes = self.flashes, []
        return flashes


class SessionStore:
    """Browser sessions of one review page, in memory only (a restart logs everyone out)."""

    def __init__(self, now: Callable[[], datetime], *, ttl: timedelta = SESSION_TTL) -> None:
        self._now = now
        self._ttl = ttl
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, token: bytes) -> Session:
        """A new session for a browser that just presented ``token``."""
        now = self._now()
        for sid in [s.sid for s in self._sessions.values() if s.expires_at <= now]:
            del self._sessions[sid]
        while len(self._sessions) >= MAX_SESSIONS:  # dicts keep insertion order: oldest first
            del self._sessions[next(iter(self._sessions))]
        session = Session(
            sid=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            token_digest=_token_digest(token),
            expires_at=now + self._ttl,
        )
        self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None, token: bytes) -> Session | None:
        """The live session ``sid`` if it was opened with the token configured now."""
        session = self._sessions.get(sid or "")
        if session is None:
            return None
        fresh = session.expires_at > self._now()
        if not fresh or not hmac.compare_digest(session.token_digest, _token_digest(token)):
            del self._sessions[session.sid]
            return None
        return session

    def drop(self, sid: str) -> None:
        """End one session (logout)."""
        self._sessions.pop(sid, None)


def set_session_cookie(
    response: web.StreamResponse, request: web.Request, session: Session
) -> None:
    """The session cookie: not readable by scripts, never sent on cross-site requests."""
    response.set_cookie(
        COOKIE_NAME,
        session.sid,
        path=COOKIE_PATH,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    """Tell the browser to forget its session cookie."""
    response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)
