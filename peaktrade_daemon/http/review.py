"""The proposal review page on the daemon's HTTP listener (§8.7, §3.7).

``GET /review`` lists the proposals under ``reports/live_promotion/`` with their review state from
the database: for each open one its candidates (live value when proposed and now, proposed value,
planned steps, flags, reasons), its operator checklist, and an approve and a reject form (operator
name and note; a rejection needs a note; an approval needs the six review boxes ticked). The forms
post to ``/review/{id}/approve`` and ``/review/{id}/reject``, which call
:mod:`peaktrade_daemon.promotion.operator`, the code behind ``proposals approve|reject``: auto.toml,
the audit trail and the database change exactly as the CLI would change them. Then the browser is
redirected back to the page (Post/Redirect/Get) with the result as a one-time message.

Access: see :mod:`peaktrade_daemon.http.review_auth` (token, session cookie, CSRF, origin).
Without a configured token the page says so and refuses every change; under ``--dry-run`` (no
state database) it is unavailable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiDictProxy

from peaktrade_daemon.alerts.model import AlertEmitter
from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import PeakTradeError, SafetyRefusal, UsageError
from peaktrade_daemon.http.app import TOKEN_KEY, RouteModule
from peaktrade_daemon.http.review_auth import (
    COOKIE_NAME,
    Flash,
    Session,
    SessionStore,
    clear_session_cookie,
    configured_token,
    header_token,
    same_origin,
    set_session_cookie,
    token_matches,
)
from peaktrade_daemon.http.review_html import (
    SECURITY_HEADERS,
    login_page,
    notice_page,
    review_page,
)
from peaktrade_daemon.http.review_model import load_views, summary
from peaktrade_daemon.promotion import operator
from peaktrade_daemon.promotion.checklist import REVIEW_BOXES
from peaktrade_daemon.promotion.evidence import root_evidence
from peaktrade_daemon.promotion.models import OverridesChanged
from peaktrade_daemon.promotion.operator import ReviewResult
from peaktrade_daemon.promotion.proposals import PROPOSAL_ID_RE
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.db import Database

if TYPE_CHECKING:
    from peaktrade_daemon.runtime import Runtime

logger = logging.getLogger(__name__)

DISABLED = (
    "Review is disabled: no http.token is configured, so nothing can be approved or rejected "
    "here. Set [http] token in daemon.toml or PEAKTRADE_HTTP__TOKEN, then reload (SIGHUP)."
)
NO_DATABASE = "The review page is unavailable under --dry-run: there is no state database."


def _page(body: str, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**SECURITY_HEADERS, **headers},
    )


class _Refused(Exception):
    """Ends a request with ``response`` (401/403/503 pages) before anything is changed."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


