"""One learning cycle (§7.3): snippets in, ``config/auto/learning.override.toml`` out, patches
published for promotion.

Rules: patches whose status is ``REJECTED`` or ``RETIRED`` are not written; keys the promotion
policy blacklists, and keys the hard firewall forbids, are never written even offline. Written
patches become ``APPLIED_OFFLINE`` (``applied_at`` = now), which is what makes them candidates
for promotion. The published set is also written to ``published_patches.json`` (the default
input of ``promote``) so the CLI path and the daemon's bus path see the same patches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from peaktrade_daemon.governance.firewall import blacklist_entry, firewall_reasons
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.learning.emitter import override_file_text, write_override_file
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus, patches_to_json
from peaktrade_daemon.learning.snippets import read_snippets
from peaktrade_daemon.storage.atomic import atomic_write_text

logger = logging.getLogger(__name__)

_NOT_WRITTEN = frozenset({PatchStatus.REJECTED, PatchStatus.RETIRED})


@dataclass(slots=True)
class LearnResult:
    """Summary of one cycle (what ``learn`` prints)."""

    files_seen: int = 0
    files_used: int = 0
    patches_parsed: int = 0
    written: list[ConfigPatch] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    out_file: Path | None = None
    backup: Path | None = None
    dry_run: bool = False


def run_learning_cycle(
    *,
    snippets_dir: Path,
    out_file: Path,
    published_file: Path,
    policy: AutoApplyPolicy,
    now: datetime,
    max_files: int | None = None,
    dry_run: bool = False,
    publish: Callable[[tuple[ConfigPatch, ...]], None] | None = None,
) -> LearnResult:
    """Read snippets, filter, write the offline override file and publish (blocking I/O)."""
    report = read_snippets(snippets_dir, max_files=max_files)
    result = LearnResult(
        files_seen=report.files_seen,
        files_used=report.files_used,
        patches_parsed=report.entries_parsed,
        warnings=list(report.warnings),
        out_file=out_file,
        dry_run=dry_run,
    )
    for patch in report.patches:
        entry = blacklist_entry(patch.target, policy.blacklist)
        blocked = firewall_reasons(patch.target, patch.new_value)
        if patch.status in _NOT_WRITTEN:
            result.skipped.append((patch.target, f"status {patch.status.value}"))
        elif entry is not None:
            result.skipped.append((patch.target, f"blacklisted by policy entry {entry!r}"))
        elif blocked:
            result.skipped.append((patch.target, blocked[0]))
        else:
            status = (
                patch.status
                if patch.status is PatchStatus.PROMOTED
                else PatchStatus.APPLIED_OFFLINE
            )
            result.written.append(patch.evolved(status=status, applied_at=now))
    if dry_run:
        return result
    header = (
        "Offline learning overrides, written by `peaktrade-daemon learn` (do not edit).\n"
        "Merged only when environment.mode is backtest or drill."
    )
    result.backup = write_override_file(out_file, override_file_text(result.written, header=header))
    atomic_write_text(published_file, patches_to_json(result.written))
    if publish is not None and result.written:
        publish(tuple(result.written))
    logger.info(
        "learning: %d file(s) used, %d patch(es) written to %s, %d skipped",
        result.files_used,
        len(result.written),
        out_file,
        len(result.skipped),
    )
    return result
