"""The daemon process's garbage-collector thresholds.

CPython collects its youngest generation every 700 net allocations of container objects, and an
object that is still alive at two young collections moves to the oldest generation; once those
moves reach a quarter of the oldest generation's size, the whole heap is scanned. A daemon
cycle over hundreds of symbols allocates tens of thousands of short-lived containers (bar
windows, monitor results, report rows) that live for the length of the cycle: at the default
thresholds they were promoted in bulk and a full collection (every few cycles, 0.2-0.3 s over
the ~170,000 objects of a 500-symbol daemon) cost a third of a steady cycle's budget. With a
young generation of 50,000 those objects die before a collection sees them (0 to 3 young
collections a cycle, no full one in twelve cycles; ``bench/scale.py``). Reference counting still
frees everything that is not in a reference cycle at once; only cyclic garbage waits longer.
"""

from __future__ import annotations

import gc

#: (young, middle, old): young collections after this many net allocations, the middle one
#: every 20 young ones, the old one every 20 middle ones (and the 25 % rule above).
THRESHOLDS = (50_000, 20, 20)


def tune_collector() -> None:
    """Set the daemon's thresholds (process-wide: called by the daemon's entry point only)."""
    gc.set_threshold(*THRESHOLDS)
