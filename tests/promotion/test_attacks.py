"""Attacks on the governance (SPEC §8.8, issue 14), each through the real CLI on a live root.

Threat model: anything that can write ``reports/`` (the learning system drops files there) or edit
``config/live_overrides/`` by hand must not be able to move a live value the governance did not
pass. Each test is one attack: what the attacker does is in its docstring; it asserts auto.toml's
bytes, what the live loader hands the trading system, the exit code and the critical alert.
The attacker's and the operator's hands are :mod:`tests.promotion.attacker`; the daemon's side
(a batch with a raising patch, a restart, a hand edit while running) is ``test_worker.py``.

Notes on what these attacks found (each door has a test that failed first, then the fix):

* fixed: a forged proposal with a forged trail was approved (the database seal was optional);
  a hand edit of ``[governance]`` (a freeze, a cooldown, the rate limit) was laundered by the
  operator's adopt or clear; clearing a hand edit made it restorable (``--to-backup`` and
  ``rollback --steps``); an approval hid keys the current policy now rejects and could report
  the proposal "applied"; a full disk that still held the records failed the write after them.
* fixed: the trail is a hash chain under ``reports/``, not a signature, so whoever could write
  ``reports/`` could append records that verified: a forged change record was what ``rollback``
  (and the guard's revert) restored, and a forged trail matching a forged auto.toml was
  undetectable. Every append is now anchored outside the threat model (``state/audit.anchor``);
  records the anchor does not vouch for are a damaged tail: ``verify-audit`` exits 1, governed
  writes refuse, ``clear`` and ``rollback`` move them aside. (This also covers a well-formed
  line appended without the chain, which used to block ``rollback`` and ``adopt``.)
* noted, not changed: by §8.8 the live loader applies a hand-edited value the hard firewall allows
  (``risk.stop_loss = 0.9`` reaches the trading system until adopted or cleared; the defence
  is the alert).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.governance.plans import WriteKind, plan_guard_revert
from peaktrade_daemon.promotion.proposals import PATCHES_FILE
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext
from peaktrade_daemon.settings import load_settings
from tests.faults.test_disk_full import _fill, tmpfs
from tests.promotion.attacker import (
    DELAY,
    EXPOSURE,
    LEVERAGE,
    PROPOSAL_A,
    PROPOSAL_B,
    PROPOSALS,
    STOP_LOSS,
    WEIGHT,
    LiveRoot,
    patch,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def root(project_root: Path) -> LiveRoot:
    """The shipped root in live mode (manual_only policy, as shipped)."""
    return LiveRoot.on(project_root)


def _verdicts(stdout: str) -> dict[str, str]:
    """``promote``'s verdict per key from its output lines (``VERDICT  key ...``)."""
    return {
        words[1]: words[0]
        for words in (line.split() for line in stdout.splitlines())
        if len(words) > 1 and words[0].startswith(("ACCEPTED_", "REJECTED_"))
    }


def _approved_a(root: LiveRoot) -> str:
    """Proposal A promoted and approved once: leverage 1.25, trigger_delay 8.0 (recorded)."""
    proposal = root.promote(PROPOSAL_A)
    root.ok("proposals", "approve", proposal, "--by", "alice")
    assert root.live_table() == {LEVERAGE: 1.25, DELAY: 8.0}
    return proposal


# -- the doors of issue 14 -------------------------------------------------------------------


def test_an_edited_proposal_is_refused_by_its_seal(root: LiveRoot) -> None:
    """Edit a pending proposal's config_patches.json: the rejected ``risk.max_exposure``
    candidate becomes "accepted" at 50.0, then ``proposals approve``. Also rewrite the trail's
    seals to match the edit (the chain recomputed): the database's seal still holds."""
    proposal = root.promote(PROPOSAL_A)
    patches = root.path / PROPOSALS / proposal / PATCHES_FILE
    content = json.loads(patches.read_text())
    [exposure] = [c for c in content["candidates"] if c["target"] == EXPOSURE]
    assert exposure["verdict"] == "REJECTED_BY_POLICY"
    exposure.update(verdict="ACCEPTED_FOR_PROPOSAL", reasons=["looks fine"])
    exposure["patch"]["new_value"] = 50.0
    patches.write_text(json.dumps(content, indent=2))
    before = root.auto_bytes()

    refused = root.refused("proposals", "approve", proposal, "--by", "alice")
    assert "does not match the seal" in refused.stderr
    assert root.auto_bytes() == before
    assert root.live().get(EXPOSURE) == 1.5 and root.live().get(LEVERAGE) == 1.0
    alert = root.last_critical()
    assert alert.context["error"] == "SealBroken" and proposal in alert.message
    shown = root.run("proposals", "show", proposal)
    assert shown.returncode == 1 and "SEAL BROKEN" in shown.stdout

    from peaktrade_daemon.promotion.proposals import seal_of

    forged = seal_of(content)
    root.forge_trail(
        lambda records: [
            {**r, "proposal_sha256": forged} if r.get("proposal_sha256") else r for r in records
        ]
    )
    # The chain alone is no signature; the anchor in state/ tells the rewrite.
    assert "the trail was rewritten" in root.run("overrides", "verify-audit").stdout
    root.refused("proposals", "approve", proposal, "--by", "alice")
    assert root.auto_bytes() == before
    assert not [r for r in root.audit() if r.get("event") == "change"]


