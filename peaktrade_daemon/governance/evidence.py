"""The evidence rule (§9): is a candidate's book no worse than the incumbent's on the same data?

Pure: two books' metrics and paired per-period returns in, a verdict with reasons and the
metrics out; no I/O, no clock. The books come from a paired run (the paper book simulated twice
over the same bars, :mod:`peaktrade_daemon.portfolio.paired`), read through :class:`Book`.

Rules, first match wins:

1. **FAIL**, a critical metric breaks (whatever the amount of data: a breach seen is a breach):
   on some symbol the candidate pushes the max drawdown past ``risk.max_drawdown`` (the
   candidate's is above the limit, the incumbent's on the same bars is not), or the candidate's
   is above the incumbent's by more than ``max_drawdown_increase``. When the incumbent already
   breaks the limit, the increase rule alone judges the candidate: a market-wide loss that hits
   both books alike is not the candidate's doing, and a step toward less risk must not be
   refused (the reasons say the limit is broken in both books).
2. **INCONCLUSIVE**, too little to judge: fewer than ``min_periods`` paired periods, or either
   book made fewer than ``min_trades`` trades, or some period's return is undefined.
3. **FAIL**, worse with confidence: the one-sided upper ``confidence_level`` bound of the mean
   paired difference (candidate - incumbent return per period) is below ``-tolerance``.
4. **INCONCLUSIVE**, the data is stale (a measured loss above is still a FAIL; stale data never
   passes).
5. **PASS** otherwise: not worse beyond ``tolerance``.

The statistical test: a circular block bootstrap (Politis and Romano, 1992) of the mean paired
difference. Returns of a held position are serially dependent, so resampling single periods
would understate the spread; blocks of ``round(n ** (1/3))`` consecutive periods (wrapping
around the end) keep that dependence. :data:`RESAMPLES` resamples of ``ceil(n / block)`` blocks
each, drawn by numpy's PCG64 generator from ``seed``: the same inputs give the same verdict and
bound. The bootstrap means average to the sample mean exactly (circular blocks), so identical
books (all differences 0) have a bound of 0, never below ``-tolerance``.

``enabled`` is the caller's switch (with it off nothing is judged); :func:`judge` ignores it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from peaktrade_daemon.governance.strict import Count, Flag, Number

RESAMPLES = 5000
_CHUNK_STARTS = 1_000_000
TEST_NAME = "circular block bootstrap of the mean paired per-period return difference"

FloatArray = npt.NDArray[np.float64]


class EvidencePolicy(BaseModel):
    """The policy table ``[evidence]`` of ``config/promotion.toml``. Strict: a string or a bool
    where a number belongs, a non-finite number, an unknown key or a missing one (all but
    ``confidence_level``) is invalid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: Flag
    lookback_bars: Count = Field(ge=10, le=1_000_000)
    min_periods: Count = Field(ge=2, le=10_000_000)
    min_trades: Count = Field(ge=0, le=1_000_000)
    confidence_level: Number = Field(0.95, ge=0.5, lt=1.0)
    tolerance: Number = Field(ge=0.0, le=1.0)
    max_drawdown_increase: Number = Field(ge=0.0, le=1.0)


