"""Second round of attacks on §8.8 and §10 (a red-team review of December 2026). Each test is
one attack that passed through before its fix: a reformatted ``[auto_applied]`` emptied by the
next write, patches sharing an id judged on each other's evidence, ``learn --out-file`` over
auto.toml or the policy, a planted symlink leading replay's default output into config/, and a
poll interval that never finishes. In-process (the real writer, gate, audit trail and live
loader on files in ``tmp_path``) but for one CLI test.
"""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from peaktrade_daemon.config.loader import load_config_with_live_overrides
from peaktrade_daemon.governance.plans import WriteKind, plan_restore
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.file_check import recorded_table
from peaktrade_daemon.promotion.writer import OverridesWriter
from tests.conftest import PROJECT_ROOT
from tests.promotion.conftest import T0, fresh_writer, write

LEVERAGE, DELAY, WEIGHT = "portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight"
FRESH = "[auto_applied]\n"


@pytest.fixture
def writer(tmp_path: Path) -> OverridesWriter:
    return fresh_writer(tmp_path, FRESH)


def _set(writer: OverridesWriter, values: dict, *, minutes: int = 0, kind=WriteKind.ADVANCE):
    return write(
        writer,
        plan_restore(values, "alice", "test"),
        kind=kind,
        now=T0 + timedelta(minutes=minutes),
    )


def _live(writer: OverridesWriter) -> dict:
    """What the live loader hands the trading system (the shipped base, live overrides on)."""
    config = load_config_with_live_overrides(
        PROJECT_ROOT / "config" / "config.toml",
        auto_overrides_path=writer.path,
        force_apply_overrides=True,
    )
    return {k: config.get(k) for k in (LEVERAGE, DELAY, WEIGHT)}


# -- finding 1: a content-preserving reformat of [auto_applied] makes the next write drop keys --


WRITTEN = f'[auto_applied]\n"{LEVERAGE}" = 1.25\n"{DELAY}" = 8.0\n'


@pytest.mark.parametrize(
    ("spelling", "tail"),
    [
        # [auto_applied] as an inline table
        (f'auto_applied = {{ "{LEVERAGE}" = 1.25, "{DELAY}" = 8.0 }}\n', ""),
        # [auto_applied] split in two around [governance] (an "out-of-order" table)
        (f'[auto_applied]\n"{DELAY}" = 8.0\n', "\n[auto_applied.portfolio]\nleverage = 1.25\n"),
        # [auto_applied] as dotted keys at the top level
        (f'auto_applied."{LEVERAGE}" = 1.25\nauto_applied."{DELAY}" = 8.0\n', ""),
    ],
    ids=["inline-table", "out-of-order-table", "top-level-dotted-keys"],
)
def test_a_reformatted_live_table_is_not_silently_emptied_by_the_next_write(
    writer: OverridesWriter, spelling: str, tail: str
) -> None:
    """Two governed changes (leverage 1.25, trigger_delay 8.0) are in auto.toml. Rewrite the
    file with the same *content* in another TOML spelling of ``[auto_applied]`` (an inline
    table, or the table split around ``[governance]``). By §8.8 formatting is not content: the
    file still matches the trail (the writer and ``verify-audit`` agree). The next governed
    write (regime_weight 0.25 -> 0.35) must keep leverage and trigger_delay.

    Found: tomlkit hands back an ``InlineTable`` / ``OutOfOrderTableProxy`` rather than a
    ``Table``; ``_flat_live_table`` deletes it and starts an empty ``[auto_applied]``, while
    the gate judged (and the trail recorded) the complete table. The written file silently
    loses both keys: the trading system is moved back to the base values (leverage 1.0,
    trigger_delay 10.0) with no change record, the post-write check compares text only, and the
    trail now disagrees with the file."""
    _set(writer, {LEVERAGE: 1.25, DELAY: 8.0})
    assert _live(writer) == {LEVERAGE: 1.25, DELAY: 8.0, WEIGHT: 0.25}
    text = writer.path.read_text()
    assert WRITTEN in text
    writer.path.write_text(text.replace(WRITTEN, spelling) + tail)
    assert writer.check().status == "match"  # formatting is not content
    assert _live(writer) == {LEVERAGE: 1.25, DELAY: 8.0, WEIGHT: 0.25}

    result = _set(writer, {LEVERAGE: 1.25, DELAY: 8.0, WEIGHT: 0.35}, minutes=90)
    changes = [(r["key"], r["after"]) for r in result.records if r["event"] == "change"]
    assert changes == [(WEIGHT, 0.35)]  # the only change the trail records ...
    assert recorded_table(writer.audit.records()) == {LEVERAGE: 1.25, DELAY: 8.0, WEIGHT: 0.35}
    # ... so the file must hold exactly that, and the trading system must see it.
    assert tomllib.loads(writer.path.read_text())["auto_applied"] == {
        LEVERAGE: 1.25,
        DELAY: 8.0,
        WEIGHT: 0.35,
    }
    assert _live(writer) == {LEVERAGE: 1.25, DELAY: 8.0, WEIGHT: 0.35}
    assert writer.check().status == "match"


