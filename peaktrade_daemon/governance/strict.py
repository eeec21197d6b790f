"""Strict scalar types of the policy files: ``"2.0"`` (a string) or ``true`` (a bool) where a
number belongs is a policy error, never silently converted; inf and nan are errors too."""

from __future__ import annotations

from typing import Annotated

from pydantic import AllowInfNan, Strict

Number = Annotated[float, Strict(), AllowInfNan(False)]
Count = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
