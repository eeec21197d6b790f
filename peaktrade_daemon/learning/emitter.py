"""Writing learning output: snippets (§7.2) and the offline override file (§7.3).

Both writers produce deterministic bytes (sorted keys, fixed formatting), so the same patches
always give the same file, and write them atomically through ``storage/atomic.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import tomlkit

from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.storage.atomic import atomic_write_bytes, atomic_write_text, sidecar_lock

OFFLINE_TABLE = "overrides"


def snippet_bytes(patches: Iterable[ConfigPatch]) -> bytes:
    """The canonical snippet document ``{"patches": [...]}`` (sorted keys, two-space indent)."""
    body = {"patches": [patch.to_dict() for patch in patches]}
    return (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def emit_snippet(directory: Path, name: str, patches: Sequence[ConfigPatch]) -> Path:
    """Write ``<directory>/<name>.json`` atomically; ``name`` must be a plain file stem."""
    if not name or "/" in name or name.startswith(".") or "\\" in name:
        raise ValueError(f"snippet name {name!r} must be a plain file name")
    path = directory / f"{name}.json"
    atomic_write_bytes(path, snippet_bytes(patches))
    return path


def override_file_text(patches: Iterable[ConfigPatch], *, header: str) -> str:
    """``[overrides]`` with one quoted dotted key per patch, sorted by key (deterministic)."""
    values = {patch.target: patch.new_value for patch in patches}
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += ["", f"[{OFFLINE_TABLE}]"]
    for key in sorted(values):
        lines.append(f"{_quoted_key(key)} = {tomlkit.item(values[key]).as_string()}")
    return "\n".join(lines) + "\n"


def _quoted_key(key: str) -> str:
    # Not json.dumps: JSON writes U+1F600 as a surrogate pair escape and U+007F raw, both
    # invalid TOML, and the whole offline file would then be ignored.
    rendered = tomlkit.key(key).as_string()
    return rendered if rendered.startswith('"') else f'"{rendered}"'  # bare: [A-Za-z0-9_-]+


def write_override_file(path: Path, text: str) -> Path | None:
    """Replace ``path`` atomically under its sidecar lock, keeping the old file as ``.backup``.

    Returns the backup path when there was a previous file.
    """
    backup: Path | None = None
    with sidecar_lock(path):
        if path.exists():
            backup = path.with_name(path.name + ".backup")
            atomic_write_bytes(backup, path.read_bytes())
        atomic_write_text(path, text)
    return backup
