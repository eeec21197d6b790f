"""Is there bytecode for the optimisation level this interpreter runs at?

The daemon is deployed as ``python -OO -P -m peaktrade_daemon`` (the systemd unit, the Docker
image, ``make run``): -OO strips docstrings and asserts from every module it loads, about 6 MiB
less resident memory, most of it SQLAlchemy's docstrings (``bench/scale.py``). Python then loads
``*.opt-2.pyc`` files. Where they are missing and cannot be written (a distribution's read-only
standard library, a venv owned by root, ``PYTHONDONTWRITEBYTECODE``), it compiles every module
from source on every start, which costs start-up time and more memory than -OO saves.
:func:`missing_bytecode` finds that case, so the daemon can say so at start with the command that
fixes it (:func:`compile_hint`).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

#: The interpreter flags the daemon is deployed with (the systemd unit, the Docker image,
#: ``make run``): -OO drops docstrings and asserts, -P keeps the working directory (the daemon's
#: root, writable by the daemon) off ``sys.path``.
DEPLOYED_FLAGS = ("-OO", "-P")

#: One module for each place code is loaded from: the standard library, the installed libraries,
#: the daemon itself (``asyncio`` rather than ``os``: ``os`` is frozen into the interpreter).
PROBES = ("asyncio", "sqlalchemy", "peaktrade_daemon")


def bytecode_path(source: Path, optimize: int) -> Path:
    """Where Python looks for the bytecode of ``source`` at optimisation level ``optimize``."""
    level = "" if optimize == 0 else optimize
    return Path(importlib.util.cache_from_source(str(source), optimization=level))


def missing_bytecode(names: Iterable[str] = PROBES, optimize: int | None = None) -> list[Path]:
    """The source files of the imported modules ``names`` that have no bytecode for
    ``optimize`` (default: the level this interpreter runs at). Modules not imported, and
    modules without a ``.py`` source (built in, frozen, extensions), are skipped."""
    level = sys.flags.optimize if optimize is None else optimize
    missing = []
    for name in names:
        module = sys.modules.get(name)
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue
        if not bytecode_path(Path(source), level).is_file():
            missing.append(Path(source))
    return missing


def compile_hint(source: Path, optimize: int | None = None) -> str:
    """The command that writes the missing bytecode for the tree ``source`` belongs to (the
    directory holding its top-level package)."""
    level = sys.flags.optimize if optimize is None else optimize
    tree = source.parent.parent if source.name == "__init__.py" else source.parent
    return f"{sys.executable} -m compileall -q -o {level} {tree}"
