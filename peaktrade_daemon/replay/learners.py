"""Where a replay's patches come from, and the learning step that hands them to promotion.

A :class:`Learner` answers "what has learning produced by data time ``now``?". The learning
step then goes the product's way (§7.3): the learner's patches are written as a snippet into
the scratch root's ``reports/learning_snippets/`` (deterministic bytes, its file time set to the
data time, so ``learn`` orders the folder by data time), the learning cycle reads the folder
as ``peaktrade-daemon learn`` does (oldest first, the last patch per key wins; blacklisted and
firewalled keys never written) and its published set goes to the promotion worker, as the
daemon's patch inbox hands it over.

* ``snippets DIR`` (:class:`SnippetLearner`): each patch of the folder is learned at the first
  learning step at or after its ``generated_at`` (a patch without one: at the first step); each
  step writes the patches it releases as ``snippets-<data time>.json``. Patches released
  earlier stay in the folder and are published again, as ``learn`` re-reads a folder.
* ``walk_forward`` (:class:`WalkForwardLearner`): the built-in learner over the replay feeds'
  bars as of ``now``, writing ``walk_forward.json`` each step (its latest view replaces the
  previous one, as its scheduled job does).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.learning.cycle import LearnResult, run_learning_cycle
from peaktrade_daemon.learning.emitter import emit_snippet
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.market.bars import Bars, timeframe_seconds, to_ns
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.monitors.market import market_params
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.replay.inputs import (
    WALK_FORWARD,
    LearnerChoice,
    Release,
)
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.workflows.sources import cycle_symbols


@dataclass(frozen=True, slots=True)
class LearnContext:
    """What a learner may look at: the feeds (replay time = the clock's data time), the
    effective config (the live values), the policy and the scratch root's settings."""

    feeds: MarketSource
    config: PeakConfig
    policy: AutoApplyPolicy
    settings: DaemonSettings


class Learner(Protocol):
    """A source of patches in data time."""

    name: str
    #: True: each step's snippet replaces the previous one, written even when empty (the
    #: learner's latest view); False: a new snippet per step that learned anything.
    replaces: bool

    def snippet_name(self, now: datetime) -> str:
        """The file stem the step at ``now`` writes its patches to."""
        ...

    async def learn(self, now: datetime, context: LearnContext) -> list[ConfigPatch]:
        """The patches learned by ``now`` and not handed over before (in order)."""
        ...


@dataclass(slots=True)
class SnippetLearner:
    """A snippet folder's patches, each released at its ``generated_at`` (module docstring)."""

    releases: tuple[Release, ...]
    name: str = "snippets"
    replaces: bool = False
    _next: int = 0

    def __post_init__(self) -> None:
        # Stable: patches due together keep learn's order (files by (mtime, name), entries).
        self.releases = tuple(sorted(self.releases, key=lambda r: r.at))

    def snippet_name(self, now: datetime) -> str:
        """``snippets-20170426T090000Z``."""
        return f"snippets-{now:%Y%m%dT%H%M%SZ}"

    async def learn(self, now: datetime, context: LearnContext) -> list[ConfigPatch]:
        """The patches whose release time has come since the last step."""
        due: list[ConfigPatch] = []
        while self._next < len(self.releases) and self.releases[self._next].at <= now:
            due.append(self.releases[self._next].patch)
            self._next += 1
        return due


@dataclass(slots=True)
class WalkForwardLearner:
    """The built-in ``walk_forward`` learner (``learning/walk_forward.py``) over the replay
    feeds, with its ``[learning.walk_forward]`` settings: the bars it needs of each of its
    symbols that the replay replays (else of every replayed symbol) as of ``now``, its signals
    and its patch rule."""

    name: str = WALK_FORWARD
    replaces: bool = True

    def snippet_name(self, now: datetime) -> str:
        """One file, replaced at every step (the learner's latest view)."""
        return WALK_FORWARD

    async def learn(self, now: datetime, context: LearnContext) -> list[ConfigPatch]:
        """The learner's patches as of ``now`` (none when nothing beats the live values)."""
        # Imported here: a replay with the snippets learner never loads the grid search.
        from peaktrade_daemon.learning import walk_forward as module

        settings = context.settings
        learner_settings = settings.learning.walk_forward
        market = market_params(settings.monitors.market)
        # Its own symbols where the replay has their history, else the replayed ones.
        replayed = cycle_symbols(settings)
        symbols = [s for s in learner_settings.symbols if s in replayed] or replayed
        count = module.history_bars(context.config, learner_settings, market)
        bars: dict[str, Bars] = {}
        per_year: dict[str, float] = {}
        for symbol in symbols:
            bars[symbol] = await context.feeds.bars(symbol, count)
            tf_s = timeframe_seconds(bars[symbol].timeframe)
            per_year[symbol] = context.feeds.calendar(symbol).bars_per_year(tf_s)
        signals = await asyncio.to_thread(
            module.walk_forward_signals,
            bars,
            context.config,
            context.policy,
            learner_settings,
            min(b.as_of for b in bars.values()),
            market=market,
            bars_per_year=per_year,
        )
        patches: list[ConfigPatch] = module.walk_forward_patches(signals)
        return patches


def make_learner(choice: LearnerChoice) -> Learner:
    """The learner the command line chose."""
    if choice.kind == WALK_FORWARD:
        return WalkForwardLearner()
    return SnippetLearner(choice.releases)


@dataclass(frozen=True, slots=True)
class LearnStep:
    """One learning step: what the learner produced, and what ``learn`` made of the folder."""

    at: datetime
    learned: tuple[ConfigPatch, ...]
    result: LearnResult


def _write_snippet(directory: Path, name: str, patches: list[ConfigPatch], now: datetime) -> None:
    path = emit_snippet(directory, name, patches)
    stamp = to_ns(now)
    os.utime(path, ns=(stamp, stamp))  # learn orders the folder by file time: data time


async def learning_step(
    learner: Learner,
    now: datetime,
    context: LearnContext,
    workspace: PromotionWorkspace,
) -> LearnStep:
    """Learn, write the snippet, run the learning cycle over the folder (module docstring)."""
    learned = await learner.learn(now, context)
    if learned or learner.replaces:
        await asyncio.to_thread(
            _write_snippet, workspace.snippets_dir, learner.snippet_name(now), learned, now
        )
    result = await asyncio.to_thread(
        run_learning_cycle,
        snippets_dir=workspace.snippets_dir,
        out_file=workspace.offline_file,
        published_file=workspace.published_file,
        policy=context.policy,
        now=now,
    )
    return LearnStep(now, tuple(learned), result)
