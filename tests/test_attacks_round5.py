"""Fifth round of attacks (a red-team review after commit 5e4d063), on the surfaces the first four
left alone: file retention, the HTTP review page, the alert path (alert log, console/journal,
Slack), and ``alerts --follow``. Each test is one attack that got through before its fix (a run
folder that is a symlink is not pruned; a damaged proposal is a warning on the page;
evidence.png is read as an untrusted file; log, console and error lines escape every control
character; Slack text is escaped; a deep alert context is a skipped line; non-UTF-8 tokens and
forms are 401/400).

* **Retention follows a symlinked run folder.** ``prune_run_directories`` refuses symlinks one
  level down, but ``os.scandir(reports/workflows)`` follows ``reports/workflows`` itself. Whoever
  can write ``reports/`` replaces ``reports/workflows`` (or ``reports/replay``) with a symlink to
  ``../config`` (or ``../data``, or ``/``): every directory there untouched for ``report_days`` is
  ``rmtree``'d at the next pass: ``config/live_overrides/`` (auto.toml and its backup: live values
  fall back to base), ``config/scheduler/`` (jobs.toml), ``data/samples/``.
* **One edited proposal takes the review page down.** ``load_views`` catches OSError, ValueError,
  KeyError and TypeError around the file reads, but the reads raise ``DataError`` (a
  PeakTradeError, none of those), and ``_candidate`` runs outside the ``try`` (``tuple(5)``).
  An edit of one proposal's ``config_patches.json`` after it was recorded makes ``GET /review``
  a 500 for every proposal.
* **A FIFO as evidence.png hangs the review page and the daemon's stop.** ``evidence_chart``
  reads with ``Path.read_bytes`` (not ``read_untrusted``): a FIFO blocks the worker thread in
  ``open`` forever; the page never answers, and after SIGTERM the daemon reaches "stopped" but
  the process never exits (the blocked thread), until SIGKILL. A symlink to ``/dev/zero`` reads
  without bound.
* **A hand-edited key forges a journal record.** The hand-edit alert names the keys of auto.toml
  raw (``file_check.differences``); console lines escape only backslash, tab, CR and LF.
  journald splits a stream at NUL as at LF and reads a ``<N>`` prefix on each record, so a key
  ``"x\\u0000<0>..."`` makes an emergency-priority record; ESC sequences reach the terminal.
* **Slack mrkdwn from untrusted text.** ``slack_payload`` puts alert messages into mrkdwn
  without escaping ``&``, ``<``, ``>``: a field name in published_patches.json becomes an
  ``@channel`` ping and a link labelled as anything.
* **``alerts --follow`` stops on one line** (deep JSON: RecursionError is not ValueError) and
  prints a log line's ``source`` unescaped (a tampered log forges output lines).
* **Non-UTF-8 bytes in the token header or the form body are a 500** with a traceback
  (``str.encode`` of surrogate-escaped header text; aiohttp's ``post()`` decoding).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from peaktrade_daemon.alerts.model import Alert, AlertLevel
from peaktrade_daemon.alerts.webhook import slack_payload
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.promotion.inbox import PatchInbox
from peaktrade_daemon.settings import DaemonSettings, RetentionSection, StateSection, load_settings
from peaktrade_daemon.storage.file_retention import ReportRetention
from tests.conftest import subprocess_env
from tests.http.review_harness import TOKEN, client, demo_patches, promote, review_server
from tests.promotion.conftest import make_patch

DAY_S = 86_400.0
HEADER = {"X-PeakTrade-Token": TOKEN}
SHORT = aiohttp.ClientTimeout(total=4)


def _age_tree(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY_S
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in (*filenames, *dirnames):
            os.utime(os.path.join(dirpath, name), (stamp, stamp), follow_symlinks=False)
    os.utime(path, (stamp, stamp))


def _tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


# -- retention ---------------------------------------------------------------------------------


async def test_retention_never_deletes_through_a_symlinked_run_folder(project_root: Path) -> None:
    """reports/workflows -> ../config and reports/replay -> ../data: nothing outside reports/
    may go, however old it is (SPEC §11: run directories under reports/ only)."""
    reports = project_root / "reports"
    (reports / "workflows").symlink_to("../config", target_is_directory=True)
    (reports / "replay").symlink_to("../data", target_is_directory=True)
    for tree in ("config", "data"):  # a quiet deployment: untouched for 200 days
        _age_tree(project_root / tree, 200)
    config_before, data_before = _tree(project_root / "config"), _tree(project_root / "data")
    assert "live_overrides/auto.toml" in config_before

    settings = DaemonSettings(
        root=project_root, state=StateSection(retention=RetentionSection(report_days=90))
    )
    rule = ReportRetention(lambda: settings, ManualClock(datetime.now(UTC)))
    removed = await asyncio.wait_for(rule(settings.state.retention), 5)

    assert _tree(project_root / "config") == config_before, removed
    assert _tree(project_root / "data") == data_before, removed
    assert removed == {}


# -- the review page ---------------------------------------------------------------------------


async def _two_proposals(rs) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    first = await promote(rs.workspace, rs.database, now=datetime(2026, 12, 1, tzinfo=UTC))
    second = await promote(
        rs.workspace,
        rs.database,
        [make_patch("macro.regime_weight", 0.35, old=0.25, pid="w1")],
        now=datetime(2026, 12, 2, tzinfo=UTC),
    )
    return first, second


@pytest.mark.parametrize("damage", ["planned_steps is a number", "not JSON"])
async def test_one_edited_proposal_does_not_take_the_review_page_down(
    project_root: Path, damage: str
) -> None:
    """An edited config_patches.json (after the proposal was recorded) is a warning on the
    page, the other proposal still shows: "what cannot be read becomes a warning on the page,
    never a crash" (review_model)."""
    async with review_server(project_root) as rs:
        edited, intact = await _two_proposals(rs)
        path = rs.workspace.proposals_dir / edited / "config_patches.json"
        if damage == "not JSON":  # DataError from ProposalFiles._json_object: not caught
            path.write_text("{not json")
        else:  # TypeError in _candidate, outside load_views' try
            data = json.loads(path.read_text())
            data["candidates"][0]["planned_steps"] = 5
            path.write_text(json.dumps(data))
        async with (
            client(rs.url) as c,
            c.get(f"{rs.url}/review", headers=HEADER, timeout=SHORT) as r,
        ):
            page = await r.text()
            assert r.status == 200, (r.status, page[:200])
        assert f'id="proposal-{intact}"' in page


