"""The soak's tracemalloc measurement (tests/soak/memory.py): the interned-strings table rebuilt
under tracing reads as growth unless it is rebuilt before the reference, and strings kept alive
still read as growth after that."""

from __future__ import annotations

import linecache
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.soak.memory import REBUILD_LIMIT, REBUILD_SEEN, growth_sites, rebuild_interned_strings


@pytest.fixture
def tracing() -> Iterator[None]:
    """tracemalloc on for the test (one frame, as the soak traces), off afterwards."""
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is already tracing in this process")
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _run_paths(prefix: str, limit: int, until: int) -> int:
    """Build (and drop) ``reports/workflows/<run id>`` paths as the workflow engine does, until
    the traced memory has grown by ``until`` bytes; returns how many it took."""
    reports = Path("reports") / "workflows"
    start = tracemalloc.get_traced_memory()[0]
    for i in range(limit):
        _ = reports / f"{prefix}-{i:08d}-market_scan-0badcafe"
        if i % 1024 == 0 and tracemalloc.get_traced_memory()[0] - start > until:
            return i + 1
    raise AssertionError(f"traced memory did not grow by {until} B in {limit} paths")


def test_pathlib_interns_every_part() -> None:
    name = "".join(["soak-", "run-id-", "that-nobody-interned"])  # built at run time
    assert (Path("reports") / name).parts[-1] is sys.intern(name)


def test_dropped_paths_read_as_growth_when_the_table_predates_tracing(tracing: None) -> None:
    before = tracemalloc.take_snapshot()
    _run_paths("before", REBUILD_LIMIT, REBUILD_SEEN)
    after = tracemalloc.take_snapshot()
    grown = after.compare_to(before, "lineno")[0]
    frame = grown.traceback[0]
    # One block, where pathlib interns a part: the rebuilt table, not the (dropped) paths.
    assert grown.size_diff > REBUILD_SEEN and grown.count_diff == 1, grown
    assert "sys.intern(" in linecache.getline(frame.filename, frame.lineno), frame
    assert "sys.intern(" in growth_sites(before, after, top=1)


def test_after_the_rebuild_churn_is_flat_and_kept_strings_grow(tracing: None) -> None:
    table = rebuild_interned_strings()
    assert table > REBUILD_SEEN
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    # Until the table is rebuilt again: the peak briefly holds the old and the new table.
    reports = Path("reports") / "workflows"
    for i in range(REBUILD_LIMIT):
        _ = reports / f"after-{i:08d}-market_scan-0badcafe"
        if i % 1024 == 0 and tracemalloc.get_traced_memory()[1] - start > table // 2:
            break
    else:
        raise AssertionError("the interned-strings table was not rebuilt again")
    assert tracemalloc.get_traced_memory()[0] - start < REBUILD_SEEN
    kept = [sys.intern(f"kept-{i:08d}-market_scan-0badcafe") for i in range(20_000)]
    assert tracemalloc.get_traced_memory()[0] - start > 20_000 * 50, len(kept)
