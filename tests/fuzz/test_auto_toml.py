"""config/live_overrides/auto.toml (live overrides) and config/auto/*.override.toml (offline).

Contract: the loaders never raise on an override file: a bad file or entry is skipped with a
warning naming the file (and key); an applied override only ever replaces an existing base key
with a value of the same kind, and never ``environment.*``. The writer refuses an auto.toml that
does not parse (exit 3) and leaves its bytes exactly as they were; when it does write, the file
parses, holds the change and the previous bytes are in ``auto.toml.backup``.
"""

from __future__ import annotations

import math
import tomllib
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.config.loader import load_effective_config
from peaktrade_daemon.config.overrides import flatten, value_kind
from peaktrade_daemon.errors import HandEditRefusal, PeakTradeError, UnparseableFileError
from peaktrade_daemon.governance.plans import (
    PlannedChange,
    WriteKind,
    WritePlan,
    plan_adopt,
    plan_approved_apply,
)
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyMode
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext, OverridesWriter
from peaktrade_daemon.settings import load_settings
from tests.conftest import PROJECT_ROOT
from tests.fuzz.conftest import OutsideWatch, run_cli_many
from tests.fuzz.mutations import damaged, mutated_document
from tests.promotion.conftest import make_patch, shipped_gate, write

BASE_TEXT = (PROJECT_ROOT / "config" / "config.toml").read_text()
BASE = tomllib.loads(BASE_TEXT)
LIVE_BASE = BASE_TEXT.replace('mode = "paper"', 'mode = "live"', 1)
AUTO = (
    (PROJECT_ROOT / "config" / "live_overrides" / "auto.toml").read_text()
    + '"portfolio.leverage" = 1.5\n"strategy.trigger_delay" = 8.0\nmacro = { regime_weight = 0.3 }\n'
    + '"environment.mode" = "paper"\n"nope.key" = 1\n'
    + '\n[governance]\nauto_applies = ["2026-01-01T00:00:00+00:00"]\n'
    + '[governance.last_change]\n"portfolio.leverage" = "2026-01-01T00:00:00+00:00"\n'
)
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
AUTO_BYTES = st.one_of(
    damaged(AUTO.encode()),
    mutated_document(tomllib.loads(AUTO)).map(lambda d: tomlkit.dumps(d).encode()),
)


def assert_sound_effective(root: Path, override_file: Path, mode: str) -> None:
    effective = load_effective_config(
        root / "config" / "config.toml",
        root=root,
        auto_overrides_path=override_file if mode == "live" else None,
        offline_dir=override_file.parent if mode == "backtest" else root / "nowhere",
        mode=mode,
    )
    base = dict(flatten(BASE))
    for key, value in effective.leaves():
        assert key in base, key
        assert value_kind(value) == value_kind(base[key]), key
        if isinstance(value, float) and value != base[key]:
            assert math.isfinite(value), key
        if key.startswith("environment.") and key != "environment.mode":
            assert value == base[key]
    assert effective.get("environment.mode") == mode
    for warning in effective.warnings:
        assert warning.file == str(override_file), warning


@FUZZ
@given(raw=AUTO_BYTES)
def test_any_live_overrides_file_loads_soundly_with_named_warnings(
    project_root: Path, raw: bytes
) -> None:
    path = project_root / "config" / "live_overrides" / "auto.toml"
    path.write_bytes(raw)
    assert_sound_effective(project_root, path, "live")


@FUZZ
@given(raw=AUTO_BYTES)
def test_any_offline_override_file_loads_soundly_with_named_warnings(
    project_root: Path, raw: bytes
) -> None:
    offline = project_root / "config" / "auto"
    for old in offline.glob("*"):
        old.unlink()
    path = offline / "learning.override.toml"
    path.write_bytes(raw.replace(b"[auto_applied]", b"[overrides]"))
    assert_sound_effective(project_root, path, "backtest")


def _set_leverage(state: Any) -> WritePlan:
    return WritePlan(changes=[PlannedChange("portfolio.leverage", 1.25, ("fuzz",))])


