"""Operator review of a proposal (§8.7): reading its files and applying an approval.

An approval re-judges the proposal's accepted patches against the *current* policy and live
values (a policy tightened since the proposal was written wins), then applies them through the
same writer as auto-apply: one bounded step per bounded key, firewall and bounds always hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from peaktrade_daemon.errors import DataError, SafetyRefusal
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.changes import plan_approved_apply
from peaktrade_daemon.promotion.engine import (
    CHECKLIST_FILE,
    META_FILE,
    PATCHES_FILE,
    PROPOSAL_ID_RE,
    check_proposal_id,
    filter_candidates_for_live,
)
from peaktrade_daemon.promotion.models import ApplyOutcome, Verdict
from peaktrade_daemon.promotion.policy import build_candidate
from peaktrade_daemon.promotion.workspace import PromotionWorkspace


@dataclass(frozen=True, slots=True)
class ProposalFiles:
    """The three files of one proposal directory, read on demand."""

    directory: Path
    proposal_id: str

    @classmethod
    def open(cls, proposals_dir: Path, proposal_id: str) -> ProposalFiles:
        """The proposal ``proposal_id`` (validated: never a path) or FileNotFoundError."""
        check_proposal_id(proposal_id)
        directory = proposals_dir / proposal_id
        if not (directory / META_FILE).is_file():
            raise FileNotFoundError(f"no proposal {proposal_id} under {proposals_dir}")
        return cls(directory, proposal_id)

    @classmethod
    def all(cls, proposals_dir: Path) -> Iterator[ProposalFiles]:
        """Every complete proposal directory, by id (which sorts by time)."""
        if not proposals_dir.is_dir():
            return
        for directory in sorted(proposals_dir.iterdir()):
            if PROPOSAL_ID_RE.fullmatch(directory.name) and (directory / META_FILE).is_file():
                yield cls(directory, directory.name)

    def _read(self, name: str) -> str:
        path = self.directory / name
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: proposal file unreadable: {exc}") from exc

    def _json_object(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads(self._read(name))
        except (ValueError, RecursionError) as exc:
            raise DataError(f"{self.directory / name}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise DataError(f"{self.directory / name}: expected a JSON object")
        return data

    @property
    def meta(self) -> dict[str, Any]:
        """``proposal_meta.json`` (DataError naming the file when it is damaged)."""
        data = self._json_object(META_FILE)
        for key in ("candidates", "accepted"):
            value = data.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise DataError(f"{self.directory / META_FILE}: {key} must be an integer")
        return data

    @property
    def created_at(self) -> datetime:
        """When the proposal was made."""
        value = self.meta.get("created_at")
        try:
            return datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise DataError(
                f"{self.directory / META_FILE}: created_at {value!r} is not an ISO time"
            ) from exc

    @property
    def checklist(self) -> str:
        """``OPERATOR_CHECKLIST.md``."""
        return self._read(CHECKLIST_FILE)

    def decisions(self) -> list[dict[str, Any]]:
        """Every candidate's stored decision (``config_patches.json``), accepted or not."""
        path = self.directory / PATCHES_FILE
        candidates = self._json_object(PATCHES_FILE).get("candidates")
        if not isinstance(candidates, list):
            raise DataError(f"{path}: 'candidates' must be an array")
        for index, entry in enumerate(candidates):
            if not isinstance(entry, dict) or not isinstance(entry.get("patch"), dict):
                raise DataError(f"{path}: candidate {index}: expected an object with 'patch'")
        return [dict(entry) for entry in candidates]

    def accepted_patches(self) -> list[ConfigPatch]:
        """The patches the proposal accepted (``config_patches.json``)."""
        patches: list[ConfigPatch] = []
        for index, entry in enumerate(self.decisions()):
            if entry.get("verdict") != Verdict.ACCEPTED_FOR_PROPOSAL.value:
                continue
            try:
                patches.append(ConfigPatch.from_dict(entry["patch"]))
            except (TypeError, ValueError) as exc:
                where = self.directory / PATCHES_FILE
                raise DataError(f"{where}: candidate {index}: invalid patch: {exc}") from exc
        return patches


def review_record(
    proposal_id: str, decision: str, operator: str, note: str | None, now: datetime
) -> dict[str, Any]:
    """The audit record of an operator's review decision."""
    return {
        "time": now.isoformat(),
        "event": "review",
        "actor": operator,
        "mode": "manual_review",
        "proposal_id": proposal_id,
        "decision": decision,
        "note": note,
        "reasons": [f"{decision} by {operator}"],
    }


def approve_proposal(
    files: ProposalFiles,
    workspace: PromotionWorkspace,
    operator: str,
    note: str | None,
    now: datetime,
    *,
    dry_run: bool = False,
) -> list[ApplyOutcome]:
    """Apply one bounded step of every still-accepted patch, attributed to ``operator``."""
    policy = workspace.policy()
    if policy.global_promotion_lock:
        raise SafetyRefusal("global_promotion_lock is set in the promotion policy; nothing applied")
    base = workspace.base()
    writer = workspace.writer()
    candidates = [build_candidate(patch, policy) for patch in files.accepted_patches()]
    decisions = filter_candidates_for_live(candidates, policy, base, writer.read().values)
    planner = plan_approved_apply(decisions, policy, base, operator, now)
    if dry_run:
        outcomes: list[ApplyOutcome] = planner(writer.read()).outcome
        return outcomes
    workspace.audit().append([review_record(files.proposal_id, "approved", operator, note, now)])
    result = writer.transact(
        planner, actor=operator, mode="manual_approval", proposal_id=files.proposal_id, now=now
    )
    applied: list[ApplyOutcome] = result.outcome
    return applied
