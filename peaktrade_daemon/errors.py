"""The exception tree of peaktrade-daemon.

Every error the product raises on purpose derives from :class:`PeakTradeError` and carries the
process exit code the CLI maps it to::

    PeakTradeError                  exit 1  the work ran and failed
    ├── UsageError                  exit 2  bad command line
    ├── ConfigError                 exit 2  a config file or setting is missing or invalid
    │   └── JobConfigError          exit 2  jobs.toml names the job and field
    ├── DataError                   exit 1  market, ledger or snippet data cannot be used
    │   └── FeedError               exit 1  a feed failed (network, timeout, exchange error)
    ├── StateError                  exit 1  the state database or a state file is unusable
    ├── WorkflowError               exit 1  a workflow failed or timed out
    ├── AuditError                  exit 1  the audit trail does not verify
    └── SafetyRefusal               exit 3  refused for safety, nothing was written
        ├── PolicyError             exit 3  promotion policy missing or invalid
        ├── LockHeldError           exit 3  another process holds a lock (daemon instance, writer)
        ├── UnparseableFileError    exit 3  a file we must modify does not parse; never overwritten
        ├── GateRefusal             exit 3  the resulting live overrides fail the gate (§8.8)
        ├── HandEditRefusal         exit 3  auto.toml differs from the audit trail (adopt or clear)
        └── SealBroken              exit 3  a proposal's files no longer match their seal

Messages name the file, key, job or field and say what to do, because the CLI prints them as the
one line an operator sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_INTERRUPTED = 130
#: The reader of standard output went away (128 + SIGPIPE, as a tool killed by it exits).
EXIT_BROKEN_PIPE = 141


class PeakTradeError(Exception):
    """Base of every deliberate error; ``exit_code`` is what the CLI returns for it."""

    exit_code: int = EXIT_FAILED


class UsageError(PeakTradeError):
    """The command line is wrong (unknown option value, conflicting flags)."""

    exit_code = EXIT_USAGE


class ConfigError(PeakTradeError):
    """A configuration file or setting is missing or invalid.

    ``file`` and ``key`` are kept as attributes so callers (reload, tests) can act on them without
    parsing the message.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        key: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.key = key
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.key:
            return f"{where}: key '{self.key}': {self.problem}"
        return f"{where}: {self.problem}"


class JobConfigError(ConfigError):
    """A job in jobs.toml is invalid; the message names the job and the field."""


class DataError(PeakTradeError):
    """Input data (prices, ledger, snippets) cannot be used as given."""


class FeedError(DataError):
    """A market data feed failed to deliver (network error, timeout, exchange error)."""


class StateError(PeakTradeError):
    """The state database or a state file is unusable."""


class WorkflowError(PeakTradeError):
    """A workflow failed, was cancelled or timed out."""


class AuditError(PeakTradeError):
    """The promotion audit trail is inconsistent or has been tampered with."""


class SafetyRefusal(PeakTradeError):
    """The operation was refused to stay safe; nothing was written."""

    exit_code = EXIT_REFUSED


class PolicyError(SafetyRefusal):
    """The promotion policy is missing or invalid: fail closed, never 'no limits'."""


class LockHeldError(SafetyRefusal):
    """Another process holds a lock we need (single daemon instance, overrides writer)."""


class UnparseableFileError(SafetyRefusal):
    """A file we were asked to modify does not parse; it is left untouched."""


class GateRefusal(SafetyRefusal):
    """The complete resulting ``[auto_applied]`` table fails the gate; nothing was written.
    ``keys`` names every offending key."""

    def __init__(self, message: str, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


class ComponentRefusal(GateRefusal):
    """The resulting ``[auto_applied]`` table passes the gate but a component refuses it (the
    paper book, a strategy); ``keys`` names the key the refusal names."""


class HandEditRefusal(SafetyRefusal):
    """auto.toml holds content no recorded write produced; governed writes wait until an
    operator runs ``overrides adopt`` or ``overrides clear``. ``differences`` names the keys."""

    def __init__(self, message: str, differences: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.differences = differences


class SealBroken(SafetyRefusal):
    """A proposal's files no longer match the hash sealed in the audit trail and database."""


def other_problems(errors: Sequence[Mapping[str, Any]], shown: int = 10) -> str:
    """`` (and also key: problem; ...)`` for the validation errors after the first (pydantic's
    ``errors()``), so one error line still names every problem; empty when there is one."""
    rest = list(errors[1:])
    if not rest:
        return ""
    named = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or '<file>'}: {e.get('msg')}"
        for e in rest[:shown]
    )
    beyond = f"; and {len(rest) - shown} more" if len(rest) > shown else ""
    return f" (and also {named}{beyond})"


def present(value: T | None, what: str) -> T:
    """``value``, or a :class:`RuntimeError` naming ``what`` when it is None.

    For values the order of start-up guarantees (a component used before it was built is a bug).
    Not an ``assert``: the daemon is deployed under ``python -OO``, which strips asserts, and a
    check that vanishes in production is no check.
    """
    if value is None:
        raise RuntimeError(f"{what} is used before it was set up (a bug)")
    return value