@FUZZ
@given(raw=AUTO_BYTES)
def test_the_writer_refuses_without_touching_or_writes_a_sound_file(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    directory = tmp_path_factory.mktemp("live")
    path = directory / "auto.toml"
    path.write_bytes(raw)
    writer = OverridesWriter(path, AuditTrail(directory / "audit.jsonl"), lock_timeout_s=5)
    try:
        write(writer, _set_leverage)
    except UnparseableFileError as exc:
        assert str(exc).startswith(str(path)) and "refusing to overwrite" in str(exc)
        assert path.read_bytes() == raw
        assert not (directory / "auto.toml.backup").exists()
        return
    except HandEditRefusal as exc:  # any content but an empty table: no write recorded it
        assert str(exc).startswith(str(path)) and "overrides adopt" in str(exc)
        assert path.read_bytes() == raw
        assert not (directory / "auto.toml.backup").exists()
        return
    written = tomllib.loads(path.read_text())
    assert written["auto_applied"]["portfolio.leverage"] == 1.25
    assert "portfolio" not in written["auto_applied"]  # nested tables were flattened, not doubled
    assert (directory / "auto.toml.backup").read_bytes() == raw
    assert not [p for p in directory.iterdir() if p.name.startswith(".") or ".tmp" in p.name]


@pytest.mark.parametrize(
    "raw",
    [
        b"[auto_applied\n",
        b"\xff\xfe",
        "[auto_applied]\n".encode("utf-16"),
        b"a = 1\na = 2\n",
        # Found by the fuzz test above in CI: a bare CR is no line end to the loader's tomllib,
        # but reading the file as text turned it into one, so the writer took the file for sound
        # and then failed on its bytes (an unexpected TOMLDecodeError).
        b'[auto_applied]\n"portfolio.leverage" = 1.5\r',
        b'[auto_applied]\r"portfolio.leverage" = 1.5\n',
    ],
    ids=["truncated", "binary", "utf-16", "duplicate-key", "bare-cr-at-end", "bare-cr-line-end"],
)
def test_unparseable_auto_toml_is_a_warning_for_the_loader_and_a_refusal_for_the_writer(
    project_root: Path, raw: bytes
) -> None:
    path = project_root / "config" / "live_overrides" / "auto.toml"
    path.write_bytes(raw)
    effective = load_effective_config(root=project_root, mode="live")
    (warning,) = effective.warnings
    assert warning.file == str(path) and warning.key is None
    assert effective.get("portfolio.leverage") == BASE["portfolio"]["leverage"]
    writer = OverridesWriter(path, AuditTrail(project_root / "audit.jsonl"), lock_timeout_s=5)
    for kind in WriteKind:  # clear and adopt too: a file nobody can read is never replaced
        with pytest.raises(UnparseableFileError):
            write(writer, _set_leverage, kind=kind)
    assert path.read_bytes() == raw


@pytest.mark.parametrize(
    "name",
    ["a b.override.toml", "-x.override.toml", "\u00e9\u00e9.override.toml", "x\ny.override.toml"],
)
def test_odd_offline_file_names_load_and_are_named(project_root: Path, name: str) -> None:
    offline = project_root / "config" / "auto"
    (offline / name).write_text('[overrides]\n"portfolio.leverage" = "x"\n')
    (offline / "dir.override.toml").mkdir()
    effective = load_effective_config(root=project_root, mode="backtest")
    by_file = {w.file: w.reason for w in effective.warnings}
    assert by_file.keys() == {str(offline / name), str(offline / "dir.override.toml")}
    assert "type mismatch" in by_file[str(offline / name)]
    assert "cannot be read" in by_file[str(offline / "dir.override.toml")]


def test_an_override_file_that_is_a_directory_or_a_dangling_link(project_root: Path) -> None:
    live = project_root / "config" / "live_overrides" / "auto.toml"
    live.unlink()
    live.mkdir()
    effective = load_effective_config(root=project_root, mode="live")
    assert "cannot be read" in effective.warnings[0].reason
    live.rmdir()
    live.symlink_to(project_root / "nowhere.toml")
    assert load_effective_config(root=project_root, mode="live").warnings == ()


@pytest.mark.slow
def test_cli_refuses_to_rewrite_an_unparseable_auto_toml(
    project_root: Path, outside_root: OutsideWatch
) -> None:
    path = project_root / "config" / "live_overrides" / "auto.toml"
    raw = b'[auto_applied]\n"portfolio.leverage" = 1.5\n"macro.regime_weight = 0.3\n'
    path.write_bytes(raw)
    live = outside_root.clone("root-live")
    (live / "config" / "config.toml").write_text(LIVE_BASE)
    (live / "config" / "live_overrides" / "auto.toml").write_bytes(raw)
    results = run_cli_many(
        [
            (project_root, ("overrides", "clear")),
            (project_root, ("overrides", "rollback", "--steps", "1")),
            (live, ("config", "show")),
            (live, ("config", "check")),
        ]
    )
    for result in results[:2]:
        result.assert_clean_failure(3, "auto.toml", "refusing to overwrite")
    assert path.read_bytes() == raw
    assert not path.with_name("auto.toml.backup").exists()
    shown, checked = results[2:]
    assert shown.code == 0 and "# warning: " in shown.out and "invalid TOML" in shown.out
    checked.assert_clean_failure(1, "auto.toml", "invalid TOML")
    alerts = (project_root / "logs" / "autonomous_alerts.log").read_text()
    assert alerts.count("\tcritical\toverrides\t") == 2


def test_writer_errors_are_product_errors() -> None:
    assert issubclass(UnparseableFileError, PeakTradeError)


def test_a_hand_edited_nan_is_refused_then_dropped_by_adopt(tmp_path: Path) -> None:
    path = tmp_path / "auto.toml"
    path.write_text('[auto_applied]\n"strategy.trigger_delay" = nan\n')
    writer = OverridesWriter(path, AuditTrail(tmp_path / "audit.jsonl"), lock_timeout_s=5)
    with pytest.raises(HandEditRefusal, match=r"strategy\.trigger_delay"):
        write(writer, _set_leverage)
    gate = shipped_gate()
    adopted = write(writer, plan_adopt(gate.base, gate.policy, "op", {}), kind=WriteKind.ADOPT)
    kept, dropped = adopted.outcome
    assert kept == {} and [d.key for d in dropped] == ["strategy.trigger_delay"]
    assert "non-finite" in " ".join(dropped[0].reasons)
    assert write(writer, _set_leverage).written
    assert tomllib.loads(path.read_text())["auto_applied"] == {"portfolio.leverage": 1.25}


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_override_is_refused_with_a_warning(project_root: Path, value: str) -> None:
    auto = project_root / "config" / "live_overrides" / "auto.toml"
    auto.write_text(f'[auto_applied]\n"portfolio.leverage" = {value}\n')
    effective = load_effective_config(root=project_root, mode="live")
    assert effective.get("portfolio.leverage") == 1.0
    (warning,) = effective.warnings
    assert warning.key == "portfolio.leverage" and "non-finite number" in warning.reason
    assert warning.critical  # behind the hard firewall: never applied, always loud


@pytest.mark.parametrize(
    "stamp",
    ['"2026-05-31T23:30:00"', "2026-05-31T23:30:00", "2026-05-31", '"2026-05-31T23:30:00Z"'],
)
def test_governance_times_without_an_offset_are_utc_not_a_crash(tmp_path: Path, stamp: str) -> None:
    path = tmp_path / "auto.toml"
    path.write_text(
        '[auto_applied]\n"portfolio.leverage" = 1.5\n\n[governance]\n'
        f'auto_applies = [{stamp}]\n[governance.last_change]\n"portfolio.leverage" = {stamp}\n'
    )
    writer = OverridesWriter(path, AuditTrail(tmp_path / "audit.jsonl"), lock_timeout_s=5)
    state = writer.read()
    assert all(m.tzinfo is not None for m in [*state.auto_applies, *state.last_change.values()])
    with pytest.raises(HandEditRefusal):  # no write recorded this file: an operator adopts it
        write(writer, _set_leverage)
    gate = shipped_gate()
    assert write(writer, plan_adopt(gate.base, gate.policy, "op", {}), kind=WriteKind.ADOPT).written
    assert write(writer, _set_leverage, now=NOW + timedelta(hours=2)).written


@pytest.mark.parametrize("mode", [AutoApplyMode.BOUNDED_AUTO, AutoApplyMode.MANUAL_ONLY])
def test_a_hand_edited_leverage_above_the_firewall_is_never_stepped_to_another(
    project_root: Path, mode: AutoApplyMode
) -> None:
    """auto.toml edited by hand to leverage 4.0 (above the hard 3.0): neither auto-apply nor an
    approval writes anything while the hand edit stands, and adopting drops the 4.0."""
    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    policy = workspace.policy().model_copy(
        update={
            "mode": AutoApplyMode.BOUNDED_AUTO,
            "bounds": {"portfolio.leverage": AutoApplyBounds(1.0, 4.0, 0.5)},
            "auto_apply_whitelist": ("portfolio.leverage",),
        }
    )
    workspace.overrides_file.write_text('[auto_applied]\n"portfolio.leverage" = 4.0\n')
    edited = workspace.overrides_file.read_bytes()
    patch = make_patch("portfolio.leverage", 1.0, confidence=0.99)
    writer = workspace.writer()
    gate = GateContext(workspace.base(), policy)

    def promote() -> Any:
        return run_promotion(
            [patch],
            policy=policy,
            mode=mode,
            base=workspace.base(),
            writer=writer,
            audit=workspace.audit(),
            proposals_dir=workspace.proposals_dir,
            now=NOW,
        )

    with pytest.raises(HandEditRefusal) if mode is AutoApplyMode.BOUNDED_AUTO else nullcontext():
        run = promote()
    if mode is AutoApplyMode.MANUAL_ONLY:
        planner = plan_approved_apply(run.proposals[0].accepted, policy, gate.base, "op", NOW)
        with pytest.raises(HandEditRefusal):
            write(writer, planner, gate=gate)
    assert workspace.overrides_file.read_bytes() == edited
    adopted = write(
        writer, plan_adopt(gate.base, policy, "op", {}), kind=WriteKind.ADOPT, gate=gate
    )
    assert [d.key for d in adopted.outcome[1]] == ["portfolio.leverage"]
    assert tomllib.loads(workspace.overrides_file.read_text())["auto_applied"] == {}
