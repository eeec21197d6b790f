"""The governance core decides, it does not act: no module of it imports I/O, a clock, logging
configuration or an adapter (DESIGN "Where safety is decided")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

CORE = PROJECT_ROOT / "peaktrade_daemon" / "governance"
#: Pure standard library, the value libraries, and the product's pure value modules.
ALLOWED = {
    "__future__",
    "collections",
    "dataclasses",
    "datetime",  # types and arithmetic only: `now` always comes in as an argument
    "enum",
    "hashlib",
    "json",
    "math",
    "typing",
    "numpy",
    "pydantic",
    "peaktrade_daemon.audit_records",
    "peaktrade_daemon.config.overrides",
    "peaktrade_daemon.errors",
    "peaktrade_daemon.learning.models",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_a_core_module_imports_only_pure_modules(path: Path) -> None:
    outside = {
        name
        for name in _imports(path)
        if not name.startswith("peaktrade_daemon.governance")
        and name.split(".")[0] not in {a for a in ALLOWED if "." not in a}
        and name not in ALLOWED
    }
    assert not outside, f"{path.name} imports {sorted(outside)}"


def test_no_core_function_reads_the_clock() -> None:
    for path in CORE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in ("datetime.now(", ".utcnow(", "time.time(", "time.monotonic("):
            assert call not in text, f"{path.name} calls {call}"
