"""The replay driver: moves the ManualClock through data time and runs each instant's work.

It is a component of the replay daemon (registered last, so it is drained first and a stop
request, Ctrl-C included, waits for the instant in progress). Its ``run`` waits until the
daemon reported ready (start-up fully recorded at the start time), then visits every instant
of :mod:`~peaktrade_daemon.replay.schedule` in order. At each one, after the clock is set
there (sleepers due by then, the alert dispatcher's de-duplication windows and the like, wake
at their own deadlines first), in this order, each awaited to the end and followed by a drain
of the bus (so the workflow side has adopted any change of auto.toml before the next step):

1. the cycle, when one is due: the daemon's own cycle, deciding and recording; an EXECUTE is
   recorded, its workflow not run (``act=False``);
2. the learning step, when due (:func:`~peaktrade_daemon.replay.learners.learning_step`), and
   the promotion worker's ``process`` of what ``learn`` published;
3. the worker's ``tick`` (audit scan, rollback guard, pending steps): at every learning step
   and hold end, and at every cycle while a step is pending or a change is watched. With
   neither, a check has nothing to do in replay: it would compare an auto.toml only the worker
   writes with the trail it wrote, and find no apply by another process, so it is skipped.

Time moves on only when all of that is done: every result at an instant is a function of the
data and the instants before it, never of how long threads took, so a second replay gives the
same record. When the last instant is done the driver asks the daemon to stop.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.errors import present
from peaktrade_daemon.governance.live_state import read_state
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.promotion.worker import PromotionWorker
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.replay.learners import LearnContext, Learner, LearnStep, learning_step
from peaktrade_daemon.replay.schedule import hold_ends, on_check_grid
from peaktrade_daemon.replay.timeline import Timeline
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.wiring import WorkflowSide

logger = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 60.0


class ReplayInterrupted(Exception):
    """The daemon was asked to stop (Ctrl-C, SIGTERM) before the replay's end."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The instants a replay visits besides the worker's hold ends."""

    cycles: Sequence[datetime]
    learning: Sequence[datetime]
    origin: datetime
    end: datetime


@dataclass(slots=True)
class Outcome:
    """How the drive ended: ``steps`` (learning), ``instants`` visited, the error if any."""

    steps: list[LearnStep] = field(default_factory=list)
    instants: int = 0
    cycles: int = 0
    finished: bool = False
    interrupted: bool = False
    error: BaseException | None = None


class ReplayDriver:
    """Component ``replay-driver`` (see the module docstring)."""

    name = "replay-driver"

    def __init__(
        self,
        *,
        clock: ManualClock,
        bus: Callable[[], EventBus],
        side: Callable[[], WorkflowSide],
        worker: Callable[[], PromotionWorker],
        settings: Callable[[], DaemonSettings],
        plan: Plan,
        learner: Learner,
        timeline: Timeline,
        symbols: Sequence[str],
        ready: asyncio.Event,
        request_stop: Callable[[str], None],
        progress: Callable[[datetime], None] = lambda moment: None,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._side = side
        self._worker = worker
        self._settings = settings
        self._plan = plan
        self._learner = learner
        self._timeline = timeline
        self._symbols = list(symbols)
        self._ready = ready
        self._request_stop = request_stop
        self._progress = progress
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._started = False
        self.outcome = Outcome()

    async def start(self) -> None:
        """Nothing to acquire."""

    async def run(self) -> None:
        """Drive the whole replay once; never raises (the supervisor must not restart it)."""
        self._started = True
        try:
            await self._wait_ready()
            await self._drive()
            self.outcome.finished = True
        except ReplayInterrupted:
            self.outcome.interrupted = True
        except Exception as exc:
            logger.exception("replay failed at %s", self._clock.now().isoformat())
            self.outcome.error = exc
        finally:
            self._done.set()
        if not self.outcome.interrupted:
            self._request_stop("replay finished" if self.outcome.finished else "replay failed")

    async def reload(self, settings: DaemonSettings) -> None:
        """The replay's settings are fixed."""

    async def drain(self) -> None:
        """Stop after the instant in progress."""
        self._stopping.set()
        if self._started:
            await self._done.wait()

    async def stop(self) -> None:
        """Nothing to release."""

    async def _wait_ready(self) -> None:
        waiter = asyncio.ensure_future(self._ready.wait())
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()
        if self._stopping.is_set():
            raise ReplayInterrupted

    async def _settle(self) -> None:
        if not await self._bus().drain(DRAIN_TIMEOUT_S):
            raise RuntimeError(f"the event bus did not drain within {DRAIN_TIMEOUT_S:g}s")

    async def _drive(self) -> None:
        plan = self._plan
        cycles = list(reversed(plan.cycles))
        learning = list(reversed(plan.learning))
        holds: list[datetime] = []
        while cycles or learning:
            if self._stopping.is_set():
                raise ReplayInterrupted
            now = min([*cycles[-1:], *learning[-1:], *holds[:1]])
            cycle = bool(cycles) and cycles[-1] == now
            learn = bool(learning) and learning[-1] == now
            if cycle:
                cycles.pop()
            if learn:
                learning.pop()
            while holds and holds[0] <= now:
                heapq.heappop(holds)
            await self._clock.set(now)
            await self._instant(now, cycle=cycle, learn=learn)
            self.outcome.instants += 1
            for moment in await self._hold_instants(now):
                if moment not in holds:
                    heapq.heappush(holds, moment)
            self._progress(now)

    async def _instant(self, now: datetime, *, cycle: bool, learn: bool) -> None:
        side, worker = self._side(), self._worker()
        if cycle:
            cycle_engine = present(side.runtime.cycle, "the replay's cycle engine")
            summary = await cycle_engine.run_cycle(symbols=self._symbols, act=False, tag="replay")
            self._timeline.decision(summary)
            self.outcome.cycles += 1
            await self._settle()
        if learn:
            step = await self._learning(now, side, worker)
            self.outcome.steps.append(step)
            self._timeline.learn(step, self._learner.name)
            if step.result.written:
                await worker.process(step.result.written)
                await self._settle()
        if learn or not cycle or _watching(worker):
            await worker.tick()
            await self._settle()

    async def _learning(
        self, now: datetime, side: WorkflowSide, worker: PromotionWorker
    ) -> LearnStep:
        settings = self._settings()
        policy = worker.policy
        if policy is None:
            raise RuntimeError("replay: the promotion worker has no policy")
        config = await asyncio.to_thread(trading_config, settings)
        context = LearnContext(side.components.feeds, config, policy, settings)
        return await learning_step(
            self._learner, now, context, PromotionWorkspace.from_settings(settings)
        )

    async def _hold_instants(self, now: datetime) -> list[datetime]:
        """When a hold of the worker can end next, on the check grid, up to the replay's end
        (nothing pending and nothing watched: no hold to wait for)."""
        worker = self._worker()
        policy = worker.policy
        watches = worker.guard.watches
        if policy is None or not _watching(worker):
            return []
        path = PromotionWorkspace.from_settings(self._settings()).overrides_file
        doc = await asyncio.to_thread(_read_toml, path)
        state = read_state(doc)
        ends = hold_ends(
            watch_ends=[w.ends_at for w in watches.values()],
            last_change=state.last_change,
            auto_applies=state.auto_applies,
            cooldown_minutes=policy.cooldown_minutes,
            after=now,
        )
        step_s = policy.rollback.check_interval_seconds
        grid = {on_check_grid(m, self._plan.origin, step_s) for m in ends}
        return sorted(m for m in grid if now < m <= self._plan.end)


def _watching(worker: PromotionWorker) -> bool:
    """A step is pending or a change is under the rollback guard's observation."""
    return bool(len(worker.pending) or worker.guard.watches)


def _read_toml(path: Any) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
