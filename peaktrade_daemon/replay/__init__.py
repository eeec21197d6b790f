"""``peaktrade-daemon replay`` (§10): the daemon's own autonomous loop over history, in data time.

The daemon's composition root builds the daemon's own components (the cycle with its monitors
and decision engine, the promotion worker with its writer, evidence and rollback guard) in a
scratch root, on a :class:`~peaktrade_daemon.clock.ManualClock` that a driver moves through
data time. One module per concept:

* :mod:`.inputs`: the request, validated against the root before anything is written;
* :mod:`.scratch`: the scratch root (copies of the config and data) and its settings edges;
* :mod:`.schedule`: when cycles, learning steps and the worker's checks happen (pure);
* :mod:`.learners`: where patches come from (``snippets DIR``, ``walk_forward``);
* :mod:`.composition`: the daemon composed for replay, and its paced promotion worker;
* :mod:`.driver`: moves the clock and runs each instant's work, in a fixed order;
* :mod:`.timeline`: the record of what happened, as deterministic JSON lines;
* :mod:`.books`: the governed, static and ungoverned paper books over the whole range;
* :mod:`.report`: ``summary.json``, ``summary.md`` and ``replay.png``;
* :mod:`.progress`: the terminal progress bar;
* :mod:`.run`: the whole command, start to finish.
"""