def test_a_hand_written_backup_is_never_restored(root: LiveRoot) -> None:
    """Write auto.toml.backup by hand (leverage 2.95, the blacklisted stop_loss 0.5) and run
    ``overrides rollback --to-backup``: on a fresh root (no write recorded) and after a
    recorded write (the genuine backup overwritten)."""
    forged = '[auto_applied]\n"portfolio.leverage" = 2.95\n"risk.stop_loss" = 0.5\n'
    root.backup.write_text(forged)
    before = root.auto_bytes()
    refused = root.refused("overrides", "rollback", "--to-backup", "--by", "mallory")
    assert "records no write it could be the backup of" in refused.stderr
    assert root.auto_bytes() == before
    assert root.last_critical().context["error"] == "SafetyRefusal"
    assert root.run("overrides", "verify-audit").returncode == 0

    _approved_a(root)
    root.backup.write_text(forged)
    before = root.auto_bytes()
    refused = root.refused("overrides", "rollback", "--to-backup", "--by", "mallory")
    assert "not the state before the last recorded write" in refused.stderr
    assert root.auto_bytes() == before
    live = root.live()
    assert (live.get(LEVERAGE), live.get(STOP_LOSS)) == (1.25, 0.02)
    verified = root.run("overrides", "verify-audit")
    assert verified.returncode == 0, verified.stdout


@pytest.mark.parametrize(
    ("edit", "firewalled"),
    [({STOP_LOSS: 0.9}, False), ({LEVERAGE: 50.0}, True)],
    ids=["blacklisted-stop-loss", "leverage-50"],
)
def test_a_hand_edit_is_refused_until_adopted(
    root: LiveRoot, edit: dict[str, float], firewalled: bool
) -> None:
    """Add ``"risk.stop_loss" = 0.9`` or ``"portfolio.leverage" = 50.0`` to auto.toml by hand.

    The next unrelated approval refuses (naming the key), ``verify-audit`` exits 1, the live
    loader never applies leverage 50.0 (the hard firewall: the base value stays), ``adopt``
    drops the key and records the rest, after which writes work again.

    By §8.8 the live loader *does* apply a hand-edited value the firewall allows (stop_loss 0.9
    reaches the trading system until the file is adopted or cleared; operators may change a
    value by hand in an emergency): the defence there is the alert, not the loader.
    """
    _approved_a(root)
    other = root.promote(PROPOSAL_B)
    [key] = edit
    root.hand_edit(edit)
    edited = root.auto_bytes()

    verified = root.run("overrides", "verify-audit")
    assert verified.returncode == 1 and key in verified.stdout
    refused = root.refused("proposals", "approve", other, "--by", "alice")
    assert key in refused.stderr and "edited outside the promotion writer" in refused.stderr
    assert root.auto_bytes() == edited
    alert = root.last_critical()
    assert alert.context["error"] == "HandEditRefusal" and key in alert.message

    live = root.live()
    if firewalled:
        assert live.get(LEVERAGE) == 1.0  # the base value, not 50.0 (nor the recorded 1.25)
        assert any(w.critical and w.key == LEVERAGE for w in live.warnings)
        shown = root.ok("config", "show", "--env", "live")
        assert "portfolio.leverage = 1.0" in shown.stdout.splitlines()
    else:
        assert live.get(STOP_LOSS) == 0.9  # §8.8: hand edits apply, except behind the firewall

    adopted = root.ok("overrides", "adopt", "--by", "alice")
    assert f"dropped {key} = " in adopted.stdout
    table = root.live_table()
    assert key not in table and table[DELAY] == 8.0
    assert root.run("overrides", "verify-audit").returncode == 0
    assert root.live().get(STOP_LOSS) == 0.02
    root.ok("proposals", "approve", other, "--by", "alice")
    assert root.live_table()[WEIGHT] == 0.35


def test_the_policy_killswitch_beats_the_cli_flag(root: LiveRoot) -> None:
    """``promote --auto-apply-mode bounded_auto`` while promotion.toml says
    ``mode = "disabled"``: exit 3, nothing written at all. Operator approvals still work."""
    pending = root.promote(PROPOSAL_B)
    root.policy('mode = "manual_only"', 'mode = "disabled"')
    audit, before = root.audit_file.read_bytes(), root.auto_bytes()
    source = root.path / "more.json"
    source.write_text(json.dumps({"patches": list(PROPOSAL_A)}))
    for flag in ("bounded_auto", "manual_only"):
        refused = root.refused("promote", "--auto-apply-mode", flag, "--input", str(source))
        assert "killswitch" in refused.stderr
        assert root.last_critical().context["error"] == "SafetyRefusal"
    assert root.proposal_ids() == [pending]
    assert root.audit_file.read_bytes() == audit and root.auto_bytes() == before
    root.ok("proposals", "approve", pending, "--by", "alice")
    assert root.live_table() == {WEIGHT: 0.35}


