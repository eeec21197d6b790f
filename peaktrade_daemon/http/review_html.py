"""The review page's HTML: plain Python string building, every value escaped on the way in.

No template engine and no external asset: one inline stylesheet (allowed by its hash in the
Content-Security-Policy, so no other style or any script can run), no JavaScript. Everything that
comes from a proposal, the database or the operator passes through :func:`esc`, because a patch
target, a reason or a note is data that a learning run or a person wrote.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from peaktrade_daemon.http.review_auth import Flash
from peaktrade_daemon.http.review_model import CandidateView, ProposalView
from peaktrade_daemon.promotion.checklist import REVIEW_BOXES

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.8rem 1.5rem;display:flex;align-items:center;gap:1rem}
header h1{font-size:1.15rem;margin:0;flex:1}
main{max-width:96rem;margin:1rem auto;padding:0 1rem}
section{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:1rem 1.25rem;margin:1rem 0}
h2{font-size:1.05rem;margin:.2rem 0 .6rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9em}
.scroll{overflow-x:auto}
td.reasons{width:28%}
td:first-child{white-space:nowrap}
th,td{border-bottom:1px solid #e3e6eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
code,pre{font-family:ui-monospace,monospace;font-size:.9em}
pre{background:#f7f8fa;border:1px solid #e3e6eb;padding:.75rem;overflow:auto;white-space:pre-wrap}
.flash{padding:.6rem 1rem;border-radius:4px;margin:.75rem 0}
.ok{background:#e3f4e8;border:1px solid #8cc9a0}
.error{background:#fbe6e6;border:1px solid #e09a9a}
.warn{background:#fff5da;border:1px solid #e6c96b}
.badge{display:inline-block;padding:0 .45rem;border-radius:3px;font-size:.85em;background:#e3e6eb}
.accepted{background:#dff0e4}.rejected{background:#f6e0e0}
.forms{display:flex;gap:1rem;flex-wrap:wrap}
form.review{flex:1 1 20rem;border:1px solid #d5d9e0;border-radius:6px;padding:.75rem}
form.review h3{margin:.1rem 0 .5rem;font-size:1rem}
label{display:block;margin:.35rem 0}
input[type=text],input[type=password],textarea{width:100%;box-sizing:border-box;padding:.35rem;font:inherit}
button{font:inherit;padding:.4rem 1rem;border-radius:4px;border:1px solid #1d2330;cursor:pointer}
.approve button{background:#1f7a3d;color:#fff;border-color:#1f7a3d}
.reject button{background:#a12c2c;color:#fff;border-color:#a12c2c}
header button{background:transparent;color:#fff;border-color:#fff}
.muted{color:#5b6372}
.evidence img{max-width:100%;border:1px solid #d8dce3}
"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        # img-src data: only: the evidence chart is inline (no request, nothing else loads).
        f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src data:; "
        "form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def esc(value: object) -> str:
    """HTML-escape any value (quotes too, so it is safe inside attributes)."""
    return escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A value as the checklist prints it (JSON; ``-`` for none), escaped."""
    return "-" if value is None else esc(json.dumps(value))


def document(title: str, body: str, *, csrf: str | None = None) -> str:
    """A whole page; with ``csrf`` the header carries a logout button."""
    logout = (
        '<form method="post" action="/review/logout">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        '<button type="submit" id="logout">Log out</button></form>'
        if csrf
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>PeakTrade · {esc(title)}</h1>{logout}</header><main>{body}</main></body></html>"
    )


def flashes_html(flashes: Iterable[Flash]) -> str:
    """One-time messages after a redirect."""
    return "".join(
        f'<div class="flash {esc(f.kind)}" role="status">{esc(f.text)}</div>' for f in flashes
    )


def login_page(message: str | None = None) -> str:
    """The token form (served with 401 until the browser has a session)."""
    note = f'<div class="flash error" role="alert">{esc(message)}</div>' if message else ""
    body = (
        f"{note}<section><h2>Log in</h2>"
        '<p class="muted">Enter the review token (<code>http.token</code> in daemon.toml or '
        "<code>PEAKTRADE_HTTP__TOKEN</code>).</p>"
        '<form method="post" action="/review/login">'
        '<label>Token <input type="password" name="token" id="token" required '
        'autocomplete="current-password"></label>'
        '<button type="submit" id="login">Log in</button></form></section>'
    )
    return document("Proposal review", body)


def notice_page(title: str, message: str) -> str:
    """A page that only explains why nothing can be done (disabled, refused, unavailable)."""
    body = f'<section><h2>{esc(title)}</h2><p class="flash warn">{esc(message)}</p></section>'
    return document("Proposal review", body)


