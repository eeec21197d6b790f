"""``replay.png``: the three books' equity over data time, the governed book's applies and
reverts marked on its curve (matplotlib's Agg canvas, no pyplot state; call in a thread)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.replay.books import Book

STYLES: dict[str, dict[str, Any]] = {
    "governed": {"color": "tab:blue", "linewidth": 1.4},
    "static": {"color": "tab:gray", "linewidth": 1.0, "linestyle": "--"},
    "ungoverned": {"color": "tab:orange", "linewidth": 1.0},
}


def _on_curve(book: Book, moments: Sequence[datetime]) -> tuple[Any, Any]:
    """Each moment placed on the book's curve (its equity at the last bar at or before it)."""
    stamps = np.array([to_ns(m) for m in moments], dtype=np.int64)
    index = np.clip(np.searchsorted(book.times, stamps, side="right") - 1, 0, None)
    return stamps.astype("datetime64[ns]"), book.equity[index]


def render_replay_chart(
    books: Mapping[str, Book],
    applies: Sequence[datetime],
    reverts: Sequence[datetime],
    title: str,
) -> bytes:
    """PNG bytes of the chart (module docstring)."""
    from matplotlib.figure import Figure  # Figure + Agg canvas: no pyplot global state

    figure = Figure(figsize=(10, 5.5), dpi=100)
    axes = figure.subplots()
    for name, book in books.items():
        times = book.times.astype("datetime64[ns]")
        axes.plot(times, book.equity, label=name, **STYLES.get(name, {}))
    governed = books.get("governed")
    if governed is not None:
        for moments, marker, color, label in (
            (applies, "^", "tab:green", "apply"),
            (reverts, "v", "tab:red", "revert"),
        ):
            if moments:
                xs, ys = _on_curve(governed, moments)
                axes.scatter(xs, ys, marker=marker, color=color, s=36, zorder=3, label=label)
    axes.set_title(title, fontsize="medium")
    axes.set_ylabel("equity")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