def test_bounded_auto_without_a_known_baseline_holds(root: LiveRoot) -> None:
    """``promote --auto-apply-mode bounded_auto`` when the data is stale (replay time beyond the
    bundled history, so the paper book has no performance reading): nothing applied, held."""
    set_daemon = root.path / "config" / "daemon.toml"
    text = set_daemon.read_text()
    set_daemon.write_text(
        text.replace("speed = 1.0\n", 'speed = 1.0\nstart = "2035-01-01T00:00:00Z"\n', 1)
    )
    before = root.auto_bytes()
    source = root.path / "a.json"
    source.write_text(json.dumps({"patches": list(PROPOSAL_A)}))
    done = root.ok("promote", "--auto-apply-mode", "bounded_auto", "--input", str(source))
    held = [line for line in done.stdout.splitlines() if line.startswith("auto-apply")]
    assert held and all("not applied (held: performance baseline unknown)" in h for h in held)
    assert root.auto_bytes() == before
    assert not [r for r in root.audit() if r.get("event") == "change"]


def test_keys_without_bounds_and_huge_numbers_are_never_applied(root: LiveRoot) -> None:
    """Patches for a key without bounds (``risk.max_exposure`` 1.5 -> 1e300), 1e300 for
    bounded keys, and an integer beyond TOML's 64-bit range even under a policy whose bounds
    would admit it; then a key bounded at promote time (``risk.daily_loss_limit`` 0.03 -> 1.0)
    whose bounds the policy loses before the approval: never applied, and the approval says
    why instead of reporting the proposal "applied"."""
    slow_window = "strategy.ma_crossover.slow_window"
    daily = '[bounds."risk.daily_loss_limit"]\nmin = 0.0\nmax = 1.0\nmax_step = 1.0\n'
    root.policy(
        '[bounds."macro.regime_weight"]',
        f'{daily}\n[bounds."{slow_window}"]\nmin = 1.0\nmax = 1e30\nmax_step = 1e30\n\n'
        '[bounds."macro.regime_weight"]',
    )
    big = 10**20  # inside the policy's bounds, outside TOML's signed 64-bit integers
    source = root.path / "bad.json"
    source.write_text(
        json.dumps(
            {
                "patches": [
                    patch(EXPOSURE, 1e300),
                    patch(LEVERAGE, 1e300),
                    patch(DELAY, 1e300),
                    patch(slow_window, big),
                    patch("risk.daily_loss_limit", 1.0),
                ]
            }
        )
    )
    done = root.ok("promote", "--input", str(source))
    verdicts = _verdicts(done.stdout)
    assert verdicts[EXPOSURE] == "REJECTED_BY_POLICY" and "no bounds in the policy" in done.stdout
    assert verdicts[LEVERAGE] == "REJECTED_BY_SANITY_CHECK"  # the firewall: leverage above 3.0
    assert verdicts[DELAY] == "REJECTED_BY_POLICY"  # outside [3.0, 15.0]
    assert verdicts[slow_window] == "REJECTED_BY_SANITY_CHECK" and "64-bit" in done.stdout
    assert verdicts["risk.daily_loss_limit"] == "ACCEPTED_FOR_PROPOSAL"
    [proposal] = root.proposal_ids()

    root.policy(daily, "")
    before = root.auto_bytes()
    approved = root.ok("proposals", "approve", proposal, "--by", "alice")
    assert (
        "risk.daily_loss_limit: not applied (verdict REJECTED_BY_POLICY: "
        "P0_BOUNDS: no bounds in the policy)" in approved.stdout
    )
    assert ": applied" not in approved.stdout
    assert root.auto_bytes() == before
    assert root.live().get("risk.daily_loss_limit") == 0.03
    for written in (root.auto, root.path / PROPOSALS / proposal / PATCHES_FILE, root.audit_file):
        assert str(big) not in written.read_text()


def test_a_number_beyond_any_range_is_skipped_by_learn_and_judged_by_promote(
    root: LiveRoot,
) -> None:
    """A patch value of 10**400 (and 1e400, which JSON reads as infinity) in a learning snippet
    and in a ``promote --input`` file: ``learn`` skips them with a warning and writes the rest;
    ``promote`` records REJECTED_BY_SANITY_CHECK and proposes the valid patch beside them."""
    huge = "1" + "0" * 400
    entries = (
        f'{{"target": "{LEVERAGE}", "value": {huge}, "confidence": 0.9, "is_live_ready": true}}',
        f'{{"target": "{WEIGHT}", "value": 1e400, "confidence": 0.9, "is_live_ready": true}}',
        f'{{"target": "{DELAY}", "value": 6.0, "confidence": 0.9, "is_live_ready": true}}',
    )
    snippets = root.path / "reports" / "learning_snippets"
    snippets.mkdir(parents=True)
    (snippets / "huge.json").write_text('{"patches": [' + ", ".join(entries) + "]}")
    learned = root.ok("learn")
    assert "huge.json: entry 0: skipped" in learned.stdout
    assert "huge.json: entry 1: skipped" in learned.stdout
    offline = (root.path / "config" / "auto" / "learning.override.toml").read_text()
    assert DELAY in offline and LEVERAGE not in offline and WEIGHT not in offline
    published = (root.path / "reports" / "learning" / "published_patches.json").read_text()
    assert huge not in published and [p["target"] for p in json.loads(published)["patches"]] == [
        DELAY
    ]

    source = root.path / "huge-input.json"
    source.write_text(
        '{"patches": ['
        + ", ".join(
            e.replace('"is_live_ready"', '"status": "APPLIED_OFFLINE", "is_live_ready"')
            for e in entries
        )
        + "]}"
    )
    promoted = root.ok("promote", "--input", str(source))
    assert f"REJECTED_BY_SANITY_CHECK   {LEVERAGE}" in promoted.stdout
    assert f"REJECTED_BY_SANITY_CHECK   {WEIGHT}" in promoted.stdout
    assert f"ACCEPTED_FOR_PROPOSAL      {DELAY} -> 6.0" in promoted.stdout
    assert len(root.proposal_ids()) == 1
    sanity = {
        r["key"]
        for r in root.audit()
        if r.get("event") == "verdict" and r["verdict"] == "REJECTED_BY_SANITY_CHECK"
    }
    assert sanity == {LEVERAGE, WEIGHT}
    assert huge not in root.audit_file.read_text()