def test_a_rendering_that_loses_keys_is_refused_before_anything_is_written(
    writer: OverridesWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second lock on that door: whatever the document editing does, the writer parses the
    text it is about to write and refuses (nothing written, no audit record) unless it holds
    exactly what the gate passed. Shown by bringing back the old bug, a table emptied before the
    change is applied."""
    import tomlkit

    from peaktrade_daemon.errors import GateRefusal
    from peaktrade_daemon.promotion import writer as writer_module

    _set(writer, {LEVERAGE: 1.25, DELAY: 8.0})
    before, trail = writer.path.read_bytes(), writer.audit.path.read_bytes()

    def emptied(doc, *, normalise, nested):  # type: ignore[no-untyped-def]
        doc["auto_applied"] = tomlkit.table()
        return doc["auto_applied"]

    monkeypatch.setattr(writer_module, "_flat_live_table", emptied)
    with pytest.raises(GateRefusal) as refused:
        _set(writer, {LEVERAGE: 1.25, DELAY: 8.0, WEIGHT: 0.35}, minutes=90)
    assert "would not hold what the gate passed" in str(refused.value)
    assert set(refused.value.keys) == {LEVERAGE, DELAY}
    assert writer.path.read_bytes() == before and writer.audit.path.read_bytes() == trail


# -- finding 2: two patches sharing one id share one evidence verdict ------------------------


def _strict_evidence_root(project_root: Path) -> Path:
    """The shipped root, live, with ``[evidence] max_drawdown_increase = 0.0`` (an operator's
    strict policy): on the bundled data the leverage step 1.0 -> 1.25 then FAILs (BTC/USD max
    drawdown 0.0463 -> 0.0575) while the regime_weight step 0.25 -> 0.35 PASSes."""
    from tests.daemon_harness import set_toml

    set_toml(project_root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    set_toml(
        project_root / "config" / "promotion.toml",
        "max_drawdown_increase = 0.025",
        "max_drawdown_increase = 0.0",
    )
    return project_root


def test_patches_sharing_an_id_are_refused_not_judged_on_each_others_evidence(
    project_root: Path,
) -> None:
    """A learning snippet (or ``promote --input`` file) gives two patches the same ``id``:
    leverage -> 2.0 first, regime_weight -> 0.8 second. Evidence, the checklist and approval go
    by patch id, so the leverage candidate, whose own next step FAILs, was judged with
    regime_weight's PASS and came out ACCEPTED_FOR_PROPOSAL (and ``proposals approve`` then
    applied it without ``--override-evidence``). Now an id shared by several patches refuses
    every one of them (REJECTED_BY_SANITY_CHECK, naming the id): one id, one change."""
    from peaktrade_daemon.governance.verdicts import Verdict
    from peaktrade_daemon.promotion.engine import (
        apply_evidence,
        build_promotion_candidates_from_patches,
        filter_candidates_for_live,
    )
    from peaktrade_daemon.promotion.policy_file import load_policy
    from peaktrade_daemon.promotion.workspace import PromotionWorkspace
    from peaktrade_daemon.settings import load_settings
    from tests.promotion.conftest import evidence_for, make_patch

    root = _strict_evidence_root(project_root)
    workspace = PromotionWorkspace.from_settings(load_settings(root))
    policy = load_policy(workspace.policy_file)
    alone = [make_patch(LEVERAGE, 2.0, pid="lev")]
    control = evidence_for(workspace, policy, alone, root)
    assert control["lev"].verdict.value == "FAIL"  # the leverage step on its own: FAIL

    shared = [make_patch(LEVERAGE, 2.0, pid="same"), make_patch(WEIGHT, 0.8, pid="same")]
    evidence = evidence_for(workspace, policy, shared, root)
    decisions = filter_candidates_for_live(
        build_promotion_candidates_from_patches(shared, policy), policy, workspace.base(), {}
    )
    judged = apply_evidence(decisions, evidence)
    assert [d.verdict for d in judged] == [Verdict.REJECTED_BY_SANITY_CHECK] * 2
    assert all("patch id 'same' is given to 2 patches" in " ".join(d.reasons) for d in judged)
    # A unique id is judged as before.
    unique = [make_patch(LEVERAGE, 2.0, pid="a"), make_patch(WEIGHT, 0.8, pid="b")]
    decisions = filter_candidates_for_live(
        build_promotion_candidates_from_patches(unique, policy), policy, workspace.base(), {}
    )
    assert [d.verdict for d in decisions] == [Verdict.ACCEPTED_FOR_PROPOSAL] * 2


@pytest.mark.slow
def test_promote_with_a_shared_patch_id_proposes_and_applies_nothing(project_root: Path) -> None:
    """Through the CLI (real subprocesses): ``promote --input`` of the two patches sharing an
    id in ``bounded_auto`` writes no proposal and leaves auto.toml as it was; the output names
    the shared id."""
    from tests.promotion.attacker import LiveRoot, patch

    root = LiveRoot(project_root)
    _strict_evidence_root(project_root)
    before = root.auto_bytes()
    source = project_root / "shared-id.json"
    source.write_text(
        json.dumps({"patches": [patch(LEVERAGE, 2.0, id="same"), patch(WEIGHT, 0.8, id="same")]})
    )
    done = root.ok("promote", "--auto-apply-mode", "bounded_auto", "--input", str(source))
    assert "patch id 'same' is given to 2 patches" in done.stdout + done.stderr
    assert root.proposal_ids() == [] and root.auto_bytes() == before


# -- finding 3: `learn --out-file` writes auto.toml (and the policy) past the one gate -------


@pytest.mark.parametrize(
    "target",
    ["config/live_overrides/auto.toml", "config/promotion.toml", "config/config.toml"],
)
def test_learn_never_writes_the_live_overrides_or_the_policy(
    project_root: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``peaktrade-daemon learn --out-file config/live_overrides/auto.toml`` (a CLI flag; the
    snippet is an ordinary one under reports/learning_snippets/). §8.4/§8.8 and DESIGN: only
    the promotion writer writes auto.toml, under its lock, gate and audit; ``learn`` writes
    ``config/auto/``. Found: ``learn`` replaces auto.toml with an ``[overrides]`` table, no lock,
    no gate, no audit record: every governed live value silently falls back to the base value
    (the loader finds no ``[auto_applied]``). The same flag replaces promotion.toml (the policy,
    killswitch included) or config.toml (the base config) with its own file."""
    from peaktrade_daemon.cli.app import main
    from tests.daemon_harness import set_toml

    set_toml(project_root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    auto = project_root / "config" / "live_overrides" / "auto.toml"
    writer = OverridesWriter(auto, AuditTrail(project_root / "reports" / "audit.jsonl"))
    _set(writer, {LEVERAGE: 1.25})
    snippets = project_root / "reports" / "learning_snippets"
    snippets.mkdir(parents=True)
    (snippets / "s.json").write_text(
        '{"target": "macro.regime_weight", "value": 0.35, "confidence": 0.9, "is_live_ready": true}'
    )
    victim = project_root / target
    before = victim.read_bytes()

    code = main(["--root", str(project_root), "learn", "--out-file", str(victim)])
    capsys.readouterr()
    assert victim.read_bytes() == before, victim.read_text()
    assert code != 0


def test_learn_writes_its_offline_file_in_config_auto_or_outside_the_root(
    project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The places ``learn --out-file`` may write: the offline overrides directory and anywhere
    outside the root; a symlink in config/auto/ that leads to auto.toml is followed to where it
    leads, and refused."""
    from peaktrade_daemon.cli.app import main

    snippets = project_root / "reports" / "learning_snippets"
    snippets.mkdir(parents=True)
    (snippets / "s.json").write_text('{"target": "macro.regime_weight", "value": 0.35}')
    root = ["--root", str(project_root), "learn", "--out-file"]
    outside = tmp_path / "elsewhere" / "learned.toml"
    outside.parent.mkdir()
    assert main([*root, str(outside)]) == 0
    assert "macro.regime_weight" in outside.read_text()
    inside = project_root / "config" / "auto" / "other.override.toml"
    assert main([*root, str(inside)]) == 0 and inside.exists()
    auto = project_root / "config" / "live_overrides" / "auto.toml"
    before = auto.read_bytes()
    link = project_root / "config" / "auto" / "link.toml"
    link.symlink_to(auto)
    assert main([*root, str(link)]) == 2
    assert "learn never writes" in capsys.readouterr().err
    assert auto.read_bytes() == before


# -- finding 4 (cosmetic): replay's default output follows a planted symlink into config/ ----


def test_replay_default_output_does_not_follow_a_symlink_into_config(project_root: Path) -> None:
    """Make ``reports/replay`` a symlink to ``config/live_overrides`` (anything that can write
    reports/ can). §10: nothing under config/ or state/ is touched. ``--out`` is resolved and
    refused under config/, but the default ``reports/replay/<run_id>/`` is checked unresolved,
    so the run's outputs are written into config/live_overrides/<run_id>/."""
    from datetime import UTC, datetime

    from peaktrade_daemon.errors import UsageError
    from peaktrade_daemon.replay.inputs import choose_out_dir
    from peaktrade_daemon.settings import load_settings

    (project_root / "reports" / "replay").symlink_to(project_root / "config" / "live_overrides")
    settings = load_settings(project_root)
    try:
        chosen = choose_out_dir(settings, None, datetime(2026, 1, 1, tzinfo=UTC))
    except UsageError:
        return  # refused: fine
    assert not chosen.resolve().is_relative_to((project_root / "config").resolve()), chosen


# -- finding 5 (bad input): a tiny --poll-interval is accepted and replay never finishes -----


def test_a_poll_interval_that_makes_no_sense_is_refused() -> None:
    """``replay --poll-interval 1e-300`` passes the check (positive and finite) and then
    ``schedule.interval_times`` builds a list of ``(end - start) / 1e-300`` instants: the
    command ran past a 60 s timeout with memory growing, instead of exiting 2 with a clear
    error. (Tested on the check, not by running it: the run itself would eat the machine.)"""
    from peaktrade_daemon.errors import UsageError
    from peaktrade_daemon.replay.inputs import check_poll_interval

    with pytest.raises(UsageError):
        check_poll_interval(1e-300)
