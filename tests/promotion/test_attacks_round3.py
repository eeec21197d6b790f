"""Third round of attacks on §8.8 (a red-team review after commits 7ce4151 and 44386f6); each
passed through before its fix.

* An empty table nested deeper than the loader's limit inside ``[auto_applied]`` was "not
  content" to the file-vs-trail check (``verify-audit`` and the daemon's comparison said
  *match*), while the live loader refused the whole file and the trading system silently ran on
  the base values. Now one depth limit holds for every reader (``toml_depth``): to the check
  and the writer such a file does not parse, as it never did for the loader.
* Nested 101+ levels, tomlkit refused it while tomllib read it: the check said *match* yet
  every write, ``overrides clear`` included, was refused. Now both say "does not parse".
* About a thousand levels deep, the check itself raised RecursionError, which the promotion
  worker's ``check_file`` did not catch and the CLI reported as "unexpected".
* ``learn --out-file`` trusted anything under the offline overrides directory before it looked
  at the protected places: with ``paths.offline_overrides_dir`` set over a protected directory,
  ``learn`` replaced auto.toml (or the policy) with no lock, gate or audit record.

In-process (the real writer, trail, loader, worker and CLI ``main``) on files in ``tmp_path``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.config.loader import load_config_with_live_overrides
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.file_check import check_file
from peaktrade_daemon.promotion.writer import OverridesWriter
from tests.conftest import PROJECT_ROOT
from tests.promotion.conftest import fresh_writer
from tests.promotion.test_attacks_round2 import FRESH, _set

LEVERAGE, DELAY, WEIGHT = "portfolio.leverage", "strategy.trigger_delay", "macro.regime_weight"
GOVERNED = {LEVERAGE: 1.25, DELAY: 8.0}


@pytest.fixture
def writer(tmp_path: Path) -> OverridesWriter:
    return fresh_writer(tmp_path, FRESH)


def _live(path: Path, base: Path = PROJECT_ROOT / "config" / "config.toml") -> dict[str, Any]:
    config = load_config_with_live_overrides(
        base, auto_overrides_path=path, force_apply_overrides=True
    )
    return {k: config.get(k) for k in (LEVERAGE, DELAY)}


def _deep_empty_table(levels: int) -> str:
    return "\n[auto_applied" + ".a" * levels + "]\n"


# -- finding 1: an empty deep table is "formatting" to the check, "no overrides" to the loader --


def test_an_empty_table_nested_past_the_loaders_limit_is_not_a_silent_revert(
    writer: OverridesWriter,
) -> None:
    """Two governed changes are in auto.toml (leverage 1.25, trigger_delay 8.0). Append one
    line, ``[auto_applied.a.a.a...]`` (40 levels, no keys): the live loader applies no override
    of such a file (a critical alert at load), so the check must not call it the recorded
    content: to it the file does not parse, and ``verify-audit`` names the problem."""
    _set(writer, GOVERNED)
    assert _live(writer.path) == GOVERNED
    writer.path.write_text(writer.path.read_text() + _deep_empty_table(40))
    with pytest.raises(ValueError, match="tables nest deeper than 32 levels"):
        writer.check()
    problem, _ = check_file(writer.path, writer.audit.records())
    assert problem is not None and "does not parse" in problem, problem
    assert "tables nest deeper than 32 levels" in problem


def test_every_reader_and_the_writer_agree_a_too_deep_file_does_not_parse(
    writer: OverridesWriter,
) -> None:
    """At 150 levels tomllib reads the file but tomlkit refuses it: the check used to say
    *match* while every write, ``overrides clear`` included, was refused. Now the check and the
    writer both refuse it as not parsing (§8.4: a file that does not parse is never
    overwritten, an operator repairs it), and the file is left as it is."""
    from datetime import timedelta

    from peaktrade_daemon.errors import UnparseableFileError
    from peaktrade_daemon.governance.plans import WriteKind, plan_restore
    from tests.promotion.conftest import T0, write

    _set(writer, GOVERNED)
    writer.path.write_text(writer.path.read_text() + _deep_empty_table(150))
    edited = writer.path.read_bytes()
    with pytest.raises(ValueError, match="deeper than 32"):
        writer.check()
    with pytest.raises(UnparseableFileError, match="tables nest deeper than 32 levels"):
        write(
            writer,
            plan_restore({}, "alice", "clear"),
            kind=WriteKind.CLEAR,
            now=T0 + timedelta(minutes=5),
        )
    assert writer.path.read_bytes() == edited


# -- finding 2: deeper still, the check raises RecursionError the worker does not catch -------


class _Alerts:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    async def emit(self, level: Any, source: str, message: str, context: Any = None) -> None:
        self.seen.append((str(level), source, message))


async def test_a_very_deep_empty_table_is_an_alert_not_a_crash_of_the_worker(
    project_root: Path,
) -> None:
    """The same line nested 1,200 levels deep (tomllib parses it; the check's recursive
    ``flatten`` does not): ``OverridesWriter.check`` raises RecursionError, and
    ``PromotionWorker.check_file`` only catches PeakTradeError, ValueError and OSError. So the
    worker's ``start`` raises and each ``tick`` (audit scan, rollback guard, pending steps)
    raises before the guard runs: the component crash-loops under the supervisor instead of
    raising the critical "auto.toml check failed" alert it has for an unreadable file."""
    from peaktrade_daemon.clock import ManualClock
    from peaktrade_daemon.promotion.worker import PromotionWorker
    from peaktrade_daemon.promotion.workspace import PromotionWorkspace
    from peaktrade_daemon.settings import load_settings
    from tests.promotion.conftest import T0

    settings = load_settings(project_root)
    workspace = PromotionWorkspace.from_settings(settings)
    _set(workspace.writer(), GOVERNED)
    auto = workspace.overrides_file
    auto.write_text(auto.read_text() + _deep_empty_table(1200))

    alerts = _Alerts()
    worker = PromotionWorker(settings, clock=ManualClock(T0), alerts=alerts, metrics=None)  # type: ignore[arg-type]
    try:
        found = await asyncio.wait_for(worker.check_file(), 5)
    except RecursionError:
        pytest.fail("PromotionWorker.check_file raised RecursionError (start and tick crash)")
    assert found is None or found.status != "match"
    assert any(level == "critical" for level, _, _ in alerts.seen), alerts.seen


def test_verify_audit_reports_a_very_deep_table_as_a_problem_not_an_unexpected_error(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``overrides verify-audit`` and ``overrides show`` on that file print ``error: unexpected
    RecursionError`` (the CLI's catch-all for a bug), instead of naming the file's problem."""
    from peaktrade_daemon.cli.app import main
    from peaktrade_daemon.promotion.workspace import PromotionWorkspace
    from peaktrade_daemon.settings import load_settings

    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    _set(workspace.writer(), GOVERNED)
    auto = workspace.overrides_file
    auto.write_text(auto.read_text() + _deep_empty_table(1200))

    code = main(["--root", str(project_root), "overrides", "verify-audit"])
    out = capsys.readouterr()
    assert code == 1
    assert "unexpected" not in out.err, out.err
    assert "PROBLEM" in out.out, out.out


