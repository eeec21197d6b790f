"""The review page's HTML: whatever a proposal or an operator wrote, the markup stays ours."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.http.review_auth import Flash
from peaktrade_daemon.http.review_html import STYLE, STYLE_HASH, review_page
from peaktrade_daemon.http.review_model import CandidateView, ProposalView


class _Tags(HTMLParser):
    """Records the structure: every start/end tag with its attribute names."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.tags.append((f"/{tag}", ()))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser


def _views(text: str, status: str) -> list[ProposalView]:
    candidate = CandidateView(
        target=text,
        verdict=text,
        accepted=True,
        proposed=text,
        live_at_proposal=1.0,
        live_now=None,
        planned_steps=(text, 1.5),
        confidence=0.9,
        safety_flags=(text,),
        reasons=(text, text),
    )
    return [
        ProposalView(
            proposal_id="20240101T000000Z-0123abcd",
            created_at=text,
            mode=text,
            status=status,
            reviewed_by=text,
            reviewed_at=text,
            review_note=text,
            checklist=text,
            candidates=(candidate,),
        )
    ]


def _page(text: str, status: str) -> str:
    return review_page(
        _views(text, status),
        csrf=None if status == "rejected" else "csrf-token",
        flashes=[Flash("ok", text)],
        warnings=[text],
    )


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("<>&\"'/=ab !-\n\tscript`"), min_size=1),
    status=st.sampled_from(["pending", "approved", "rejected"]),
)
def test_any_text_leaves_the_markup_unchanged_and_is_shown_verbatim(text: str, status: str) -> None:
    hostile, benign = _parse(_page(text, status)), _parse(_page("x", status))
    assert hostile.tags == benign.tags
    shown = "".join(hostile.text)
    assert text.strip() in shown or text.strip() == ""


def test_the_stylesheet_is_allowed_by_its_hash_only() -> None:
    import base64
    import hashlib

    assert base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode() == STYLE_HASH
    page = _page("x", "pending")
    assert page.count("<style>") == 1 and "<script" not in page and "src=" not in page