async def test_a_fifo_as_evidence_chart_does_not_hang_the_review_page(project_root: Path) -> None:
    """evidence.png is a file under reports/ like the others: a FIFO planted there must not
    block the page (nor, in the daemon, its stop: the blocked thread keeps the process alive
    after "stopped" until SIGKILL)."""
    async with review_server(project_root) as rs:
        pid = await promote(rs.workspace, rs.database, demo_patches())
        chart = rs.workspace.proposals_dir / pid / "evidence.png"
        chart.unlink(missing_ok=True)
        os.mkfifo(chart)
        try:
            async with client(rs.url) as c:
                try:
                    async with c.get(f"{rs.url}/review", headers=HEADER, timeout=SHORT) as r:
                        status = r.status
                except TimeoutError:
                    status = None
            assert status == 200, "GET /review never answered: blocked opening the FIFO"
        finally:
            # Release the worker thread blocked in open() (a writer that closes at once).
            with contextlib.suppress(OSError):
                os.close(os.open(chart, os.O_WRONLY | os.O_NONBLOCK))


async def _raw_http(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        writer.write(request)
        await asyncio.wait_for(writer.drain(), 5)
        return await asyncio.wait_for(reader.read(200), 5)
    finally:
        writer.close()


async def test_non_utf8_token_or_form_bytes_are_refused_not_a_500(project_root: Path) -> None:
    """A header or form that is not UTF-8 is a wrong token (401) or a bad request (400), not an
    unhandled exception with a traceback in the log."""
    async with review_server(project_root) as rs:
        port = rs.server.port
        assert port is not None
        host = f"127.0.0.1:{port}".encode()
        statuses = {}
        for name, header in (
            ("X-PeakTrade-Token", b"X-PeakTrade-Token: \xff\xfe"),
            ("Authorization", b"Authorization: Bearer \xff"),
        ):
            answer = await _raw_http(
                port,
                b"GET /review HTTP/1.1\r\nHost: "
                + host
                + b"\r\n"
                + header
                + b"\r\nConnection: close\r\n\r\n",
            )
            statuses[name] = answer.split(b"\r\n", 1)[0]
        body = b"token=\xff\xfe"
        answer = await _raw_http(
            port,
            b"POST /review/login HTTP/1.1\r\nHost: "
            + host
            + b"\r\nOrigin: http://"
            + host
            + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body,
        )
        statuses["login form"] = answer.split(b"\r\n", 1)[0]
        assert all(b" 500 " not in line for line in statuses.values()), statuses


# -- the alert path ----------------------------------------------------------------------------

HAND_EDIT = (
    "[auto_applied]\n"
    '"portfolio.leverage\\u0000<0>EMERGENCY forged by a hand edit" = 1.5\n'
    '"x\\u001b[2J\\u001b]0;owned\\u0007" = 2\n'
)


def _journal_records(raw: bytes) -> list[bytes]:
    """A stream as journald cuts it into records: at LF and at NUL."""
    return [r for r in re.split(rb"[\n\x00]", raw) if r]


def _hand_edited_promote(root: Path, tmp_path: Path) -> bytes:
    """`promote` in bounded_auto over a hand-edited auto.toml (it refuses with a critical alert
    naming the keys) with stderr as the journal stream; returns stderr's bytes."""
    (root / "config/live_overrides/auto.toml").write_text(HAND_EDIT, encoding="utf-8")
    patches = tmp_path / "patches.json"
    patch = make_patch("portfolio.leverage", 1.25, old=1.0, pid="p1").to_dict()
    patches.write_text(json.dumps({"patches": [patch]}))
    err_path = tmp_path / "stderr"
    with err_path.open("wb") as err:
        st = os.fstat(err.fileno())
        env = subprocess_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "peaktrade_daemon",
                "--root",
                str(root),
                "promote",
                "--auto-apply-mode",
                "bounded_auto",
                "--input",
                str(patches),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 3  # refused: the hand edit was seen
    return err_path.read_bytes()


def test_a_hand_edited_key_cannot_forge_a_journal_record(
    project_root: Path, tmp_path: Path
) -> None:
    """Every journal record the refusal writes carries the priority the daemon chose (<2>
    critical, <3> error); none is cut out of a key by a NUL."""
    raw = _hand_edited_promote(project_root, tmp_path)
    assert b"EMERGENCY forged" in raw  # the key is named (as §8.8 wants)
    forged = [r for r in _journal_records(raw) if not r.startswith((b"<2>", b"<3>"))]
    assert not forged, forged


def test_a_hand_edited_key_cannot_send_terminal_escapes(project_root: Path, tmp_path: Path) -> None:
    """The console line (and the alert log) show control characters escaped, not raw ESC/BEL
    (they clear the operator's screen or retitle the terminal)."""
    raw = _hand_edited_promote(project_root, tmp_path)
    log = (project_root / "logs/autonomous_alerts.log").read_bytes()
    for where, data in (("stderr", raw), ("alert log", log)):
        assert b"\x1b" not in data and b"\x07" not in data, where


async def test_slack_payload_escapes_untrusted_text(project_root: Path) -> None:
    """A field name in reports/learning/published_patches.json reaches the inbox's warning
    alert; in Slack's mrkdwn ``<!channel>`` pings everyone and ``<url|text>`` is a disguised
    link: ``&``, ``<`` and ``>`` must be escaped (Slack: "Escaping text")."""
    emitted: list[Alert] = []

    class Recorder:
        async def emit(self, level, source, message, context=None):  # type: ignore[no-untyped-def]
            emitted.append(Alert(datetime.now(UTC), level, source, message, context or {}))

    box = PatchInbox(
        load_settings(project_root),
        clock=ManualClock(),
        alerts=Recorder(),
        publish=lambda event: None,
    )
    box.path.parent.mkdir(parents=True, exist_ok=True)
    entry = make_patch("portfolio.leverage", 1.25, old=1.0, pid="p1").to_dict()
    entry["<!channel> <https://evil.example/approve|Approve the proposal here>"] = 1
    box.path.write_text(json.dumps({"patches": [entry]}))
    await asyncio.wait_for(box.check(), 5)
    [alert] = emitted
    assert alert.level is AlertLevel.WARNING and "evil.example" in alert.message
    text = slack_payload(alert)["text"]
    assert "<!channel>" not in text and "<https://" not in text, text


def _follow(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "peaktrade_daemon", "--root", str(root), "alerts", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )


def _append(log: Path, *lines: str) -> None:
    with log.open("a", encoding="utf-8") as handle:
        handle.write("".join(lines))


def _stop(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate(timeout=10)


def test_alerts_follow_survives_a_deeply_nested_line(project_root: Path) -> None:
    """``alerts --follow`` skips a line that is not an alert ("never stop following for one"),
    even one whose context nests 100000 deep."""
    log = project_root / "logs/autonomous_alerts.log"
    log.write_text("")
    proc = _follow(project_root)
    try:
        time.sleep(2.0)  # it seeks to the end once it has opened the file
        _append(
            log,
            "2026-12-07T00:00:00.000Z\tinfo\tx\tbefore\t{}\n",
            "2026-12-07T00:00:00.000Z\tinfo\tx\tdeep\t" + "[" * 100_000 + "\n",
            "2026-12-07T00:00:00.000Z\tinfo\tx\tafter\t{}\n",
        )
        time.sleep(1.5)
        alive = proc.poll() is None
    finally:
        out, err = _stop(proc)
    assert b"before" in out, (out, err[-300:])
    assert alive and b"after" in out, err[-300:]


def test_alerts_follow_prints_one_line_per_alert(project_root: Path) -> None:
    """A log line's fields are shown escaped: a source holding an (escaped) newline does not
    become a second, forged output line."""
    log = project_root / "logs/autonomous_alerts.log"
    log.write_text("")
    proc = _follow(project_root)
    try:
        time.sleep(2.0)
        forged = (
            "x]\\n[2026-12-07T00:00:00.000Z] [CRITICAL] [promotion] auto-applied "
            "portfolio.leverage: 1.0 -> 3.0 [x"
        )
        _append(log, f"2026-12-07T00:00:00.000Z\tinfo\t{forged}\tnothing to see\t{{}}\n")
        time.sleep(1.5)
    finally:
        out, _ = _stop(proc)
    shown = [line for line in out.decode().splitlines() if line.startswith("[2026-12-07")]
    assert len(shown) == 1, shown