# -- finding 3: `learn --out-file` lets the offline directory whitelist a protected one --------


@pytest.mark.parametrize(
    ("offline_dir", "victim"),
    [
        ("config/live_overrides", "config/live_overrides/auto.toml"),
        ("config", "config/promotion.toml"),
    ],
    ids=["offline-dir-is-the-live-dir", "offline-dir-is-config"],
)
def test_learn_never_writes_a_protected_file_whatever_the_offline_dir(
    project_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    offline_dir: str,
    victim: str,
) -> None:
    """``check_out_file`` returns early for anything under the offline overrides directory,
    *before* it checks the protected places. With ``paths.offline_overrides_dir`` (daemon.toml
    or ``PEAKTRADE_PATHS__OFFLINE_OVERRIDES_DIR``) set to the live overrides directory, or to
    ``config`` itself, ``learn --out-file config/live_overrides/auto.toml`` (or
    ``config/promotion.toml``) is let through and the file is replaced by an ``[overrides]``
    table: no lock, no gate, no audit record; every governed live value falls back to the base
    value (or the policy, killswitch included, is gone). The protected places should win over
    the allowed one (or the setting should be refused when it overlaps them)."""
    from peaktrade_daemon.cli.app import main
    from tests.daemon_harness import set_toml

    set_toml(project_root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    auto = project_root / "config" / "live_overrides" / "auto.toml"
    writer = OverridesWriter(auto, AuditTrail(project_root / "reports" / "audit.jsonl"))
    _set(writer, {LEVERAGE: 1.25})
    snippets = project_root / "reports" / "learning_snippets"
    snippets.mkdir(parents=True)
    (snippets / "s.json").write_text('{"target": "macro.regime_weight", "value": 0.35}')
    target = project_root / victim
    before = target.read_bytes()

    monkeypatch.setenv("PEAKTRADE_PATHS__OFFLINE_OVERRIDES_DIR", offline_dir)
    code = main(["--root", str(project_root), "learn", "--out-file", str(target)])
    capsys.readouterr()
    assert target.read_bytes() == before, target.read_text()
    assert code != 0