class ReviewPage:
    """The review routes and their state (browser sessions, one review at a time)."""

    def __init__(
        self,
        *,
        settings: Callable[[], DaemonSettings],
        clock: Clock,
        alerts: AlertEmitter,
        database: Database | None,
        bus: EventBus | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._alerts = alerts
        self._database = database
        self._bus = bus
        self.sessions = SessionStore(clock.now)
        # One review at a time in this process; other processes are serialized by file locks.
        self._lock = asyncio.Lock()

    def register(self, app: web.Application) -> None:
        """Add the routes (a :data:`~peaktrade_daemon.http.app.RouteModule`)."""
        app.router.add_get("/review", self.show)
        app.router.add_post("/review/login", self.login)
        app.router.add_post("/review/logout", self.logout)
        app.router.add_post("/review/{proposal_id}/approve", self.approve)
        app.router.add_post("/review/{proposal_id}/reject", self.reject)

    # -- access ------------------------------------------------------------------------------

    def _workspace(self) -> PromotionWorkspace:
        return PromotionWorkspace.from_settings(self._settings())

    def _token(self, request: web.Request) -> bytes:
        token = configured_token(request.app[TOKEN_KEY]())
        if token is None:
            raise _Refused(_page(notice_page("Review disabled", DISABLED), 403))
        return token

    def _db(self) -> Database:
        if self._database is None:
            raise _Refused(_page(notice_page("Review unavailable", NO_DATABASE), 503))
        return self._database

    def _authenticate(self, request: web.Request, token: bytes) -> Session | None:
        """The browser session, or None for a script that sent the token in a header."""
        given = header_token(request)
        if given is not None:
            if token_matches(given, token):
                return None
            logger.warning("review: wrong token in a header from %s", request.remote)
            raise _Refused(_page(login_page("Wrong token."), 401, **_challenge()))
        session = self.sessions.get(request.cookies.get(COOKIE_NAME), token)
        if session is None:
            raise _Refused(_page(login_page(), 401, **_challenge()))
        return session

    async def _authorize_post(
        self, request: web.Request
    ) -> tuple[Session | None, MultiDictProxy[Any]]:
        token = self._token(request)
        self._db()
        session = self._authenticate(request, token)
        try:
            form = await request.post()
        except UnicodeDecodeError:  # a form that is not UTF-8: refused, not a 500
            raise _Refused(_page(notice_page("Refused", "The form was not UTF-8."), 400)) from None
        if session is not None:
            csrf = form.get("csrf")
            if (
                not same_origin(request)
                or not isinstance(csrf, str)
                or not session.csrf_matches(csrf)
            ):
                logger.warning("review: CSRF check failed from %s", request.remote)
                raise _Refused(
                    _page(
                        notice_page("Refused", "CSRF check failed: reload the page and retry."), 403
                    )
                )
        return session, form

    # -- handlers ------------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        """``GET /review``: the page, or the login form (401), or why it is unavailable."""
        try:
            token = self._token(request)
            database = self._db()
            session = self._authenticate(request, token)
        except _Refused as refused:
            return refused.response
        workspace = self._workspace()
        rows = await operator.list_reviews(database, workspace)
        views, warnings = await asyncio.to_thread(load_views, workspace, rows)
        flashes = session.take_flashes() if session is not None else []
        csrf = session.csrf if session is not None else None
        return _page(review_page(views, csrf=csrf, flashes=flashes, warnings=warnings))

    async def login(self, request: web.Request) -> web.Response:
        """``POST /review/login``: a right token opens a session and sets its cookie."""
        try:
            token = self._token(request)
        except _Refused as refused:
            return refused.response
        if not same_origin(request):
            return _page(notice_page("Refused", "Cross-origin login refused."), 403)
        try:
            form = await request.post()
        except UnicodeDecodeError:
            return _page(login_page("The form was not UTF-8."), 400)
        given = form.get("token")
        if not isinstance(given, str) or not token_matches(given, token):
            logger.warning("review: failed login from %s", request.remote)
            return _page(login_page("Wrong token."), 401, **_challenge())
        session = self.sessions.create(token)
        logger.info("review: login from %s", request.remote)
        response = web.Response(status=303, headers={"Location": "/review", **SECURITY_HEADERS})
        set_session_cookie(response, request, session)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """``POST /review/logout``: end the session."""
        try:
            session, _ = await self._authorize_post(request)
        except _Refused as refused:
            return refused.response
        if session is not None:
            self.sessions.drop(session.sid)
        response = web.Response(status=303, headers={"Location": "/review", **SECURITY_HEADERS})
        clear_session_cookie(response)
        return response

    async def approve(self, request: web.Request) -> web.Response:
        """``POST /review/{id}/approve``: the CLI's ``proposals approve``."""
        return await self._act(request, "approve")

    async def reject(self, request: web.Request) -> web.Response:
        """``POST /review/{id}/reject``: the CLI's ``proposals reject`` (note required)."""
        return await self._act(request, "reject")

    async def _act(self, request: web.Request, action: str) -> web.Response:
        try:
            session, form = await self._authorize_post(request)
            database = self._db()
        except _Refused as refused:
            return refused.response
        proposal_id = request.match_info["proposal_id"]
        name, note = str(form.get("operator", "")), str(form.get("note", ""))
        try:
            async with self._lock:
                result = await self._run(action, database, proposal_id, name, note, form)
        except PeakTradeError as exc:
            logger.warning("review: %s of %s refused: %s", action, proposal_id, exc)
            status = 409 if isinstance(exc, SafetyRefusal) else 400
            flash = Flash("error", f"Not done: {exc}")
            return self._answer(session, proposal_id, flash, status, {"error": str(exc)})
        self._announce(result)
        body = {
            "proposal_id": result.proposal_id,
            "status": result.status,
            "operator": result.operator,
        }
        return self._answer(session, proposal_id, Flash("ok", summary(result)), 200, body)

    async def _run(
        self,
        action: str,
        database: Database,
        proposal_id: str,
        name: str,
        note: str,
        form: MultiDictProxy[Any],
    ) -> ReviewResult:
        now = self._clock.now()
        workspace = self._workspace()
        if action == "reject":
            return await operator.reject(workspace, database, proposal_id, name, note, now)
        ticked = set(form.getall("check", []))
        if ticked != {str(i) for i in range(len(REVIEW_BOXES))}:
            raise UsageError("tick all six review boxes before approving")
        # The page computes the evidence on the root's data like the CLI (its own feeds, so
        # an approval never waits on the cycle's); it cannot override a FAIL: that takes the
        # operator's explicit `proposals approve --override-evidence`.
        async with root_evidence(self._settings(), self._clock) as evidence:
            return await operator.approve(
                workspace,
                database,
                proposal_id,
                name,
                note,
                now,
                alerts=self._alerts,
                evidence=evidence,
            )

    def _answer(
        self,
        session: Session | None,
        proposal_id: str,
        flash: Flash,
        status: int,
        body: dict[str, Any],
    ) -> web.Response:
        if session is None:  # a script: the result itself
            return web.json_response(body, status=status, headers=SECURITY_HEADERS)
        session.flashes.append(flash)
        anchor = f"#proposal-{proposal_id}" if PROPOSAL_ID_RE.fullmatch(proposal_id) else ""
        return web.Response(
            status=303, headers={"Location": f"/review{anchor}", **SECURITY_HEADERS}
        )

    def _announce(self, result: ReviewResult) -> None:
        """Tell the rest of the daemon that auto.toml changed (as the promotion worker does)."""
        applied = result.applied
        if not applied:
            return
        if self._bus is not None:
            self._bus.publish(
                OverridesChanged(
                    actor=result.operator,
                    proposal_id=result.proposal_id,
                    changes=tuple((o.key, o.before, o.after) for o in applied),
                    time=self._clock.now(),
                )
            )


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="peaktrade-review"'}


def routes(runtime: Runtime) -> RouteModule:
    """The review page's route module for the daemon's listener (see ``default_plugins``)."""
    page = ReviewPage(
        settings=lambda: runtime.snapshot().settings,
        clock=runtime.clock,
        alerts=runtime.alerts,
        database=runtime.database,
        bus=runtime.bus,
    )
    return page.register
