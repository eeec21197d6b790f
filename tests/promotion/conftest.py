"""Fixtures for promotion tests: the demo patch set, the shipped policy, a workspace on a root."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.config.loader import load_config
from peaktrade_daemon.governance.guard import PerformanceSource
from peaktrade_daemon.governance.plans import Planner, WriteKind
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.governance.verdicts import Verdict
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.engine import (
    build_promotion_candidates_from_patches,
    filter_candidates_for_live,
)
from peaktrade_daemon.promotion.evidence import CandidateEvidence, EvidenceRunner, root_evidence
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.promotion.worker import PromotionWorker
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext, OverridesWriter, WriteResult
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.storage.db import Database, open_database
from tests.conftest import PROJECT_ROOT

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

# (id, target, old, new, confidence, expected verdict)
DEMO = [
    ("demo-1", "portfolio.leverage", 1.0, 1.75, 0.95, Verdict.ACCEPTED_FOR_PROPOSAL),
    ("demo-2", "strategy.trigger_delay", 10.0, 8.0, 0.90, Verdict.ACCEPTED_FOR_PROPOSAL),
    ("demo-3", "macro.regime_weight", 0.25, 0.35, 0.93, Verdict.ACCEPTED_FOR_PROPOSAL),
    ("demo-4", "risk.stop_loss", 0.02, 0.015, 0.97, Verdict.REJECTED_BY_POLICY),
    ("demo-5", "portfolio.leverage", 2.0, 3.5, 0.97, Verdict.REJECTED_BY_SANITY_CHECK),
    ("demo-6", "macro.regime_weight", 0.35, 0.45, 0.65, Verdict.REJECTED_BY_POLICY),
]


def make_patch(
    target: str,
    new: float | str | bool,
    *,
    confidence: float | None = 0.95,
    old: float | str | bool | None = None,
    pid: str | None = None,
    live_ready: bool = True,
    tags: tuple[str, ...] = (),
    status: PatchStatus = PatchStatus.APPLIED_OFFLINE,
) -> ConfigPatch:
    """An offline-applied, live-ready patch unless told otherwise."""
    meta: dict[str, object] = {"is_live_ready": live_ready}
    if tags:
        meta["tags"] = list(tags)
    return ConfigPatch(
        id=pid or f"p-{target}-{new}",
        target=target,
        old_value=old,
        new_value=new,
        status=status,
        confidence_score=confidence,
        meta=meta,
    )


@pytest.fixture
def demo_patches() -> list[ConfigPatch]:
    """The demo patch set of issue 6, all APPLIED_OFFLINE with meta.is_live_ready true."""
    return [make_patch(t, n, old=o, confidence=c, pid=i) for i, t, o, n, c, _ in DEMO]


def fresh_writer(directory: Path, text: str = "[auto_applied]\n") -> OverridesWriter:
    """The writer of ``directory/live/auto.toml`` (holding ``text``), its trail beside it."""
    auto = directory / "live" / "auto.toml"
    auto.parent.mkdir()
    auto.write_text(text)
    return OverridesWriter(auto, AuditTrail(directory / "audit" / "audit.jsonl"))


def root_trail(root: Path) -> AuditTrail:
    """The audit trail of a root as its commands see it (anchored in the root's state/)."""
    return PromotionWorkspace.from_settings(load_settings(root)).audit()


@pytest.fixture
def workspace(project_root: Path) -> PromotionWorkspace:
    """Promotion paths on a fresh copy of the shipped root."""
    return PromotionWorkspace.from_settings(load_settings(project_root))


@pytest.fixture
def shipped_policy(workspace: PromotionWorkspace) -> AutoApplyPolicy:
    """config/promotion.toml as shipped."""
    return load_policy(workspace.policy_file)


@pytest.fixture
async def database(project_root: Path) -> AsyncIterator[Database]:
    """The root's state database, opened as the daemon opens it."""
    db = await open_database(f"sqlite+aiosqlite:///{project_root / 'state' / 'peaktrade.db'}")
    yield db
    await db.close()


def worker_on(
    root: Path,
    clock: ManualClock,
    metrics: PerformanceSource | None,
    recorder: Any,
    database: Database | None = None,
) -> PromotionWorker:
    """A worker as the daemon builds it (bus, optionally the state database, the evidence on
    the root's own data), bounded_auto."""
    settings = load_settings(root)
    return PromotionWorker(
        settings,
        clock=clock,
        alerts=recorder,
        metrics=metrics,
        database=database,
        publish=recorder.publish,
        mode_override=AutoApplyMode.BOUNDED_AUTO,
        evidence=EvidenceRunner(lambda: settings, Feeds(settings, clock)),
    )


def evidence_for(
    workspace: PromotionWorkspace,
    policy: AutoApplyPolicy,
    patches: list[ConfigPatch],
    root: Path,
) -> dict[str, CandidateEvidence]:
    """The evidence ``promote`` would compute for ``patches`` on ``root``'s data (sync tests)."""

    async def run() -> dict[str, CandidateEvidence]:
        base = workspace.base()
        live = workspace.writer().read().values
        decisions = filter_candidates_for_live(
            build_promotion_candidates_from_patches(patches, policy), policy, base, live
        )
        async with root_evidence(load_settings(root)) as runner:
            return await runner.evaluate(decisions, live, policy, base)

    return asyncio.run(run())


async def started_worker(
    root: Path,
    clock: ManualClock,
    metrics: PerformanceSource | None,
    recorder: Any,
    database: Database | None = None,
) -> PromotionWorker:
    """:func:`worker_on`, started (policy loaded, saved progress resumed)."""
    worker = worker_on(root, clock, metrics, recorder, database)
    await worker.start()
    return worker


@functools.cache
def shipped_gate() -> GateContext:
    """The gate's context on the shipped files: base config.toml and promotion.toml."""
    config = load_config(PROJECT_ROOT / "config" / "config.toml").to_dict()
    return GateContext(config, load_policy(PROJECT_ROOT / "config" / "promotion.toml"))


def write(
    writer: OverridesWriter,
    planner: Planner,
    *,
    kind: WriteKind = WriteKind.ADVANCE,
    actor: str = "alice",
    now: datetime = T0,
    gate: GateContext | None = None,
) -> WriteResult:
    """One writer transaction with the shipped gate (tests' shorthand)."""
    return writer.transact(
        planner,
        kind=kind,
        gate=gate or shipped_gate(),
        actor=actor,
        mode="operator",
        proposal_id=None,
        now=now,
    )


def evidence_off(root: Path) -> None:
    """Turn ``[evidence]`` off in ``root``'s policy (tests of the before/after guard rule and of
    persistence, driven by a scripted performance series rather than market data)."""
    policy = root / "config" / "promotion.toml"
    text = policy.read_text()
    assert "enabled = true\nlookback" in text
    policy.write_text(text.replace("enabled = true\nlookback", "enabled = false\nlookback"))
