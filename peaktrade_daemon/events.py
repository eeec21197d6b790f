"""Events that cross stages on the bus. Every event is a frozen dataclass deriving from Event.

Subsystems declare their own event classes next to their value types (for example
``learning/models.py`` for published patches); the bus routes by class, so any module may define
them. Lifecycle events of the daemon itself live here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every bus event."""