PAGE = os.sysconf("SC_PAGE_SIZE")


def _pad_trail(root: LiveRoot, proposal: str, slack: tuple[int, int]) -> None:
    """Append review records (approving ``proposal`` again within its cooldown records only the
    review, with its note) until the trail's last page has ``slack[0] <= free < slack[1]``
    bytes: on a full tmpfs a file grows into its last page's free bytes, no further."""
    low, high = slack
    overhead = 0
    for _ in range(12):
        size = root.audit_file.stat().st_size
        if low <= -size % PAGE < high:
            return
        end = size - size % PAGE + PAGE - (low + high) // 2
        if end - size <= overhead + 1:
            end += PAGE
        note = "x" * max(1, min(4000, end - size - overhead))
        root.ok("proposals", "approve", proposal, "--by", "alice", "--note", note)
        overhead = root.audit_file.stat().st_size - size - len(note)
    raise AssertionError("could not place the trail's end in its page")


def _full_audit_disk_test_setup(root: LiveRoot, slack: tuple[int, int]) -> str:
    approved = _approved_a(root)
    other = root.promote(PROPOSAL_B)
    _pad_trail(root, approved, slack)
    return other


def test_a_short_audit_write_on_a_full_disk_changes_nothing(root: LiveRoot) -> None:
    """The audit trail's filesystem (a real tiny tmpfs on reports/promotion_audit) is full and
    the trail's last page has fewer free bytes than the approval's records: the append is short,
    cut back, the approval fails (exit 1, critical alert), auto.toml is untouched and the trail
    still verifies; once space is freed, ``overrides clear`` works."""
    with tmpfs(root.path / "reports" / "promotion_audit", "256k") as audit_fs:
        other = _full_audit_disk_test_setup(root, (1, 200))
        filler = _fill(audit_fs)
        trail, before = root.audit_file.read_bytes(), root.auto_bytes()
        failed = root.run("proposals", "approve", other, "--by", "alice")
        assert failed.returncode == 1, failed.stderr
        assert "audit append failed" in failed.stderr and "Traceback" not in failed.stderr
        assert root.auto_bytes() == before
        assert root.audit_file.read_bytes() == trail  # the short append was cut back
        assert root.last_critical().context["error"] == "AuditError"
        verified = root.run("overrides", "verify-audit")
        assert verified.returncode == 0, verified.stdout
        filler.unlink()
        root.ok("overrides", "clear", "--by", "alice")
        assert root.live_table() == {}
        assert root.run("overrides", "verify-audit").returncode == 0


def test_a_full_disk_that_still_holds_the_records_does_not_fail_the_write(
    root: LiveRoot,
) -> None:
    """The audit filesystem is full but the trail's last page still holds the approval's
    records; only new files cannot be written there. The trail's anchor lives in ``state/``,
    so the change is made and recorded, not failed with an unexpected OSError after its
    records were appended."""
    with tmpfs(root.path / "reports" / "promotion_audit", "256k") as audit_fs:
        other = _full_audit_disk_test_setup(root, (3000, 4000))
        filler = _fill(audit_fs)
        done = root.ok("proposals", "approve", other, "--by", "alice")
        assert f"{WEIGHT}: applied 0.25 -> 0.35" in done.stdout
        assert root.live_table()[WEIGHT] == 0.35
        verified = root.run("overrides", "verify-audit")
        assert verified.returncode == 0, verified.stdout
        filler.unlink()


# -- beyond issue 14 -------------------------------------------------------------------------


def test_an_edited_checklist_does_not_change_what_an_approval_applies(root: LiveRoot) -> None:
    """Edit OPERATOR_CHECKLIST.md (unsealed: it is the rendering for the operator) to promise a
    smaller change. The approval applies what the sealed candidates say, re-judged, one bounded
    step; the checklist is not what is applied (nor proof of anything: ``proposals show``
    prints the seal check beside it)."""
    proposal = root.promote(PROPOSAL_A)
    checklist = root.path / PROPOSALS / proposal / "OPERATOR_CHECKLIST.md"
    checklist.write_text(checklist.read_text().replace("1.5", "1.05"))
    root.ok("proposals", "approve", proposal, "--by", "alice")
    assert root.live_table() == {LEVERAGE: 1.25, DELAY: 8.0}