class EvidenceVerdict(StrEnum):
    """The outcome for one candidate."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


class Book(Protocol):
    """What the rule reads of one run (a paired run's side). ``returns`` are per period, in the
    same order for both books of a pair; ``max_drawdowns`` per symbol (fractions)."""

    @property
    def returns(self) -> FloatArray:
        """Per-period returns, every symbol's one after the other."""
        ...

    @property
    def max_drawdowns(self) -> Mapping[str, float]:
        """Max drawdown per symbol."""
        ...

    @property
    def total_return(self) -> float:
        """Total return over the window (fraction)."""
        ...

    @property
    def sharpe(self) -> float:
        """Annualised Sharpe ratio (NaN when undefined)."""
        ...

    @property
    def turnover(self) -> float:
        """Traded notional / capital."""
        ...

    @property
    def trades(self) -> int:
        """Positions opened."""
        ...


class BookMetrics(BaseModel):
    """One book's metrics as the evidence records them."""

    model_config = ConfigDict(frozen=True)

    total_return: float
    max_drawdown: float
    sharpe: float
    turnover: float
    trades: int
    max_drawdowns: dict[str, float]

    @classmethod
    def of(cls, book: Book) -> BookMetrics:
        """The metrics of ``book``."""
        drawdowns = {k: float(v) for k, v in book.max_drawdowns.items()}
        return cls(
            total_return=float(book.total_return),
            max_drawdown=max(drawdowns.values(), default=0.0),
            sharpe=float(book.sharpe),
            turnover=float(book.turnover),
            trades=int(book.trades),
            max_drawdowns=drawdowns,
        )


class Evidence(BaseModel):
    """The verdict, its reasons, the test's figures and both books' metrics."""

    model_config = ConfigDict(frozen=True)

    verdict: EvidenceVerdict
    reasons: tuple[str, ...]
    test: str
    seed: int
    resamples: int
    block_periods: int
    confidence_level: float
    periods: int
    mean_difference: float
    upper_bound: float
    incumbent: BookMetrics
    candidate: BookMetrics


def block_length(periods: int) -> int:
    """Periods per bootstrap block: round(n^(1/3)), at least 1."""
    return max(1, round(math.cbrt(periods)))


def bootstrap_means(differences: FloatArray, seed: int, resamples: int = RESAMPLES) -> FloatArray:
    """``resamples`` bootstrap means of ``differences`` by the circular block bootstrap (module
    docstring), drawn from ``seed``; empty for fewer than 2 differences."""
    n = len(differences)
    if n < 2:
        return np.empty(0)
    block = block_length(n)
    blocks = -(-n // block)
    # Sum of every circular block of `block` periods, from each start, in one pass.
    wrapped = np.concatenate([differences, differences[: block - 1]])
    sums = np.concatenate([[0.0], np.cumsum(wrapped)])
    block_sums = sums[block : block + n] - sums[:n]
    rng = np.random.Generator(np.random.PCG64(seed))
    # Resamples in chunks of about a million drawn starts: memory stays flat for long windows.
    rows = max(1, _CHUNK_STARTS // blocks)
    totals = np.concatenate(
        [
            block_sums[rng.integers(0, n, size=(min(rows, resamples - done), blocks))].sum(axis=1)
            for done in range(0, resamples, rows)
        ]
    )
    return np.asarray(totals / (blocks * block), dtype=np.float64)


def bootstrap_upper_bound(differences: FloatArray, confidence_level: float, seed: int) -> float:
    """The one-sided upper ``confidence_level`` bound of the mean of ``differences`` by the
    circular block bootstrap (module docstring); NaN for fewer than 2 differences."""
    means = bootstrap_means(differences, seed)
    if len(means) == 0:
        return math.nan
    return float(np.quantile(means, confidence_level))


def _critical(
    incumbent: BookMetrics, candidate: BookMetrics, risk_max_drawdown: float, increase: float
) -> list[str]:
    breaks = []
    for symbol, drawdown in candidate.max_drawdowns.items():
        before = incumbent.max_drawdowns[symbol]
        if drawdown > risk_max_drawdown >= before:
            breaks.append(
                f"{symbol}: candidate max drawdown {drawdown:.4f} above risk.max_drawdown "
                f"{risk_max_drawdown:g} (incumbent {before:.4f})"
            )
        if drawdown - before > increase:
            breaks.append(
                f"{symbol}: candidate max drawdown {drawdown:.4f} is {drawdown - before:.4f} "
                f"above the incumbent's {before:.4f} (max_drawdown_increase {increase:g})"
            )
    return breaks


def judge(
    incumbent: Book,
    candidate: Book,
    *,
    risk_max_drawdown: float,
    policy: EvidencePolicy,
    stale: bool,
    seed: int,
    bound_when_short: bool = True,
) -> Evidence:
    """The verdict on ``candidate`` against ``incumbent`` (module docstring). ValueError when
    the books are not a pair (other symbols or another number of periods) or the risk limit is
    not a positive finite number. ``bound_when_short`` False leaves the bootstrap out (the bound
    NaN) when there are fewer than ``min_periods`` periods, where the verdict does not read it."""
    if not (math.isfinite(risk_max_drawdown) and risk_max_drawdown > 0):
        raise ValueError(f"risk.max_drawdown must be a positive number, got {risk_max_drawdown}")
    before, after = incumbent.returns, candidate.returns
    if before.shape != after.shape or set(incumbent.max_drawdowns) != set(candidate.max_drawdowns):
        raise ValueError("incumbent and candidate are not a pair: other symbols or periods")
    differences = np.asarray(after - before, dtype=np.float64)
    defined = bool(np.isfinite(differences).all())
    periods = len(differences)
    mean = float(differences.mean()) if periods and defined else math.nan
    # Fewer periods than min_periods decide nothing by the bound (rule 2 comes first); it is
    # still computed for the record, unless the caller reads only the verdict (the canary,
    # every check of a young watch).
    needed = bound_when_short or periods >= policy.min_periods
    upper = (
        bootstrap_upper_bound(differences, policy.confidence_level, seed)
        if defined and needed
        else math.nan
    )
    metrics = (BookMetrics.of(incumbent), BookMetrics.of(candidate))
    level = f"{policy.confidence_level:g}"
    comparison = (
        f"mean paired difference {mean:.3g} per period, upper {level} bound {upper:.3g}, "
        f"against -tolerance {-policy.tolerance:g}"
    )

    def verdict(outcome: EvidenceVerdict, *reasons: str) -> Evidence:
        return Evidence(
            verdict=outcome,
            reasons=reasons,
            test=TEST_NAME,
            seed=seed,
            resamples=RESAMPLES,
            block_periods=block_length(periods),
            confidence_level=policy.confidence_level,
            periods=periods,
            mean_difference=mean,
            upper_bound=upper,
            incumbent=metrics[0],
            candidate=metrics[1],
        )

    breaks = _critical(*metrics, risk_max_drawdown, policy.max_drawdown_increase)
    if breaks:
        return verdict(EvidenceVerdict.FAIL, *breaks)
    notes = _over_limit(*metrics, risk_max_drawdown)
    short = _too_little(policy, periods, min(incumbent.trades, candidate.trades), defined)
    if short:
        return verdict(EvidenceVerdict.INCONCLUSIVE, *short, *notes)
    if upper < -policy.tolerance:
        return verdict(
            EvidenceVerdict.FAIL, f"candidate worse beyond tolerance: {comparison}", *notes
        )
    if stale:
        return verdict(EvidenceVerdict.INCONCLUSIVE, "the market data is stale", comparison, *notes)
    return verdict(EvidenceVerdict.PASS, f"not worse beyond tolerance: {comparison}", *notes)


def _too_little(policy: EvidencePolicy, periods: int, trades: int, defined: bool) -> list[str]:
    """Why the data cannot support a verdict (rule 2), if it cannot."""
    short = []
    if periods < policy.min_periods:
        short.append(f"{periods} paired periods, fewer than min_periods {policy.min_periods}")
    if trades < policy.min_trades:
        short.append(f"{trades} trades in a book, fewer than min_trades {policy.min_trades}")
    if not defined:
        short.append("some period's return is undefined (a book's equity fell to or below 0)")
    return short


def _over_limit(incumbent: BookMetrics, candidate: BookMetrics, limit: float) -> list[str]:
    """Notes on symbols where the incumbent already breaks the limit (rule 1 left them to the
    increase rule)."""
    notes = []
    for symbol, before in incumbent.max_drawdowns.items():
        if before <= limit:
            continue
        after = candidate.max_drawdowns[symbol]
        where = "in both books" if after > limit else "in the incumbent's book only"
        notes.append(
            f"{symbol}: max drawdown above risk.max_drawdown {limit:g} {where} "
            f"(incumbent {before:.4f}, candidate {after:.4f})"
        )
    return notes
