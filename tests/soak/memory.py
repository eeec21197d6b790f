"""tracemalloc measurements for the soak: an interned-strings table rebuilt under tracing, and
the growth sites named when the memory check fails.

tracemalloc sees only blocks allocated while it traces; the release of a block allocated before
it started is not subtracted. A process-global table that is *rebuilt* (a new block replacing
the old one) during the traced days therefore counts in full as growth, though nothing grew.
CPython's interned-strings table is such a table, and the soak churns it: on 3.11 every
``Path`` interns its parts, and each executed workflow builds paths with a new run id
(``reports/workflows/<run_id>``, several a cycle at 300 s). The strings die with their paths,
but their slots stay used until the table runs out of free ones and is rebuilt at the same
size: one block of several MB at pathlib's ``sys.intern`` line. When that happens depends on
everything the process interned before, which is why the 300 s soak failed only now and then,
and in the chunk that ran second in its xdist worker.

:func:`rebuild_interned_strings` makes that rebuild happen right after tracing starts, before
the reference measurement: from then on the table in use is a traced block, so a later rebuild
replaces a traced block with one of the same size (no growth), while a table that grows because
strings are kept alive still shows as growth.
"""

from __future__ import annotations

import itertools
import linecache
import sys
import tracemalloc

#: A rebuilt table is far larger than this; the strings interned meanwhile are freed at once.
REBUILD_SEEN = 64 * 1024
#: Free slots of the table before it must be rebuilt: at most a few times the live strings.
REBUILD_LIMIT = 20_000_000


def rebuild_interned_strings(limit: int = REBUILD_LIMIT) -> int:
    """Intern fresh strings, each dropped at once, until tracemalloc sees the interned-strings
    table rebuilt; returns the traced size of the new table. Call it with tracing on and
    nothing else running."""
    if not tracemalloc.is_tracing():
        raise RuntimeError("rebuild_interned_strings needs tracemalloc tracing")
    start = tracemalloc.get_traced_memory()[0]
    for i in itertools.count():
        sys.intern(f"soak-interned-table-rebuild-{i}")
        if i % 1024 == 0 and (grown := tracemalloc.get_traced_memory()[0] - start) > REBUILD_SEEN:
            return grown
        if i >= limit:
            raise AssertionError(f"no interned-strings table rebuild in {limit} strings")
    raise AssertionError("unreachable")  # pragma: no cover


def growth_sites(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int = 5) -> str:
    """The ``top`` allocation sites that grew most from ``before`` to ``after``, one line each
    with the innermost frames, for the memory check's failure message."""
    lines = []
    for stat in after.compare_to(before, "traceback")[:top]:
        innermost = stat.traceback[-1]
        source = linecache.getline(innermost.filename, innermost.lineno).strip()
        frames = " <- ".join(
            f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}"
            for frame in reversed(stat.traceback[-4:])
        )
        lines.append(
            f"{stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks at {frames} "
            f"({source})"
        )
    return "; ".join(lines)
