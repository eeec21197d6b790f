"""The contract between the Daemon (the composition root) and the parts it runs.

The daemon builds every component with its dependencies (settings, clock, bus, alerts, database)
passed to the constructor, then drives it through this lifecycle:

1. ``await start()``: acquire resources; returning means *ready* (the readiness handshake).
   Components start in registration order; a failure here aborts start-up and stops the ones
   already started, in reverse order.
2. ``await run()``: the long-running body, run as a supervised task. If it raises, the
   supervisor reports it (alert) and restarts ``run()`` with exponential backoff. Returning
   normally means the component has nothing long-running to do.
3. ``await reload(settings)``: called after a validated SIGHUP reload with the new snapshot;
   the component swaps what it uses. Raising here is reported; the old settings stay in force.
4. ``await drain()``: intake stops (no new work accepted); return once in-flight work finished.
   The daemon bounds this by the drain timeout and then cancels ``run()``.
5. ``await stop()``: release resources. Components stop in reverse order. Must be idempotent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from peaktrade_daemon.settings import DaemonSettings


@runtime_checkable
class Component(Protocol):
    """A part of the daemon with an explicit lifecycle (see the module docstring)."""

    name: str

    async def start(self) -> None:
        """Acquire resources; return when ready to serve."""
        ...

    async def run(self) -> None:
        """The supervised long-running body (may return at once)."""
        ...

    async def reload(self, settings: DaemonSettings) -> None:
        """Adopt a new, already validated settings snapshot."""
        ...

    async def drain(self) -> None:
        """Stop taking new work; return when in-flight work is done."""
        ...

    async def stop(self) -> None:
        """Release resources; idempotent."""
        ...