@pytest.mark.parametrize(
    "spelling",
    [
        'portfolio.leverage = 50.0\n"strategy.trigger_delay" = 8.0\n',
        '"strategy.trigger_delay" = 8.0\n\n[auto_applied.portfolio]\nleverage = 50.0\n',
        'portfolio = {leverage = 50.0}\n"strategy.trigger_delay" = 8.0\n',
    ],
    ids=["unquoted-dotted", "sub-table", "inline-table"],
)
def test_other_spellings_of_a_key_are_the_same_key(root: LiveRoot, spelling: str) -> None:
    """Write leverage 50.0 under ``[auto_applied]`` as an unquoted dotted key, a sub-table or an
    inline table instead of the quoted key: the same key to the live loader (firewalled: the
    base value stays), to the hand-edit check and to adopt, which drops it and writes the file
    back with quoted keys only."""
    _approved_a(root)
    text = root.auto.read_text()
    root.auto.write_text(
        re.sub(
            r'\[auto_applied\]\n"portfolio.leverage" = 1.25\n"strategy.trigger_delay" = 8.0\n',
            "[auto_applied]\n"
            + spelling.replace("\n\n[auto_applied.portfolio]", "\n[auto_applied.portfolio]"),
            text,
        )
    )
    assert root.auto.read_text() != text
    assert root.live().get(LEVERAGE) == 1.0
    verified = root.run("overrides", "verify-audit")
    assert verified.returncode == 1 and LEVERAGE in verified.stdout
    adopted = root.ok("overrides", "adopt", "--by", "alice")
    assert f"dropped {LEVERAGE} = 50.0" in adopted.stdout
    assert "[auto_applied.portfolio]" not in root.auto.read_text()
    assert root.live_table() == {DELAY: 8.0}


def test_keys_outside_the_live_table(root: LiveRoot) -> None:
    """Append a top-level ``[portfolio] leverage = 50.0`` outside ``[auto_applied]``: the live
    loader ignores it (it reads that table only) and the hand-edit check does not (any value in
    the document is content); adopt drops it. Then remove the ``[auto_applied]`` header, so the
    loader takes the whole document: leverage 1.75 there is a hand edit it applies (§8.8) and
    the check names; adopt folds it into the table."""
    _approved_a(root)
    root.auto.write_text(root.auto.read_text() + "\n[portfolio]\nleverage = 50.0\n")
    assert root.live().get(LEVERAGE) == 1.25
    assert root.run("overrides", "verify-audit").returncode == 1
    root.ok("overrides", "adopt", "--by", "alice")
    assert "[portfolio]" not in root.auto.read_text()
    assert root.run("overrides", "verify-audit").returncode == 0

    text = root.auto.read_text().replace("[auto_applied]\n", "", 1)
    root.auto.write_text(text.replace('"portfolio.leverage" = 1.25', '"portfolio.leverage" = 1.75'))
    assert root.live().get(LEVERAGE) == 1.75
    verified = root.run("overrides", "verify-audit")
    assert verified.returncode == 1 and LEVERAGE in verified.stdout
    refused = root.refused("overrides", "rollback", "--by", "alice")
    assert "edited outside the promotion writer" in refused.stderr
    root.ok("overrides", "adopt", "--by", "alice")
    assert root.live_table() == {LEVERAGE: 1.75, DELAY: 8.0}


def test_a_shadowed_spelling_and_comments_are_not_content(root: LiveRoot) -> None:
    """Insert ``portfolio.leverage = 2.9`` (unquoted) *before* the quoted key, and a comment:
    the document's content is unchanged (the later spelling wins, in the loader as in the
    check), so nothing is flagged and nothing changes: the hidden value never takes effect."""
    _approved_a(root)
    text = root.auto.read_text().replace(
        "[auto_applied]\n", "[auto_applied]\n# tuned by hand\nportfolio.leverage = 2.9\n", 1
    )
    root.auto.write_text(text)
    assert root.live().get(LEVERAGE) == 1.25
    assert root.run("overrides", "verify-audit").returncode == 0
    other = root.promote(PROPOSAL_B)
    root.ok("proposals", "approve", other, "--by", "alice")
    assert root.live_table() == {LEVERAGE: 1.25, DELAY: 8.0, WEIGHT: 0.35}
    # The shadowed spelling is gone (timestamps in [governance] may hold the digits "2.9").
    assert "portfolio.leverage = 2.9" not in root.auto.read_text()
    assert 2.9 not in tomllib.loads(root.auto.read_text())["auto_applied"].values()


