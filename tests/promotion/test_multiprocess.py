"""Real processes against one root: no lost update, and SIGKILL at any point is recoverable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from peaktrade_daemon.audit_records import changes_since
from peaktrade_daemon.governance.plans import WriteKind, plan_unfreeze
from peaktrade_daemon.promotion.audit import file_sha256
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext, OverridesWriter
from peaktrade_daemon.settings import load_settings
from tests.conftest import subprocess_env
from tests.promotion.conftest import root_trail, write
from tests.promotion.procs import STRESS_POLICY

KEY = "strategy.trigger_delay"
pytestmark = pytest.mark.slow


def _spawn(root: Path, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.promotion.procs", "apply", str(root), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=Path(__file__).resolve().parents[2],
    )


def _replay(records: list[dict]) -> dict[str, float]:
    values: dict[str, float] = {}
    for record in changes_since(records):
        if record["after"] is None:
            values.pop(record["key"], None)
        else:
            values[record["key"]] = record["after"]
    return values


def test_eight_processes_lose_no_update(project_root: Path) -> None:
    (project_root / "config/promotion.toml").write_text(STRESS_POLICY)
    per_process, processes = 6, 8
    children = [_spawn(project_root, per_process) for _ in range(processes)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.count("applied") == per_process
    auto = project_root / "config/live_overrides/auto.toml"
    live = tomllib.loads(auto.read_text())["auto_applied"]
    assert live[KEY] == 10.0 + per_process * processes
    audit = root_trail(project_root)
    report = audit.verify(auto)
    assert report.ok, report.problems
    changes = [r for r in audit.records() if r["event"] == "change"]
    assert [r["after"] for r in changes] == [11.0 + i for i in range(per_process * processes)]
    assert all(r["live_before"] + 1.0 == r["after"] for r in changes)
    proposals = list((project_root / "reports/live_promotion").iterdir())
    assert len({p.name for p in proposals}) == per_process * processes


def test_sigkill_mid_apply_leaves_old_or_new_and_a_consistent_audit(project_root: Path) -> None:
    """Consistent means: auto.toml parses; its SHA-256 equals the last file-state record's
    ``file_sha256_after`` (the write completed) or its ``file_sha256_before`` (killed between the
    audit append and the replace, the write did not happen); and after the next writer's recovery
    the audit verifies and replaying its effective changes gives exactly the file's values."""
    (project_root / "config/promotion.toml").write_text(STRESS_POLICY)
    auto = project_root / "config/live_overrides/auto.toml"
    audit = root_trail(project_root)
    rng = random.Random(7)
    pending_seen = 0
    for attempt in range(16):
        child = _spawn(project_root, 10_000)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(rng.randint(0, 3)):
            assert child.stdout.readline().strip() == "applied"
        if attempt % 2:
            # Kill the moment the audit trail grows: inside the write-ahead window (after the
            # change record, before or during the backup/replace of auto.toml).
            # Each run appends its verdict record, then its change record: wait for the second.
            for _ in range(2):
                size = audit.path.stat().st_size if audit.path.exists() else 0
                while (audit.path.stat().st_size if audit.path.exists() else 0) == size:
                    assert child.poll() is None
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL

        live = tomllib.loads(auto.read_text())  # old or new complete file: always parses
        last = audit.last_file_record()
        assert last is not None
        actual = file_sha256(auto)
        assert actual in (last["file_sha256_after"], last.get("file_sha256_before"))
        pending_seen += actual != last["file_sha256_after"]
        report = audit.verify(auto)
        assert report.ok, report.problems

        # The next writer recovers (records an aborted write if any), then all agrees.
        workspace = PromotionWorkspace.from_settings(load_settings(project_root))
        gate = GateContext(workspace.base(), workspace.policy())
        write(
            OverridesWriter(auto, audit),
            plan_unfreeze("nothing"),
            kind=WriteKind.BOOKKEEPING,
            gate=gate,
        )
        assert audit.verify(auto).ok
        assert audit.last_file_record()["file_sha256_after"] == file_sha256(auto)
        assert _replay(audit.records()) == live["auto_applied"]
    leftovers = [p for p in auto.parent.iterdir() if p.name.endswith(".ptmp")]
    assert len(leftovers) <= 16  # stale temp files are possible and cleaned at daemon start-up
    assert pending_seen > 0, "no kill landed inside the write-ahead window"
