"""The installed version, read from the package metadata: ``pyproject.toml`` is its one source.

Looked up on first use and remembered: :mod:`importlib.metadata` costs about 40 ms to import
cold, which ``import peaktrade_daemon`` and the CLI's start-up must not pay unless the version
is asked for (``--version``, ``peaktrade_daemon.__version__``).
"""

from __future__ import annotations

import functools

DISTRIBUTION = "peaktrade-daemon"
#: What a source tree that was never installed (no metadata) reports: a valid PEP 440 version
#: that no release can be mistaken for.
UNKNOWN = "0+unknown"


@functools.cache
def installed_version() -> str:
    """The version of the installed ``peaktrade-daemon`` distribution (``UNKNOWN`` without
    one)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN
