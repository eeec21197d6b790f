"""An operator approves a proposal in a real headless Chromium against a real daemon, and the
result is exactly what ``proposals approve`` does on a twin root (§8.7).

Needs Debian's ``chromium`` (``/usr/bin/chromium``) and the ``playwright`` package (its driver
only: the browser is the system's, never ``playwright install``). Without them the test is skipped
with the reason, except under CI (``CI=true``), where a missing browser fails the run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.learning.models import patches_to_json
from tests.daemon_harness import SIGTERM, DaemonProcess, NotifySocket, run_cli, set_toml
from tests.http.review_harness import TOKEN, demo_patches

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_ENV = "REVIEW_SCREENSHOT"  # where to keep the page's screenshot, if set
# Fields that differ between two runs by construction: times, and the hashes and ids built on them.
VOLATILE = {"time", "write_id", "prev_sha256", "file_sha256_after", "content_sha256_after"}


def chromium_or_skip() -> str:
    """The system Chromium's path; skip (or fail under CI=true) when it or playwright is missing."""
    reason = None
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "no chromium on PATH (apt-get install chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (pip install -e '.[dev]')"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run under CI: {reason}")
        pytest.skip(f"browser test skipped: {reason}")
    assert path is not None
    return path


def _auto_toml(root: Path) -> str:
    text = (root / "config/live_overrides/auto.toml").read_text()
    return re.sub(r'"\d{4}-\d\d-\d\dT[0-9:.]+\+00:00"', '"<time>"', text)


def _audit(root: Path) -> list[dict[str, Any]]:
    lines = (root / "reports/promotion_audit/audit.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


def _database(root: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(root / "state/peaktrade.db") as db:
        reviews = db.execute(
            "select proposal_id, status, reviewed_by, review_note from promotion_proposals"
        ).fetchall()
        index = db.execute(
            "select seq, event, actor, mode, proposal_id, key, before_json, after_json "
            "from promotion_audit_index order by seq"
        ).fetchall()
    return reviews, index


async def test_approve_in_chromium_equals_the_cli(project_root: Path, tmp_path: Path) -> None:
    chromium = chromium_or_skip()
    from playwright.async_api import async_playwright

    root = project_root
    patches = root / "demo_patches.json"
    patches.write_text(patches_to_json(demo_patches()))
    code, out, err = await run_cli(root, "promote", "--input", str(patches))
    assert code == 0, err
    [proposal_id] = [p.name for p in (root / "reports/live_promotion").iterdir()]
    assert (
        "manual_only"
        in (root / "reports/live_promotion" / proposal_id / "proposal_meta.json").read_text()
    )
    original = (root / "config/live_overrides/auto.toml").read_bytes()

    twin = tmp_path / "twin"
    shutil.copytree(root, twin)
    note = "checked <both> & approved"
    code, out, err = await run_cli(
        twin, "proposals", "approve", proposal_id, "--by", "alice", "--note", note
    )
    assert code == 0, err

    set_toml(root / "config/daemon.toml", "enabled = false ", "enabled = true ")
    set_toml(root / "config/daemon.toml", "port = 8787", "port = 0")
    notify = NotifySocket()
    daemon = DaemonProcess(root, notify=notify, env={"PEAKTRADE_HTTP__TOKEN": TOKEN})
    await daemon.start()
    try:
        await notify.expect("READY")
        url = json.loads((root / "state/daemon.heartbeat").read_text())["http_url"]
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1400},
            )
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                page.set_default_timeout(20_000)
                response = await page.goto(f"{url}/review")
                assert response is not None and response.status == 401
                await page.fill("#token", TOKEN)
                await page.click("#login")
                section = page.locator(f"#proposal-{proposal_id}")
                await section.wait_for()
                cookies = await context.cookies()
                [session] = [c for c in cookies if c["name"] == "peaktrade_review"]
                assert session["httpOnly"] and session["sameSite"] == "Strict"
                assert await page.evaluate("document.cookie") == ""  # invisible to scripts
                # The inline stylesheet applies under the CSP (allowed by its hash).
                header = "getComputedStyle(document.querySelector('header')).backgroundColor"
                assert await page.evaluate(header) == "rgb(29, 35, 48)"
                # The evidence chart (§9) is inline and decodes under the same CSP (img-src
                # data: only): a blocked or broken image has no natural size.
                chart = section.locator("figure.evidence img")
                await chart.wait_for()
                size = await chart.evaluate("img => [img.complete, img.naturalWidth]")
                assert size[0] and size[1] > 300, size
                assert "PASS" in await section.locator("table").inner_text()
                if os.environ.get(SCREENSHOT_ENV):
                    await page.screenshot(path=os.environ[SCREENSHOT_ENV], full_page=True)

                form = page.locator(f"#approve-{proposal_id}")
                for box in await form.locator('input[name="check"]').all():
                    await box.check()
                await form.locator('input[name="operator"]').fill("alice")
                await form.locator('textarea[name="note"]').fill(note)
                await form.locator('button[type="submit"]').click()
                flash = page.locator(".flash.ok")
                await flash.wait_for()
                assert f"Proposal {proposal_id} approved by alice" in await flash.inner_text()
                assert page.url == f"{url}/review#proposal-{proposal_id}"  # Post/Redirect/Get
            finally:
                await context.close()
        daemon.signal(SIGTERM)
        assert await daemon.wait() == 0
    finally:
        await daemon.kill()
        notify.close()

    assert (root / "config/live_overrides/auto.toml").read_bytes() != original
    assert _auto_toml(root) == _auto_toml(twin)
    assert (root / "config/live_overrides/auto.toml.backup").read_bytes() == original
    assert (twin / "config/live_overrides/auto.toml.backup").read_bytes() == original
    browser_audit, cli_audit = _audit(root), _audit(twin)
    assert browser_audit == cli_audit
    assert {r["actor"] for r in browser_audit if r["event"] in {"change", "review"}} == {"alice"}
    assert _database(root) == _database(twin)
    assert _database(root)[0] == [(proposal_id, "approved", "alice", note)]
    code, out, _ = await run_cli(root, "overrides", "verify-audit")
    assert code == 0, out


def test_a_missing_browser_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium on PATH"):
        chromium_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI: no chromium"):
        chromium_or_skip()
