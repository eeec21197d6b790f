"""``evidence.png`` of a proposal (§9): incumbent and candidate on one chart per candidate.

For each evaluated candidate (its next step), the top panel is the pooled equity of both books
over the paired periods (the per-period returns the test compared, compounded from 1.0, every
symbol's window one after the other, separated by thin lines) and the bottom panel their
drawdowns. Drawn with matplotlib's Agg canvas (no pyplot state), without a timestamp in the
file, so the same evidence gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from peaktrade_daemon.portfolio.paired import BookRun
    from peaktrade_daemon.promotion.evidence import CandidateEvidence


def _pooled(book: BookRun) -> np.ndarray:
    returns = np.nan_to_num(book.returns, nan=-1.0)  # a blown book stays at zero
    return np.cumprod(1.0 + returns)


def _drawdown(curve: np.ndarray) -> np.ndarray:
    peak = np.maximum.accumulate(np.maximum(curve, 1e-12))
    drawdown: np.ndarray = (peak - curve) / peak
    return drawdown


def render_evidence_chart(evidence: Mapping[str, CandidateEvidence]) -> bytes:
    """PNG bytes; a candidate without runs (not evaluated) gets a panel saying why."""
    from matplotlib.figure import Figure

    rows = list(evidence.values()) or []
    figure = Figure(figsize=(9, 3.2 * max(1, len(rows))), dpi=90)
    axes = figure.subplots(max(1, len(rows)), 2, squeeze=False)
    for row, item in zip(axes, rows, strict=False):
        top, bottom = row  # equity on the left, drawdown on the right
        run = item.runs[0]
        title = f"{item.key}: {item.live_value} -> {item.step_value} ({item.verdict.value})"
        top.set_title(title, fontsize="small")
        if run is None:
            top.text(0.5, 0.5, "; ".join(item.reasons)[:120], ha="center", fontsize="small")
            top.set_axis_off()
            bottom.set_axis_off()
            continue
        for book, label, style in (
            (run.incumbent, f"live {item.live_value}", "-"),
            (run.candidate, f"candidate {item.step_value}", "--"),
        ):
            curve = _pooled(book)
            top.plot(curve, style, linewidth=1.1, label=label)
            bottom.plot(-_drawdown(curve) * 100.0, style, linewidth=1.0, label=label)
        edge = 0
        for scope in run.incumbent.scopes[:-1]:
            edge += len(scope.returns)
            for axis in (top, bottom):
                axis.axvline(edge, color="grey", linewidth=0.5, alpha=0.5)
        top.set_ylabel("equity (start = 1.0)", fontsize="small")
        top.legend(loc="best", fontsize="x-small")
        bottom.set_ylabel("drawdown %", fontsize="small")
        bottom.set_xlabel("paired period (symbols one after another)", fontsize="x-small")
        for axis in (top, bottom):
            axis.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
