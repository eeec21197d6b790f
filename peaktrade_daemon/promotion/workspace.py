"""Where promotion's files live under a root, and the objects built on them.

One place maps settings to paths, so the CLI commands and the promotion worker cannot disagree
about which policy, overrides file or audit trail they use.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peaktrade_daemon.config.loader import load_config
from peaktrade_daemon.governance.policy import AutoApplyPolicy
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.promotion.writer import OverridesWriter
from peaktrade_daemon.settings import DaemonSettings

OFFLINE_OUT_NAME = "learning.override.toml"
ANCHOR_NAME = "audit.anchor"


@dataclass(frozen=True, slots=True)
class PromotionWorkspace:
    """Resolved paths of everything learning and promotion read or write."""

    config_file: Path
    policy_file: Path
    overrides_file: Path
    audit_file: Path
    proposals_dir: Path
    snippets_dir: Path
    offline_file: Path
    published_file: Path
    alert_log: Path
    database_url: str
    lock_timeout_s: float = 30.0
    #: The audit trail's anchor, outside reports/ (§8.8; see promotion/audit.py).
    audit_anchor: Path | None = None

    @classmethod
    def from_settings(cls, settings: DaemonSettings) -> PromotionWorkspace:
        """Resolve every path against the settings' root."""
        paths = settings.paths
        reports = settings.path(paths.reports_dir)
        return cls(
            config_file=settings.path(paths.config_file),
            policy_file=settings.path(paths.promotion_policy_file),
            overrides_file=settings.path(paths.live_overrides_file),
            audit_file=settings.path(paths.audit_log),
            proposals_dir=reports / "live_promotion",
            snippets_dir=settings.path(paths.learning_snippets_dir),
            offline_file=settings.path(paths.offline_overrides_dir) / OFFLINE_OUT_NAME,
            published_file=reports / "learning" / "published_patches.json",
            alert_log=settings.path(paths.alert_log),
            database_url=settings.database_url,
            lock_timeout_s=settings.promotion.lock_timeout_s,
            audit_anchor=settings.path(paths.state_dir) / ANCHOR_NAME,
        )

    def audit(self) -> AuditTrail:
        """The audit trail."""
        return AuditTrail(
            self.audit_file, anchor_path=self.audit_anchor, lock_timeout_s=self.lock_timeout_s
        )

    def writer(self) -> OverridesWriter:
        """The only writer of auto.toml."""
        return OverridesWriter(
            self.overrides_file, self.audit(), lock_timeout_s=self.lock_timeout_s
        )

    def policy(self) -> AutoApplyPolicy:
        """The promotion policy (raises PolicyError when missing or invalid)."""
        return load_policy(self.policy_file)

    def base(self) -> dict[str, Any]:
        """The base trading config as a plain dict (raises ConfigError when invalid).

        The worker reads it at every check, and validating it is most of a quiet check's
        cost: a file with the very bytes of the last one parsed gives a copy of what they
        parsed to (kept only when the bytes did not change while they were parsed)."""
        before = _bytes(self.config_file)
        kept = _BASES.get(self.config_file)
        if before is not None and kept is not None and kept[0] == before:
            return copy.deepcopy(kept[1])
        data = load_config(self.config_file).to_dict()
        if before is not None and _bytes(self.config_file) == before:
            if len(_BASES) >= _KEEP_BASES:  # replays come and go with their scratch roots
                _BASES.clear()
            _BASES[self.config_file] = (before, copy.deepcopy(data))
        return data


#: The last parse of each base config file, by its bytes (see PromotionWorkspace.base).
_BASES: dict[Path, tuple[bytes, dict[str, Any]]] = {}
_KEEP_BASES = 8


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None  # load_config names the problem