def test_symlinks_do_not_carry_anything_past_the_checks(root: LiveRoot) -> None:
    """Symlinks an attacker can plant: auto.toml.backup pointing at a forged file, a proposal
    id pointing at another proposal's directory, and auto.toml itself pointing at a file
    elsewhere (reports/). Each is judged by content: refused, refused, a hand edit; the writer
    replaces the auto.toml link with a regular file and never writes through it."""
    proposal = _approved_a(root)
    evil = root.path / "reports" / "evil.toml"
    evil.write_text('[auto_applied]\n"portfolio.leverage" = 2.0\n')
    root.backup.unlink()
    root.backup.symlink_to(evil)
    root.refused("overrides", "rollback", "--to-backup", "--by", "mallory")
    alias = root.path / PROPOSALS / "20991231T235959Z-0000abcd"
    alias.symlink_to(root.path / PROPOSALS / proposal)
    root.refused("proposals", "approve", alias.name, "--by", "alice")

    root.auto.unlink()
    root.auto.symlink_to(evil)
    assert root.live().get(LEVERAGE) == 2.0  # a hand edit the loader applies (§8.8) ...
    assert root.run("overrides", "verify-audit").returncode == 1  # ... and the check names
    root.ok("overrides", "clear", "--by", "alice")
    assert not root.auto.is_symlink() and root.live_table() == {}
    assert evil.read_text() == '[auto_applied]\n"portfolio.leverage" = 2.0\n'


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("max = 2.0\nmax_step = 0.25", "max = 1.1\nmax_step = 0.25"),
        ('"risk.max_leverage"]', '"risk.max_leverage", "portfolio.leverage"]'),
    ],
    ids=["bounds-tightened", "key-blacklisted"],
)
def test_a_policy_edit_between_promote_and_approve_wins(root: LiveRoot, old: str, new: str) -> None:
    """Tighten the policy after the proposal was made (leverage's max to 1.1, below the proposed
    1.5, or blacklist leverage): the approval re-judges the sealed candidates against the policy
    as it is now, so leverage is not applied, and the approval says so. A global lock then
    refuses the approval (exit 3)."""
    proposal = root.promote(PROPOSAL_A)
    root.policy(old, new)
    approved = root.ok("proposals", "approve", proposal, "--by", "alice")
    assert f"{LEVERAGE}: not applied (verdict REJECTED_BY_POLICY" in approved.stdout
    assert root.live_table() == {DELAY: 8.0}
    root.policy("global_promotion_lock = false", "global_promotion_lock = true")
    before = root.auto_bytes()
    root.refused("proposals", "approve", proposal, "--by", "alice")
    assert root.auto_bytes() == before


