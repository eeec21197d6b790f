"""What learning and promotion *write* from any valid patch: the offline override file must
parse back to exactly the patches written, and a promotion run must write proposal files that
parse, for any target text and scalar value a ConfigPatch accepts (unicode, quotes, newlines,
huge numbers). A file the product writes and then cannot read would silently disable it.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.config.overrides import flatten
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.learning.cycle import run_learning_cycle
from peaktrade_daemon.learning.emitter import emit_snippet
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.proposals import META_FILE, PATCHES_FILE
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import load_settings

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SEGMENT = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=8).filter(
        lambda s: s == s.strip() and "." not in s
    ),
    st.sampled_from(["portfolio", "leverage", 'a"b', "x\\y", "é", "\U0001f600", "n\n1"]),
)
TARGET = st.lists(SEGMENT, min_size=1, max_size=3).map(".".join)
VALUE = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),  # TOML's range: a patch holds no more
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)


def patches_strategy() -> st.SearchStrategy[list[ConfigPatch]]:
    def build(pairs: list[tuple[str, bool | int | float | str]]) -> list[ConfigPatch]:
        unique = dict(pairs)
        return [
            ConfigPatch(
                id=f"p{i}",
                target=t,
                old_value=None,
                new_value=v,
                status=PatchStatus.APPLIED_OFFLINE,
                confidence_score=0.9,
                meta={"is_live_ready": True},
            )
            for i, (t, v) in enumerate(unique.items())
        ]

    return st.lists(st.tuples(TARGET, VALUE), min_size=1, max_size=5).map(build)


@FUZZ
@given(patches=patches_strategy())
def test_the_offline_override_file_parses_back_to_the_written_patches(
    project_root: Path, patches: list[ConfigPatch]
) -> None:
    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    snippets = project_root / "reports" / "learning_snippets"
    emit_snippet(snippets, "fuzz", patches)
    result = run_learning_cycle(
        snippets_dir=snippets,
        out_file=workspace.offline_file,
        published_file=workspace.published_file,
        policy=workspace.policy(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    written = tomllib.loads(workspace.offline_file.read_text(encoding="utf-8"))["overrides"]
    assert dict(written) == {p.target: p.new_value for p in result.written}
    published = json.loads(workspace.published_file.read_text(encoding="utf-8"))
    assert len(published["patches"]) == len(result.written)


@FUZZ
@given(patches=patches_strategy())
def test_a_promotion_run_writes_proposal_files_that_parse(
    project_root: Path, patches: list[ConfigPatch]
) -> None:
    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    run = run_promotion(
        patches,
        policy=workspace.policy(),
        mode=AutoApplyMode.MANUAL_ONLY,
        base=workspace.base(),
        writer=workspace.writer(),
        audit=workspace.audit(),
        proposals_dir=workspace.proposals_dir,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    for proposal in run.proposals:
        directory = workspace.proposals_dir / proposal.proposal_id
        assert json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        candidates = json.loads((directory / PATCHES_FILE).read_text(encoding="utf-8"))
        assert len(candidates["candidates"]) == len(patches)
    assert workspace.audit().verify().ok
    live = tomllib.loads(workspace.overrides_file.read_text(encoding="utf-8"))
    assert dict(flatten(live.get("auto_applied", {}))) == {}


@pytest.mark.parametrize("target", ["a.\U0001f600", 'a."quoted"', "a.back\\slash", "a.new\nline"])
def test_awkward_targets_round_trip_through_the_offline_file(
    project_root: Path, target: str
) -> None:
    patch = ConfigPatch(
        id="p", target=target, old_value=None, new_value=1.0, status=PatchStatus.APPLIED_OFFLINE
    )
    snippets = project_root / "reports" / "learning_snippets"
    emit_snippet(snippets, "s", [patch])
    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    run_learning_cycle(
        snippets_dir=snippets,
        out_file=workspace.offline_file,
        published_file=workspace.published_file,
        policy=workspace.policy(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert tomllib.loads(workspace.offline_file.read_text())["overrides"] == {target: 1.0}
