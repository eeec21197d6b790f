"""Reading learning snippets (§7.2) from ``reports/learning_snippets/``.

Accepted shapes:

* ``*.json``: an object with a ``patches`` array, a single patch object, or an array of patches;
* ``*.jsonl``: one patch object per line (blank lines ignored).

Files are UTF-8 (a byte-order mark is allowed), with LF or CRLF line ends.

A patch entry is either a full :class:`ConfigPatch` object (``ConfigPatch.to_dict`` output) or
the short form ``{"target": ..., "new_value": ...}`` (``value`` is an alias of ``new_value``)
with optional ``old_value``, ``id``, ``status``, ``confidence`` / ``confidence_score``,
``reason``, ``meta``, and the shortcuts ``tags`` and ``is_live_ready`` (moved into ``meta``).
An entry without an ``id`` gets a stable one derived from file, position and content.

Files are read oldest first by (mtime, name), so a newer file's patch for the same target wins;
within a file, later entries win. A bad entry or file is skipped with a warning naming the file
and entry; it never stops the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peaktrade_daemon.errors import DataError
from peaktrade_daemon.learning.models import ConfigPatch, check_target, patch_id_for
from peaktrade_daemon.storage.untrusted import read_untrusted

logger = logging.getLogger(__name__)

SNIPPET_PATTERNS = ("*.json", "*.jsonl")
_SHORTCUTS = ("tags", "is_live_ready")


@dataclass(frozen=True, slots=True)
class RefusedEntry:
    """An entry that names a key but made no valid patch (a value out of float or TOML integer
    range, a bad confidence ...): promote records it as a ``REJECTED_BY_SANITY_CHECK`` verdict."""

    where: str
    target: str
    patch_id: str | None
    reason: str


@dataclass(slots=True)
class SnippetReport:
    """What one read found: the patches (the winning one per target, for a directory), counts,
    warnings, and the entries refused although they named a key."""

    patches: list[ConfigPatch] = field(default_factory=list)
    files_seen: int = 0
    files_used: int = 0
    entries_parsed: int = 0
    warnings: list[str] = field(default_factory=list)
    refused: list[RefusedEntry] = field(default_factory=list)

    def skip(self, path: Path, label: str, raw: Any, exc: Exception) -> None:
        """Record a bad entry: a warning naming file and entry, and a refusal when it named a
        key."""
        self.warnings.append(f"{path}: {label}: skipped: {exc}")
        target = raw.get("target") if isinstance(raw, Mapping) else None
        if isinstance(target, str):
            try:
                check_target(target)
            except ValueError:
                return
            pid = raw.get("id")
            self.refused.append(
                RefusedEntry(
                    f"{path.name}:{label}", target, pid if isinstance(pid, str) else None, str(exc)
                )
            )


def _entry_to_patch(entry: Any, origin: str) -> ConfigPatch:
    if not isinstance(entry, Mapping):
        raise ValueError(f"expected an object, got {type(entry).__name__}")
    data = dict(entry)
    if "value" in data:
        if "new_value" in data:
            raise ValueError("both 'value' and 'new_value' given")
        data["new_value"] = data.pop("value")
    if "confidence" in data:
        if "confidence_score" in data:
            raise ValueError("both 'confidence' and 'confidence_score' given")
        data["confidence_score"] = data.pop("confidence")
    meta = data.pop("meta", None)
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):  # dict() would turn [["a", 1]] into an object silently
        raise ValueError(f"meta must be an object, got {type(meta).__name__}")
    meta = dict(meta)
    for key in _SHORTCUTS:
        if key in data:
            meta[key] = data.pop(key)
    data["meta"] = meta
    data.setdefault("old_value", None)
    if "target" not in data or "new_value" not in data:
        raise ValueError("needs 'target' and 'new_value' (or 'value')")
    data.setdefault("id", patch_id_for(str(data["target"]), data["new_value"], origin))
    return ConfigPatch.from_dict(data)


def _entries(path: Path, text: str) -> list[tuple[str, Any]]:
    """``(label, raw entry)`` pairs; raises ValueError when the whole file is unusable."""
    if path.suffix == ".jsonl":
        pairs: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    pairs.append((f"line {number}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    pairs.append((f"line {number}", ValueError(f"not JSON: {exc.msg}")))
                except (ValueError, RecursionError) as exc:  # 5000 digits, deep nesting
                    pairs.append((f"line {number}", ValueError(f"not usable JSON: {exc}")))
        return pairs
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    except (ValueError, RecursionError) as exc:  # a 5000-digit number, 100000-deep nesting
        raise ValueError(f"not usable JSON: {exc}") from exc
    if isinstance(data, dict) and "patches" in data:
        data = data["patches"]
        if not isinstance(data, list):
            raise ValueError("'patches' must be an array")
    if isinstance(data, list):
        return [(f"entry {index}", item) for index, item in enumerate(data)]
    return [("entry 0", data)]


def snippet_files(directory: Path, max_files: int | None = None) -> list[Path]:
    """Snippet files oldest first by (mtime, name); ``max_files`` keeps the newest N."""
    if not directory.is_dir():
        return []
    found = {p for pattern in SNIPPET_PATTERNS for p in directory.glob(pattern) if p.is_file()}
    ordered = sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))
    if max_files is not None:
        ordered = ordered[-max_files:] if max_files > 0 else []
    return ordered


def _text(path: Path) -> str:
    """A snippet file's text: a regular file of bounded size, read once (a planted pipe or a
    sparse 64 GiB file is a ValueError naming it, as a file that does not parse is)."""
    try:
        return read_untrusted(path).decode("utf-8-sig")
    except DataError as exc:
        raise ValueError(str(exc)) from exc


def read_snippets(directory: Path, *, max_files: int | None = None) -> SnippetReport:
    """Read every snippet file under ``directory``; the last patch per target wins."""
    report = SnippetReport()
    winners: dict[str, ConfigPatch] = {}
    for path in snippet_files(directory, max_files):
        report.files_seen += 1
        try:
            pairs = _entries(path, _text(path))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            report.warnings.append(f"{path}: skipped: {exc}")
            continue
        used = False
        for label, raw in pairs:
            try:
                if isinstance(raw, ValueError):
                    raise raw
                patch = _entry_to_patch(raw, f"{path.name}:{label}")
            except (TypeError, ValueError, OverflowError) as exc:
                report.skip(path, label, raw, exc)
                continue
            report.entries_parsed += 1
            winners.pop(patch.target, None)  # re-insert so dict order follows the latest write
            winners[patch.target] = patch
            used = True
        report.files_used += int(used)
    for warning in report.warnings:
        logger.warning("learning snippet: %s", warning)
    report.patches = list(winners.values())
    return report


def read_snippet_file(path: Path) -> SnippetReport:
    """Every valid patch of one file in any snippet shape, in file order (no per-target
    de-duplication: ``promote --input`` judges each patch), with warnings and refusals for the
    skipped entries.

    Raises ``OSError``/``ValueError`` when the file itself cannot be read or parsed.
    """
    report = SnippetReport(files_seen=1)
    for label, raw in _entries(path, _text(path)):
        try:
            if isinstance(raw, ValueError):
                raise raw
            report.patches.append(_entry_to_patch(raw, f"{path.name}:{label}"))
        except (TypeError, ValueError, OverflowError) as exc:
            report.skip(path, label, raw, exc)
    report.entries_parsed = len(report.patches)
    report.files_used = int(bool(report.patches))
    return report
