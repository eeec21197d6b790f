"""How deeply a TOML document may nest, for every reader of the project's TOML files.

Deeper tables or arrays are refused: no config needs them, and the recursive code that walks a
document (flatten, deepcopy, comparisons, tomlkit past 100 levels) would hit Python's recursion
limit. One limit for the settings, the config loader, the overrides writer and the file check,
so no two of them disagree about a file (a table the loader refuses must not be "formatting"
to the check).
"""

from __future__ import annotations

MAX_TOML_DEPTH = 32


def nesting_depth(data: object) -> int:
    """How deeply tables and arrays nest in a parsed document (iterative: any depth is safe)."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return deepest
