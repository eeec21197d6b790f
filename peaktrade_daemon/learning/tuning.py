"""The walk-forward learner's decisions as functions of values and arrays: the grid of a key,
a train-window book's score, the choice, and the out-of-sample confidence.
:mod:`peaktrade_daemon.learning.walk_forward` states the rule they implement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from peaktrade_daemon.governance.evidence import bootstrap_means
from peaktrade_daemon.governance.policy import AutoApplyBounds
from peaktrade_daemon.governance.steps import STEP_DECIMALS, STEP_TOLERANCE
from peaktrade_daemon.portfolio.paired import BookRun

FloatArray = npt.NDArray[np.float64]

#: More points than this is a policy whose steps are far finer than its range: a grid search
#: over it would be slow and its winner noise.
MAX_GRID_POINTS = 201


def grid(bounds: AutoApplyBounds) -> tuple[float, ...]:
    """The candidate values of a key: ``min, min + max_step, ...`` up to ``max`` (``max`` last
    when the steps do not land on it), rounded to 10 decimals, inside the bounds, ascending.
    ValueError when that is more than :data:`MAX_GRID_POINTS` points."""
    low, high, step = bounds.min_value, bounds.max_value, bounds.max_step
    ratio = (high - low) / step
    if not math.isfinite(ratio) or ratio + 1 > MAX_GRID_POINTS:
        raise ValueError(
            f"[{low:g}, {high:g}] in steps of {step:g} is more than {MAX_GRID_POINTS} points"
        )
    count = math.floor(ratio + 1e-9)

    def point(index: int) -> float:
        exact = min(low + index * step, high)
        rounded = round(exact, STEP_DECIMALS)
        # Rounding only removes binary noise (0.30000000000000004); values finer than the
        # rounding, and the bounds themselves, stay as they are.
        noise = abs(rounded - exact) <= 1e-9 * step
        return rounded if index and noise and low <= rounded <= high else exact

    points = [point(index) for index in range(count + 1)]
    if points[-1] < high - STEP_TOLERANCE * max(1.0, abs(high)):
        points.append(high)
    return tuple(dict.fromkeys(points))


def train_score(run: BookRun, max_drawdown: float) -> float:
    """Mean per-period return of ``run`` (every symbol's periods pooled); NaN when infeasible:
    no period, an undefined period, or a symbol's max drawdown above ``max_drawdown``."""
    returns = run.returns
    if len(returns) == 0 or not np.isfinite(returns).all() or run.max_drawdown > max_drawdown:
        return math.nan
    return float(returns.mean())


def choose(
    values: Sequence[float], scores: Sequence[float], incumbent: float, incumbent_score: float
) -> float:
    """The grid point to propose, or ``incumbent``: the best feasible point (NaN scores are
    infeasible) when its score is strictly above ``incumbent_score`` (any feasible point beats
    an infeasible incumbent); among equal scores the point nearest the incumbent, then the
    lower one."""
    best: tuple[tuple[float, float, float], float] | None = None
    for value, score in zip(values, scores, strict=True):
        if not math.isfinite(score):
            continue
        rank = (-score, abs(value - incumbent), value)
        if best is None or rank < best[0]:
            best = (rank, value)
    if best is None or (math.isfinite(incumbent_score) and incumbent_score >= -best[0][0]):
        return incumbent
    return best[1]


def confidence(differences: FloatArray, seed: int, resamples: int) -> float:
    """Share of the circular block bootstrap means of ``differences`` above 0, in [0, 1]; 0 for
    fewer than 2 differences or an undefined one."""
    if len(differences) < 2 or not np.isfinite(differences).all():
        return 0.0
    means = bootstrap_means(np.asarray(differences, dtype=np.float64), seed, resamples)
    return float(np.count_nonzero(means > 0.0) / len(means))
