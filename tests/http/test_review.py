"""The review page over HTTP on 127.0.0.1: token, sessions, CSRF, approve and reject, escaping."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from peaktrade_daemon.http.review_auth import COOKIE_NAME
from peaktrade_daemon.promotion.models import OverridesChanged
from peaktrade_daemon.settings import load_settings
from tests.http.review_harness import (
    TIMEOUT,
    TOKEN,
    approve_form,
    client,
    csrf_of,
    demo_patches,
    login,
    promote,
    review_server,
)
from tests.promotion.conftest import make_patch

DEMO_STEP = {"portfolio.leverage": 1.25, "strategy.trigger_delay": 8.0, "macro.regime_weight": 0.35}


def _review_row(root: Path, proposal_id: str) -> tuple[str, str | None, str | None]:
    with sqlite3.connect(root / "state/peaktrade.db") as db:
        row = db.execute(
            "select status, reviewed_by, review_note from promotion_proposals "
            "where proposal_id = ?",
            (proposal_id,),
        ).fetchone()
    return tuple(row)  # type: ignore[return-value]


async def test_no_token_configured_refuses_everything_and_says_why(project_root: Path) -> None:
    for token in (None, ""):
        async with review_server(project_root, token=token) as rs:
            pid = await promote(rs.workspace, rs.database)
            before = rs.state()
            async with client(rs.url) as c:
                async with c.get(f"{rs.url}/review") as r:
                    assert r.status == 403
                    page = await r.text()
                    assert "no http.token is configured" in page and pid not in page
                for path in ("login", f"{pid}/approve", f"{pid}/reject"):
                    async with c.post(
                        f"{rs.url}/review/{path}",
                        data={"token": "", "operator": "x", "note": "y"},
                        headers={"Authorization": "Bearer "},
                    ) as r:
                        assert r.status == 403, path
            assert rs.state() == before


async def test_401_without_or_with_a_wrong_token(project_root: Path) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        before = rs.state()
        async with client(rs.url) as c:
            async with c.get(f"{rs.url}/review") as r:
                assert r.status == 401
                page = await r.text()
                assert 'action="/review/login"' in page and pid not in page
            async with c.post(f"{rs.url}/review/login", data={"token": TOKEN + "x"}) as r:
                assert r.status == 401 and "Wrong token" in await r.text()
            assert COOKIE_NAME not in {cookie.key for cookie in c.cookie_jar}
            async with c.get(f"{rs.url}/review", headers={"X-PeakTrade-Token": "nope"}) as r:
                assert r.status == 401
            async with c.post(f"{rs.url}/review/{pid}/approve", data=approve_form("whatever")) as r:
                assert r.status == 401
            async with c.post(
                f"{rs.url}/review/{pid}/approve",
                data=approve_form("whatever"),
                headers={"Authorization": "Bearer wrong"},
            ) as r:
                assert r.status == 401
            async with c.get(f"{rs.url}/review", cookies={COOKIE_NAME: "forged"}) as r:
                assert r.status == 401
        assert rs.state() == before


async def test_login_cookie_is_httponly_strict_and_the_page_shows_the_proposal(
    project_root: Path,
) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        async with client(rs.url) as c:
            async with c.post(
                f"{rs.url}/review/login", data={"token": TOKEN}, allow_redirects=False
            ) as r:
                assert r.status == 303 and r.headers["Location"] == "/review"
                cookie = r.cookies[COOKIE_NAME]
                assert cookie["httponly"] and cookie["samesite"] == "Strict"
                assert cookie["path"] == "/review"
            async with c.get(f"{rs.url}/review") as r:
                assert r.status == 200
                page = await r.text()
                csp = r.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src" not in csp
            assert "<script" not in page and "http://" not in page and "https://" not in page
            assert f'id="proposal-{pid}"' in page and "pending" in page
            # current live vs proposed and the planned steps (base 1.0, steps of 0.25)
            assert "<td>1.0</td><td>1.0</td><td>1.75</td><td>1.25, 1.5, 1.75</td>" in page
            assert "Go/No-Go decision per the governance runbook" in page
            assert f'action="/review/{pid}/approve"' in page
            assert f'action="/review/{pid}/reject"' in page
            csrf = csrf_of(page)
            async with c.post(f"{rs.url}/review/logout", data={"csrf": csrf}) as r:
                assert r.status == 401  # back on the login form
            async with c.get(f"{rs.url}/review") as r:
                assert r.status == 401


async def test_csrf_and_origin_failures_change_nothing(project_root: Path) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        before = rs.state()
        async with client(rs.url) as c:
            csrf = await login(c, rs.url)
            url = f"{rs.url}/review/{pid}/approve"
            form = approve_form(csrf)
            no_csrf = [(k, v) for k, v in form if k != "csrf"]
            cases = [
                (no_csrf, {}),
                (approve_form(csrf[:-1] + ("A" if csrf[-1] != "A" else "B")), {}),
                (form, {"Origin": "http://evil.example"}),
                (form, {"Origin": "null"}),
            ]
            for data, headers in cases:
                async with c.post(url, data=data, headers=headers) as r:
                    assert r.status == 403, (data, headers)
                    assert "CSRF check failed" in await r.text()
            async with c.post(
                f"{rs.url}/review/login",
                data={"token": TOKEN},
                headers={"Origin": "http://evil.example"},
            ) as r:
                assert r.status == 403  # no login CSRF either
        # No Origin and no Referer at all: refused too (fail closed).
        async with aiohttp.ClientSession(
            timeout=TIMEOUT, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as bare:
            async with bare.post(
                f"{rs.url}/review/login", data={"token": TOKEN}, headers={"Origin": rs.url}
            ) as r:
                csrf = csrf_of(await r.text())
            async with bare.post(url, data=approve_form(csrf)) as r:
                assert r.status == 403
            async with bare.post(
                url, data=approve_form(csrf), headers={"Referer": f"{rs.url}/review"}
            ) as r:
                assert r.status == 200  # followed the 303: a same-origin Referer is enough
        assert rs.state() != before  # the last one went through...
        assert [r["actor"] for r in rs.audit() if r["event"] == "change"] == ["alice"] * 3


async def test_approve_through_the_form(project_root: Path) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        before = rs.state()
        changed = rs.bus.expect(OverridesChanged)
        async with client(rs.url) as c:
            csrf = await login(c, rs.url)
            url = f"{rs.url}/review/{pid}/approve"
            unticked = [(k, v) for k, v in approve_form(csrf) if (k, v) != ("check", "5")]
            async with c.post(url, data=unticked) as r:
                assert r.status == 200  # redirected back, with the reason
                assert "tick all six review boxes" in await r.text()
            async with c.post(url, data=approve_form(csrf, operator="auto")) as r:
                assert "reserved for automated actors" in await r.text()
            assert rs.state() == before
            async with c.post(url, data=approve_form(csrf), allow_redirects=False) as r:
                assert r.status == 303
                assert r.headers["Location"] == f"/review#proposal-{pid}"
            async with c.get(f"{rs.url}/review") as r:
                page = await r.text()
            assert f"Proposal {pid} approved by alice" in page
            assert "portfolio.leverage: 1.0 -&gt; 1.25" in page
            async with c.get(f"{rs.url}/review") as r:
                assert f"Proposal {pid} approved by alice" not in await r.text()  # shown once
        assert rs.live() == DEMO_STEP
        changes = [r for r in rs.audit() if r["event"] == "change"]
        assert {(r["actor"], r["mode"], r["proposal_id"]) for r in changes} == {
            ("alice", "manual_approval", pid)
        }
        [review] = [r for r in rs.audit() if r["event"] == "review"]
        assert (review["decision"], review["actor"], review["note"]) == ("approved", "alice", "ok")
        assert _review_row(project_root, pid) == ("approved", "alice", "ok")
        event = await asyncio.wait_for(changed, 5)
        assert event.actor == "alice" and event.proposal_id == pid
        assert {key for key, _, _ in event.changes} == set(DEMO_STEP)
        # Counted once, from the event (the review page used to count it a second time itself).
        assert await rs.bus.drain(5)
        assert rs.metrics.overrides_applied.labels(key="portfolio.leverage").value == 1


async def test_reject_needs_a_note_and_then_blocks_approval(project_root: Path) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        before = rs.state()
        async with client(rs.url) as c:
            csrf = await login(c, rs.url)
            url = f"{rs.url}/review/{pid}/reject"
            async with c.post(url, data={"csrf": csrf, "operator": "bob", "note": "  "}) as r:
                assert "a note is required" in await r.text()
            assert rs.state() == before and _review_row(project_root, pid)[0] == "pending"
            async with c.post(url, data={"csrf": csrf, "operator": "bob", "note": "not now"}) as r:
                page = await r.text()
            assert f"Proposal {pid} rejected by bob." in page
            assert f'id="proposal-{pid}"' not in page and 'id="reviewed"' in page
            async with c.post(f"{rs.url}/review/{pid}/approve", data=approve_form(csrf)) as r:
                assert "was rejected by bob" in await r.text()
        assert rs.live() == {}
        assert _review_row(project_root, pid) == ("rejected", "bob", "not now")
        [review] = [r for r in rs.audit() if r["event"] == "review"]
        assert (review["decision"], review["actor"], review["note"]) == (
            "rejected",
            "bob",
            "not now",
        )


async def test_scripts_use_the_header_token_and_get_json(project_root: Path) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(timeout=TIMEOUT, headers=headers) as c:
            async with c.post(
                f"{rs.url}/review/{pid}/approve",
                data=approve_form("", operator="ci-bot", note="scripted"),
            ) as r:
                assert r.status == 200
                assert await r.json() == {
                    "proposal_id": pid,
                    "status": "approved",
                    "operator": "ci-bot",
                }
            async with c.post(
                f"{rs.url}/review/20990101T000000Z-00000000/reject",
                data={"operator": "ci-bot", "note": "x"},
            ) as r:
                assert r.status == 400 and "no proposal" in (await r.json())["error"]
            async with c.post(
                f"{rs.url}/review/..%2F..%2Fetc/reject", data={"operator": "a", "note": "x"}
            ) as r:
                assert r.status in (400, 404)
            async with c.get(f"{rs.url}/review") as r:
                page = await r.text()
                assert r.status == 200 and pid in page
                assert "<form" not in page  # a script's view: read-only, no CSRF token to leak
        assert rs.live() == DEMO_STEP


async def test_a_safety_refusal_raises_a_critical_alert_and_writes_nothing(
    project_root: Path,
) -> None:
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database)
        policy = project_root / "config/promotion.toml"
        policy.write_text(
            policy.read_text().replace(
                "global_promotion_lock = false", "global_promotion_lock = true"
            )
        )
        before = rs.state()
        async with client(rs.url) as c:
            csrf = await login(c, rs.url)
            async with c.post(f"{rs.url}/review/{pid}/approve", data=approve_form(csrf)) as r:
                assert "global_promotion_lock" in await r.text()
            async with c.post(
                f"{rs.url}/review/{pid}/approve",
                data=approve_form(""),
                headers={"X-PeakTrade-Token": TOKEN},
            ) as r:
                assert r.status == 409
        assert rs.state() == before
        assert _review_row(project_root, pid)[0] == "pending"
        alerts = (project_root / "logs/autonomous_alerts.log").read_text().splitlines()
        # The second refusal is the same alert inside the de-duplication window: counted (its
        # summary is written when the window closes), not repeated.
        assert len(alerts) == 1
        assert all(a.split("\t")[1:3] == ["critical", "promotion"] for a in alerts)
    closed = (project_root / "logs/autonomous_alerts.log").read_text().splitlines()
    assert len(closed) == 2 and "global_promotion_lock" in closed[1]


async def test_a_new_token_ends_browser_sessions(project_root: Path) -> None:
    async with review_server(project_root) as rs, client(rs.url) as c:
        await login(c, rs.url)
        async with c.get(f"{rs.url}/review") as r:
            assert r.status == 200
        settings = load_settings(
            project_root,
            cli_overrides={"http": {"enabled": True, "port": 0, "token": "rotated"}},
        )
        http = rs.server._settings
        rs.server._settings = settings.http  # what reload() adopts (same host/port)
        async with c.get(f"{rs.url}/review") as r:
            assert r.status == 401
        rs.server._settings = http
        async with c.get(f"{rs.url}/review") as r:
            assert r.status == 401  # the session was dropped, not just hidden
    assert isinstance(settings.http.token, SecretStr)


async def test_hostile_proposal_content_is_escaped(project_root: Path) -> None:
    hostile = '<script>alert("x")</script>'
    patches = [
        *demo_patches(),
        make_patch(f"macro.{hostile}", 1.0, pid=f"id-{hostile}", tags=(hostile,)),
    ]
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database, patches)
        other = await promote(rs.workspace, rs.database)
        async with client(rs.url) as c:
            csrf = await login(c, rs.url)
            async with c.post(
                f"{rs.url}/review/{other}/reject",
                data={
                    "csrf": csrf,
                    "operator": "<img src=x onerror=alert(1)>",
                    "note": f"</textarea>{hostile}",
                },
            ) as r:
                page = await r.text()
        assert pid in page and other in page
        assert "<script" not in page and "<img" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # shown, inert
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert page.count("</textarea>") == page.count("<textarea")


async def test_unavailable_without_a_state_database(project_root: Path) -> None:
    async with (
        review_server(project_root, dry_run=True) as rs,
        client(rs.url) as c,
        c.get(f"{rs.url}/review", headers={"X-PeakTrade-Token": TOKEN}) as r,
    ):
        assert r.status == 503 and "--dry-run" in await r.text()