def test_approving_one_proposal_twice_at_once_steps_once(root: LiveRoot) -> None:
    """Two ``proposals approve`` of the same proposal started together: the writer's lock
    serialises them and the second finds the keys in their cooldown: one step per key."""
    proposal = root.promote(PROPOSAL_A)
    argv = ["proposals", "approve", proposal, "--by", "alice"]
    from tests.conftest import cli_command, subprocess_env

    procs = [
        subprocess.Popen(
            cli_command("--root", str(root.path), *argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=90) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        # Exit 1 is tolerated only for the known race of two processes mirroring the trail
        # into the state database at once (after the write; see
        # tests/storage/test_audit_index_race.py): never for the governance.
        assert proc.returncode == 0 or "promotion_audit_index.seq" in err, (proc.returncode, err)
    assert sum(out.count(": applied ") for out, _ in outs) == 2
    assert root.live_table() == {LEVERAGE: 1.25, DELAY: 8.0}
    assert len([r for r in root.audit() if r.get("event") == "change"]) == 2
    assert root.run("overrides", "verify-audit").returncode == 0


def test_the_old_file_put_back_by_hand_is_a_hand_edit(root: LiveRoot) -> None:
    """Copy auto.toml.backup (a genuine earlier state) over auto.toml by hand: once the write
    it undoes is committed, content equal to what that write found is a hand edit, never an
    "interrupted write" the next writer would quietly record as aborted."""
    _approved_a(root)
    shutil.copyfile(root.backup, root.auto)
    assert root.live().get(LEVERAGE) == 1.0
    assert root.run("overrides", "verify-audit").returncode == 1
    other = root.promote(PROPOSAL_B)
    root.refused("proposals", "approve", other, "--by", "alice")
    assert not [r for r in root.audit() if r.get("event") == "write_aborted"]


def test_an_offline_override_file_never_reaches_live(root: LiveRoot) -> None:
    """Drop ``config/auto/evil.override.toml`` with leverage 2.9: offline overrides merge only
    in backtest and drill, never in live."""
    (root.path / "config" / "auto" / "evil.override.toml").write_text(
        '[overrides]\n"portfolio.leverage" = 2.9\n'
    )
    shown = root.ok("config", "show", "--env", "live")
    assert "portfolio.leverage = 1.0" in shown.stdout.splitlines()
    assert root.live().get(LEVERAGE) == 1.0


def test_a_well_formed_bogus_record_is_moved_aside_by_rollback(root: LiveRoot) -> None:
    """Append a complete JSON line with an int seq but no valid chain to the trail (anything
    that can write reports/ can). The anchor does not vouch for it: a damaged tail, so
    ``verify-audit`` exits 1, a governed write refuses, and ``rollback`` (an emergency path,
    like ``clear``) moves it aside with a critical alert and undoes the last genuine change."""
    _approved_a(root)
    with root.audit_file.open("a") as trail:
        trail.write('{"seq": 999, "event": "change"}\n')
    assert root.run("overrides", "verify-audit").returncode == 1
    other = root.promote_refused(PROPOSAL_B)
    assert "not vouched for" in other.stderr
    root.ok("overrides", "rollback", "--by", "alice")
    assert root.live_table() != {LEVERAGE: 1.25, DELAY: 8.0}
    assert '"seq": 999' not in root.audit_file.read_text()
    assert any("not vouched for" in a.message for a in root.alerts() if a.level == "critical")


def test_a_forged_proposal_with_a_forged_trail_is_refused(root: LiveRoot) -> None:
    """Forge a whole proposal: copy a real one to a new id, edit its candidates, and append
    verdict records carrying the forged content's seal, the chain and head recomputed (all of
    it under reports/). The seal then matches the trail, but the governance never judged this
    proposal: the state database (outside reports/) holds no seal for it. Replaying a real
    proposal under a new id without touching the trail is refused too."""
    real = root.promote(PROPOSAL_A)
    replayed = "20991231T235958Z-0badcafe"
    shutil.copytree(root.path / PROPOSALS / real, root.path / PROPOSALS / replayed)
    before = root.auto_bytes()
    assert (
        "no seal recorded" in root.refused("proposals", "approve", replayed, "--by", "alice").stderr
    )

    def accept_exposure(content: dict[str, object]) -> None:
        for candidate in content["candidates"]:  # type: ignore[attr-defined]
            if candidate["target"] == EXPOSURE:
                candidate.update(verdict="ACCEPTED_FOR_PROPOSAL", reasons=["forged"])

    forged = root.forge_proposal(real, "20991231T235959Z-deadbeef", accept_exposure)
    # The forged verdicts chain, but the anchor in state/ does not vouch for them.
    assert root.run("overrides", "verify-audit").returncode == 1
    refused = root.refused("proposals", "approve", forged, "--by", "alice")
    assert "state database" in refused.stderr
    assert root.auto_bytes() == before
    assert root.last_critical().context["error"] == "SealBroken"
    shown = root.run("proposals", "show", forged)
    assert shown.returncode == 1 and "SEAL BROKEN" in shown.stdout
    # Fail closed: while the trail holds records its anchor does not vouch for, nothing is
    # approved, the real proposal neither; the emergency path moves them aside.
    assert "not vouched for" in root.run("proposals", "approve", real, "--by", "alice").stderr
    root.ok("overrides", "clear", "--by", "alice")
    root.ok("proposals", "approve", real, "--by", "alice")  # the real one works again
    assert root.live_table() == {LEVERAGE: 1.25, DELAY: 8.0}


@pytest.mark.parametrize("bookkeeping", ["unfreeze", "cooldown", "rate-limit"])
@pytest.mark.parametrize("resolution", ["adopt", "clear"])
def test_a_hand_edit_of_the_bookkeeping_is_not_laundered(
    root: LiveRoot, bookkeeping: str, resolution: str
) -> None:
    """Edit auto.toml's ``[governance]`` bookkeeping by hand to beat a hold: lift the rollback
    guard's freeze of a key, drop a key's last change (its cooldown), or empty the auto-apply
    times (the rate limit). The edit is a hand edit (refused, ``verify-audit`` exit 1); the
    operator then resolves it with ``adopt`` or ``clear`` as the alert says. The hold must
    survive: the bookkeeping the trail recorded wins over the edited file's."""
    if bookkeeping == "rate-limit":
        root.policy("cooldown_minutes = 60", "cooldown_minutes = 0")
        root.policy("enabled = true", "enabled = false")  # no bake window: only the rate limit
        source = root.path / "steps.json"
        source.write_text(
            json.dumps({"patches": [patch(LEVERAGE, 2.0), patch(DELAY, 3.0), patch(WEIGHT, 0.8)]})
        )
        stepped = root.ok("promote", "--auto-apply-mode", "bounded_auto", "--input", str(source))
        assert stepped.stdout.count(": applied ") == 3  # max_auto_applies_per_day
        root.edit_governance(lambda gov: gov.update(auto_applies=[]))
    else:
        proposal = root.promote(PROPOSAL_A)
        root.ok("proposals", "approve", proposal, "--by", "alice")
        if bookkeeping == "unfreeze":
            _freeze(root, LEVERAGE)
            root.edit_governance(lambda gov: gov.update(frozen={}))
        else:
            root.edit_governance(lambda gov: gov.update(last_change={}))
    assert root.run("overrides", "verify-audit").returncode == 1
    root.ok("overrides", resolution, "--by", "alice")
    assert root.run("overrides", "verify-audit").returncode == 0
    if bookkeeping == "unfreeze":
        assert f"# FROZEN {LEVERAGE}" in root.ok("overrides", "show").stdout
    elif bookkeeping == "cooldown":
        again = root.ok("proposals", "approve", proposal, "--by", "alice")
        assert "cooldown" in again.stdout and ": applied" not in again.stdout
    else:
        again = root.ok("promote", "--auto-apply-mode", "bounded_auto", "--input", str(source))
        assert "rate limit: 3 auto-applies in the last 24h" in again.stdout
        assert ": applied " not in again.stdout


def _freeze(root: LiveRoot, key: str) -> None:
    """The rollback guard's freeze of ``key`` (its revert of the key's last change, through the
    real writer, as the daemon's guard makes it)."""
    workspace = PromotionWorkspace.from_settings(load_settings(root.path))
    change = [r for r in root.audit() if r.get("event") == "change" and r["key"] == key][-1]
    workspace.writer().transact(
        plan_guard_revert(change, ["drawdown up"]),
        kind=WriteKind.RETREAT,
        gate=GateContext(workspace.base(), workspace.policy()),
        actor="rollback-guard",
        mode="bounded_auto",
        proposal_id=change.get("proposal_id"),
        now=datetime.now(UTC),
    )
    assert f"# FROZEN {key}" in root.ok("overrides", "show").stdout


@pytest.mark.parametrize("undo", ["to-backup", "steps"])
def test_clearing_a_hand_edit_does_not_make_it_restorable(root: LiveRoot, undo: str) -> None:
    """Hand-edit leverage 1.25 -> 2.0 (in bounds, but three steps from the base at once); the
    operator pulls the killswitch, ``overrides clear``, as the alert asks; later someone undoes
    the clear (``rollback --to-backup`` or ``--steps 2``). The backup is the hand-edited file
    and the clear recorded its values as ``before``: neither may bring back a value the
    governance never passed."""
    _approved_a(root)
    root.hand_edit({LEVERAGE: 2.0})
    root.ok("overrides", "clear", "--by", "alice")
    if undo == "to-backup":
        refused = root.refused("overrides", "rollback", "--to-backup", "--by", "bob")
        assert "hand-edited" in refused.stderr
        assert root.live_table() == {}
    else:
        root.ok("overrides", "rollback", "--steps", "2", "--by", "bob")
        assert root.live_table() == {LEVERAGE: 1.25, DELAY: 8.0}  # the values it had governed
    assert root.live().get(LEVERAGE) != 2.0
    assert root.run("overrides", "verify-audit").returncode == 0


# -- the trail is a hash chain; its anchor in state/ is what the chain cannot fake ---------


def test_a_forged_change_record_is_not_what_rollback_restores(root: LiveRoot) -> None:
    """Append one ``change`` record (leverage before 2.0, after the current 1.25) to the trail,
    re-chained; no file is touched. Without an anchor the chain verifies and ``rollback``
    undoes the forged change, writing 2.0 (three max_steps at once: the trail "recorded" it).
    The anchor in ``state/`` does not vouch for the record: ``verify-audit`` exits 1 naming
    it, and ``rollback`` (an emergency path) moves it aside with a critical alert, then undoes
    the last genuine change instead."""
    _approved_a(root)
    forged = {
        "time": datetime.now(UTC).isoformat(),
        "event": "change",
        "actor": "alice",
        "mode": "operator",
        "kind": "advance",
        "proposal_id": None,
        "write_id": "w-forged",
        "key": LEVERAGE,
        "before": 2.0,
        "after": 1.25,
        "reasons": ["forged"],
    }
    root.forge_trail(lambda records: [*records, forged])
    verify = root.run("overrides", "verify-audit")
    assert verify.returncode == 1 and "not vouched for by the audit anchor" in verify.stdout
    root.ok("overrides", "rollback", "--by", "bob")
    assert root.live().get(LEVERAGE) != 2.0
    assert root.live_table() != {LEVERAGE: 1.25, DELAY: 8.0}  # a genuine change was undone
    assert any("not vouched for" in a.message for a in root.alerts() if a.level == "critical")
    [aside] = root.audit_file.parent.glob("audit.jsonl.damaged-*")
    assert "w-forged" in aside.read_text()
    assert "w-forged" not in root.audit_file.read_text()


def test_a_forged_trail_matching_a_forged_file_is_detected(root: LiveRoot) -> None:
    """Edit auto.toml by hand (leverage 1.25 -> 2.0) and append to the trail the records a
    genuine write would have left (a change, the file and content hashes, the commit),
    re-chained. Without an anchor nothing tells it from a governed write. With it:
    ``verify-audit`` exits 1, the next approval is refused with a critical alert and carries
    nothing forward, and ``overrides clear`` (an emergency path) still works."""
    from peaktrade_daemon.promotion.file_check import file_hashes

    _approved_a(root)
    before_bytes = root.auto_bytes()
    root.hand_edit({LEVERAGE: 2.0})
    file_before, content_before, _ = file_hashes(before_bytes)
    file_after, content_after, _ = file_hashes(root.auto_bytes())
    common = {
        "time": datetime.now(UTC).isoformat(),
        "mode": "operator",
        "proposal_id": None,
        "write_id": "w-forged",
    }
    hashes = {"file_sha256_after": file_after, "content_sha256_after": content_after}
    records: list[dict[str, Any]] = [
        {
            **common,
            **hashes,
            "actor": "alice",
            "kind": "advance",
            "event": "change",
            "key": LEVERAGE,
            "before": 1.25,
            "after": 2.0,
            "file_sha256_before": file_before,
            "content_sha256_before": content_before,
            "reasons": ["approved by alice"],
        },
        {**common, **hashes, "actor": "writer", "event": "write_committed", "reasons": ["ok"]},
    ]
    root.forge_trail(lambda existing: [*existing, *records])
    assert root.run("overrides", "verify-audit").returncode == 1
    forged_bytes = root.auto_bytes()
    refused = root.promote_refused(PROPOSAL_B)  # its verdict records would chain onto them
    assert "not vouched for" in refused.stderr
    assert "not vouched for" in root.last_critical().message
    assert root.auto_bytes() == forged_bytes
    root.ok("overrides", "clear", "--by", "bob")
    assert root.live_table() == {}
    assert root.live().get(LEVERAGE) == 1.0  # the base value
    # What is left to do is the operator's archiving of the evidence moved aside.
    [aside] = root.audit_file.parent.glob("audit.jsonl.damaged-*")
    aside.rename(root.path / aside.name)
    assert root.run("overrides", "verify-audit").returncode == 0