def _candidates_table(candidates: Sequence[CandidateView]) -> str:
    rows = "".join(
        f'<tr class="{"accepted" if c.accepted else "rejected"}">'
        f"<td><code>{esc(c.target)}</code></td><td>{esc(c.verdict)}</td>"
        f"<td>{fmt(c.live_at_proposal)}</td><td>{fmt(c.live_now)}</td>"
        f"<td>{fmt(c.proposed)}</td>"
        f"<td>{', '.join(fmt(s) for s in c.planned_steps) or '-'}</td>"
        f"<td>{fmt(c.confidence)}</td><td>{'<br>'.join(esc(f) for f in c.safety_flags) or '-'}</td>"
        f'<td class="reasons">{"<br>".join(esc(r) for r in c.reasons)}</td>'
        f"<td>{esc(c.evidence)}</td></tr>"
        for c in candidates
    )
    return (
        '<div class="scroll"><table><thead><tr><th>Key</th><th>Verdict</th><th>Live when proposed</th>'
        "<th>Live now</th><th>Proposed</th><th>Planned steps</th><th>Confidence</th>"
        "<th>Safety flags</th><th>Reasons</th><th>Evidence</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _chart(view: ProposalView) -> str:
    """The evidence chart, inline (a data: URI, allowed by the page's CSP)."""
    if view.evidence_chart is None:
        return ""
    data = base64.b64encode(view.evidence_chart).decode("ascii")
    return (
        '<figure class="evidence"><img alt="Evidence: live and candidate equity and drawdown" '
        f'src="data:image/png;base64,{data}"><figcaption>Evidence (§9): the live value and each '
        "candidate's next step, same bars</figcaption></figure>"
    )


def _forms(view: ProposalView, csrf: str) -> str:
    pid = esc(view.proposal_id)
    hidden = f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
    boxes = "".join(
        f'<label><input type="checkbox" name="check" value="{i}" required> {esc(box)}</label>'
        for i, box in enumerate(REVIEW_BOXES)
    )
    return (
        '<div class="forms">'
        f'<form class="review approve" id="approve-{pid}" method="post" '
        f'action="/review/{pid}/approve">{hidden}<h3>Approve</h3>{boxes}'
        '<label>Operator <input type="text" name="operator" required maxlength="128"></label>'
        '<label>Note <textarea name="note" rows="2" maxlength="4000"></textarea></label>'
        '<button type="submit">Approve: apply one bounded step</button></form>'
        f'<form class="review reject" id="reject-{pid}" method="post" '
        f'action="/review/{pid}/reject">{hidden}<h3>Reject</h3>'
        '<label>Operator <input type="text" name="operator" required maxlength="128"></label>'
        '<label>Note (required) <textarea name="note" rows="2" required maxlength="4000">'
        "</textarea></label>"
        '<button type="submit">Reject</button></form></div>'
    )


def proposal_section(view: ProposalView, csrf: str | None) -> str:
    """One open proposal: summary, candidates, checklist, and the forms (when allowed)."""
    reviewed = (
        f"<p>Last review: {esc(view.status)} by {esc(view.reviewed_by)} at "
        f"{esc(view.reviewed_at)}: {esc(view.review_note or '')}</p>"
        if view.reviewed_by
        else ""
    )
    forms = _forms(view, csrf) if csrf is not None else ""
    return (
        f'<section id="proposal-{esc(view.proposal_id)}">'
        f"<h2>Proposal <code>{esc(view.proposal_id)}</code> "
        f'<span class="badge">{esc(view.status)}</span></h2>'
        f'<p class="muted">Created {esc(view.created_at)} · mode {esc(view.mode)}</p>{reviewed}'
        f"{_candidates_table(view.candidates)}{_chart(view)}"
        f"<details><summary>Operator checklist</summary><pre>{esc(view.checklist)}</pre></details>"
        f"{forms}</section>"
    )


def _reviewed_table(views: Sequence[ProposalView]) -> str:
    if not views:
        return ""
    rows = "".join(
        f"<tr><td><code>{esc(v.proposal_id)}</code></td><td>{esc(v.status)}</td>"
        f"<td>{esc(v.reviewed_by or '-')}</td><td>{esc(v.reviewed_at or '-')}</td>"
        f"<td>{esc(v.review_note or '')}</td></tr>"
        for v in views
    )
    return (
        '<section id="reviewed"><h2>Reviewed</h2><table><thead><tr><th>Proposal</th>'
        "<th>Status</th><th>By</th><th>At</th><th>Note</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def review_page(
    views: Sequence[ProposalView],
    *,
    csrf: str | None,
    flashes: Iterable[Flash] = (),
    warnings: Iterable[str] = (),
) -> str:
    """The page: messages, warnings, open proposals with their forms (none without ``csrf``: a
    script's header-authenticated view), then the reviewed ones."""
    open_views = [v for v in views if v.open]
    warn = "".join(f'<div class="flash warn" role="alert">{esc(w)}</div>' for w in warnings)
    sections = "".join(proposal_section(v, csrf) for v in open_views) or (
        '<section><p class="muted">No proposal is waiting for review.</p></section>'
    )
    body = (
        flashes_html(flashes) + warn + sections + _reviewed_table([v for v in views if not v.open])
    )
    return document("Proposal review", body, csrf=csrf)
