"""Proposal ids from the command line and the files of a proposal directory.

Contract: an id is never a path (``../x``, ``/etc``, NUL bytes, 5000 characters are refused with
exit 2 before any file or database is touched); a damaged proposal file is named in a clean
error (exit 2 for the proposal the operator named; ``list`` skips it with a warning and exits 1)
and never half-applies anything.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.cli.app import main
from peaktrade_daemon.cli.promotion_support import mirror_to_database
from peaktrade_daemon.errors import DataError, SealBroken
from peaktrade_daemon.governance.policy import AutoApplyMode
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.proposals import (
    META_FILE,
    PATCHES_FILE,
    ProposalFiles,
    check_proposal_id,
)
from peaktrade_daemon.promotion.review import trail_seals
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import load_settings
from tests.fuzz.conftest import OutsideWatch, run_cli_many
from tests.fuzz.mutations import damaged
from tests.promotion.conftest import make_patch

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
IDS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["../../x", "..", ".", "/etc/passwd", "20240101T120000Z-1a2b3c4d/../../x",
         "20240101T120000Z-1a2b3c4d\n", "20240101T120000Z-1a2b3c4d\x00", "a" * 5000,
         "20240101T120000Z-1A2B3C4D", "20240101T120000Z-1a2b3c4d "]
    ),
)  # fmt: skip


@FUZZ
@given(proposal_id=IDS)
def test_a_proposal_id_never_leaves_the_proposals_directory(
    tmp_path_factory: pytest.TempPathFactory, proposal_id: str
) -> None:
    proposals = tmp_path_factory.mktemp("live_promotion")
    try:
        check_proposal_id(proposal_id)
    except ValueError as exc:
        assert "is not a proposal id" in str(exc)
        with pytest.raises(ValueError):
            ProposalFiles.open(proposals, proposal_id)
        return
    assert (proposals / proposal_id).resolve().parent == proposals.resolve()
    assert proposal_id.isascii() and "/" not in proposal_id and "." not in proposal_id


def make_proposal(root: Path) -> tuple[PromotionWorkspace, str]:
    """A real manual_only proposal for portfolio.leverage 1.0 -> 1.25 under ``root``."""
    workspace = PromotionWorkspace.from_settings(load_settings(root))
    run = run_promotion(
        [make_patch("portfolio.leverage", 1.25)],
        policy=workspace.policy(),
        mode=AutoApplyMode.MANUAL_ONLY,
        base=workspace.base(),
        writer=workspace.writer(),
        audit=workspace.audit(),
        proposals_dir=workspace.proposals_dir,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    (proposal,) = run.proposals
    asyncio.run(mirror_to_database(workspace, run.proposals))  # as `promote` records its seal
    return workspace, proposal.proposal_id


@pytest.fixture
def proposal(project_root: Path) -> tuple[PromotionWorkspace, str, dict[str, bytes]]:
    """One real proposal and the original bytes of its files (made once per test)."""
    workspace, proposal_id = make_proposal(project_root)
    directory = workspace.proposals_dir / proposal_id
    return (
        workspace,
        proposal_id,
        {n: (directory / n).read_bytes() for n in (META_FILE, PATCHES_FILE)},
    )


@FUZZ
@given(data=st.data())
def test_damaged_proposal_files_read_soundly_or_name_the_file(
    proposal: tuple[PromotionWorkspace, str, dict[str, bytes]], data: st.DataObject
) -> None:
    workspace, proposal_id, originals = proposal
    directory = workspace.proposals_dir / proposal_id
    for name, original in originals.items():
        (directory / name).write_bytes(data.draw(damaged(original), label=name))
    files = ProposalFiles.open(workspace.proposals_dir, proposal_id)
    seals = trail_seals(workspace.audit().records(), proposal_id)
    for read in (
        lambda: files.meta,
        lambda: files.created_at,
        lambda: files.sealed_decisions(seals),
    ):
        try:
            read()
        except (DataError, SealBroken) as exc:
            assert str(exc).startswith(str(directory)), exc


DAMAGE = {
    "meta not JSON": (META_FILE, b"{"),
    "meta an array": (META_FILE, b"[]"),
    "meta bad time": (META_FILE, b'{"created_at": "yesterday"}'),
    "meta count text": (META_FILE, b'{"created_at": "2026-01-01T00:00:00+00:00", "accepted": "x"}'),
    "patches deep": (PATCHES_FILE, b"[" * 100_000),
    "patches not a list": (PATCHES_FILE, b'{"candidates": 5}'),
    "patch invalid": (
        PATCHES_FILE,
        b'{"candidates": [{"verdict": "ACCEPTED_FOR_PROPOSAL", "patch": {"target": ""}}]}',
    ),
    "patches missing": (PATCHES_FILE, None),
    "patches binary": (PATCHES_FILE, b"\xff\xfe\x00"),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_hand_picked_damage_is_a_data_error_naming_the_file(project_root: Path, name: str) -> None:
    workspace, proposal_id = make_proposal(project_root)
    file_name, raw = DAMAGE[name]
    target = workspace.proposals_dir / proposal_id / file_name
    if raw is None:
        target.unlink()
    else:
        target.write_bytes(raw)
    files = ProposalFiles.open(workspace.proposals_dir, proposal_id)
    seals = trail_seals(workspace.audit().records(), proposal_id)
    with pytest.raises((DataError, SealBroken)) as caught:
        files.meta, files.created_at, files.sealed_decisions(seals)
    assert str(caught.value).startswith(str(target))


@pytest.mark.parametrize(
    "argv",
    [
        ("proposals", "show", "a\x00b"),
        ("proposals", "approve", "20240101T120000Z-1a2b3c4d\x00", "--by", "me"),
        ("proposals", "reject", "../\x00", "--by", "me", "--note", "x"),
    ],
)
def test_nul_bytes_in_ids_are_usage_errors(
    project_root: Path, argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(project_root), *argv]) == 2
    assert "is not a proposal id" in capsys.readouterr().err
    assert not (project_root / "state" / "peaktrade.db").exists()


@pytest.mark.slow
def test_cli_on_bad_ids_and_damaged_proposals(
    project_root: Path, outside_root: OutsideWatch
) -> None:
    workspace, good_id = make_proposal(project_root)
    _, bad_id = make_proposal(project_root)
    (workspace.proposals_dir / bad_id / PATCHES_FILE).write_bytes(b'{"candidates": 5}')
    (workspace.proposals_dir / bad_id / META_FILE).write_text(
        json.dumps({"created_at": "2026-01-01T00:00:00+00:00", "mode": "manual_only"})
    )
    damaged_meta = outside_root.clone("root-meta")
    meta_id = bad_id
    (damaged_meta / "reports" / "live_promotion" / meta_id / META_FILE).write_bytes(b"{")
    auto = project_root / "config" / "live_overrides" / "auto.toml"
    auto_before = auto.read_bytes()
    audit_before = workspace.audit_file.read_bytes()
    results = run_cli_many(
        [
            (project_root, ("proposals", "show", "../../outside/x")),
            (project_root, ("proposals", "approve", "/etc/passwd", "--by", "me")),
            (project_root, ("proposals", "reject", "x" * 5000, "--by", "me", "--note", "n")),
            (project_root, ("proposals", "approve", bad_id, "--by", "me")),
            (damaged_meta, ("proposals", "show", meta_id)),
            (damaged_meta, ("proposals", "list")),
        ]
    )
    for result in results[:3]:
        result.assert_clean_failure(2, "is not a proposal id")
    # Edited after it was judged: refused for safety, never read as edited (§8.8).
    results[3].assert_clean_failure(3, f"{bad_id}/config_patches.json", "does not match the seal")
    results[4].assert_clean_failure(2, f"{meta_id}/proposal_meta.json", "not valid JSON")
    listing = results[5]
    listing.assert_clean_failure(1, f"skipped proposal {meta_id}")
    assert good_id in listing.out  # the intact proposal (copied into the clone) is still listed
    assert auto.read_bytes() == auto_before
    assert workspace.audit_file.read_bytes() == audit_before
    alerts = (project_root / "logs" / "autonomous_alerts.log").read_text()
    assert "\tcritical\tpromotion\t" in alerts and "does not match the seal" in alerts
