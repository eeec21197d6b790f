"""A proposal's directory (§8.2.4, §8.8): ``reports/live_promotion/<proposal_id>/``.

Written once, all at once (built in a temp directory and renamed): ``config_patches.json``
(every judged candidate with its verdict, reasons, tags, safety flags and the full patch),
``OPERATOR_CHECKLIST.md`` and ``proposal_meta.json``.

Sealed (§8.8 "Sealed proposals"): the *seal* is the SHA-256 of the canonical JSON of
``config_patches.json``'s content, computed when it is written and recorded in the proposal's
verdict records in the audit trail and in the state database. Files under ``reports/`` are
untrusted input: an approval reads the candidates only after their content hashes to the seal
the trail holds (:meth:`ProposalFiles.sealed_decisions`), so an edited proposal is refused and
never applied as edited.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade_daemon.audit_records import canonical_line
from peaktrade_daemon.errors import DataError, SealBroken
from peaktrade_daemon.governance.plans import ApplyOutcome
from peaktrade_daemon.governance.verdicts import (
    PromotionCandidate,
    PromotionDecision,
    Verdict,
)
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.promotion.checklist import render_checklist
from peaktrade_daemon.promotion.evidence_chart import render_evidence_chart
from peaktrade_daemon.promotion.models import PromotionProposal
from peaktrade_daemon.storage.atomic import atomic_write_bytes, atomic_write_text, fsync_directory
from peaktrade_daemon.storage.untrusted import read_untrusted

if TYPE_CHECKING:
    from peaktrade_daemon.promotion.evidence import CandidateEvidence

PROPOSAL_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")
META_FILE = "proposal_meta.json"
PATCHES_FILE = "config_patches.json"
CHECKLIST_FILE = "OPERATOR_CHECKLIST.md"
EVIDENCE_FILE = "evidence.json"
EVIDENCE_CHART = "evidence.png"


def new_proposal_id(now: datetime) -> str:
    """``20240101T120000Z-1a2b3c4d``: sortable by time, 32 random bits against same-second
    collisions, only ``[0-9A-Za-z-]`` so it is safe as a path component."""
    return f"{now.strftime('%Y%m%dT%H%M%S')}Z-{secrets.token_hex(4)}"


def check_proposal_id(proposal_id: str) -> str:
    """Refuse anything that is not a proposal id (never a path like ``../x``)."""
    if not PROPOSAL_ID_RE.fullmatch(proposal_id):
        raise ValueError(f"{proposal_id!r} is not a proposal id (like 20240101T120000Z-1a2b3c4d)")
    return proposal_id


def decision_dict(
    decision: PromotionDecision, evidence: CandidateEvidence | None = None
) -> dict[str, Any]:
    """A decision as stored in ``config_patches.json`` (with its evidence's verdict, sealed
    with it, when there is one)."""
    candidate = decision.candidate
    extra = {} if evidence is None else {"evidence": evidence.summary()}
    return {
        **extra,
        "target": candidate.patch.target,
        "verdict": decision.verdict.value,
        "reasons": list(decision.reasons),
        "tags": list(candidate.tags),
        "eligible_for_live": candidate.eligible_for_live,
        "eligibility_reasons": list(candidate.eligibility_reasons),
        "safety_flags": list(decision.safety_flags),
        "current_live_value": decision.current_live_value,
        "planned_steps": list(decision.planned_steps),
        "patch": candidate.patch.to_dict(),
    }


def proposal_meta(
    proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome] = ()
) -> dict[str, Any]:
    """The content of ``proposal_meta.json``."""
    accepted = proposal.accepted
    return {
        "proposal_id": proposal.proposal_id,
        "created_at": proposal.created_at.isoformat(),
        "mode": proposal.mode.value,
        "source": proposal.source,
        "candidates": len(proposal.decisions),
        "accepted": len(accepted),
        "rejected": len(proposal.decisions) - len(accepted),
        "accepted_targets": [d.target for d in accepted],
        "auto_apply": [
            {
                "key": o.key,
                "applied": o.applied,
                "before": o.before,
                "after": o.after,
                "reason": o.reason,
            }
            for o in outcomes
        ],
    }


def decision_from_dict(data: Mapping[str, Any]) -> PromotionDecision:
    """The inverse of :func:`decision_dict` (ValueError, TypeError or KeyError for a damaged
    entry)."""
    candidate = PromotionCandidate(
        ConfigPatch.from_dict(data["patch"]),
        tuple(str(t) for t in data.get("tags", ())),
        bool(data["eligible_for_live"]),
        tuple(str(r) for r in data.get("eligibility_reasons", ())),
    )
    return PromotionDecision(
        candidate,
        Verdict(data["verdict"]),
        tuple(str(r) for r in data.get("reasons", ())),
        tuple(str(f) for f in data.get("safety_flags", ())),
        data.get("current_live_value"),
        tuple(float(s) for s in data.get("planned_steps", ())),
    )


def patches_content(proposal: PromotionProposal) -> dict[str, Any]:
    """What ``config_patches.json`` holds: the judged candidates (the sealed content)."""
    return {
        "proposal_id": proposal.proposal_id,
        "candidates": [
            decision_dict(d, proposal.evidence.get(d.candidate.patch.id))
            for d in proposal.decisions
        ],
    }


def seal_of(content: Mapping[str, Any]) -> str:
    """The seal: SHA-256 of the content's canonical JSON (formatting is not content)."""
    return hashlib.sha256(canonical_line(content).encode("utf-8")).hexdigest()


def _dump(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def _write_proposal(final: Path, proposal: PromotionProposal, *, chart: bool = True) -> str:
    """Write the directory (``evidence.png`` only with ``chart``); returns the seal of what
    was written."""
    # Not ".ptmp": storage/atomic.clean_stale_temp_files unlinks those and this is a directory.
    # A directory left by a killed writer is ignored (not a proposal id) and harmless.
    tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(3)}.tmpdir")
    tmp.mkdir(parents=True)
    try:
        patches_text = _dump(patches_content(proposal))
        atomic_write_text(tmp / PATCHES_FILE, patches_text)
        if proposal.evidence:
            records = [e.record() for e in proposal.evidence.values()]
            atomic_write_text(tmp / EVIDENCE_FILE, _dump({"candidates": records}))
            if chart:
                atomic_write_bytes(tmp / EVIDENCE_CHART, render_evidence_chart(proposal.evidence))
        charted = chart and bool(proposal.evidence)
        atomic_write_text(tmp / CHECKLIST_FILE, render_checklist(proposal, chart=charted))
        atomic_write_text(tmp / META_FILE, _dump(proposal_meta(proposal)))
        # rename() of a directory fails if the target exists: an id is never reused.
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_directory(final.parent)
    # Sealed from the text it wrote, never read back from reports/ (which anything that can
    # write there could have changed since): what was judged is what an approval verifies.
    return seal_of(json.loads(patches_text))


def materialize_promotion_proposals(
    proposals: Sequence[PromotionProposal], reports_dir: Path, *, charts: bool = True
) -> list[PromotionProposal]:
    """Write each proposal's files under ``<reports_dir>/<proposal_id>/`` (all at once: built
    in a temp directory and renamed; ``charts`` False leaves ``evidence.png`` out). On an id
    collision a fresh id is drawn; returns the proposals as written (ids possibly changed),
    each with its ``seal``."""
    written: list[PromotionProposal] = []
    for proposal in proposals:
        reports_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            try:
                seal = _write_proposal(reports_dir / proposal.proposal_id, proposal, chart=charts)
                proposal = replace(proposal, seal=seal)
                break
            except OSError:
                if not (reports_dir / proposal.proposal_id).exists():
                    raise
                proposal = replace(proposal, proposal_id=new_proposal_id(proposal.created_at))
        written.append(proposal)
    return written


def record_outcomes(
    reports_dir: Path, proposal: PromotionProposal, outcomes: Sequence[ApplyOutcome]
) -> None:
    """Rewrite the proposal's meta and checklist with what auto-apply did."""
    directory = reports_dir / proposal.proposal_id
    atomic_write_text(directory / META_FILE, _dump(proposal_meta(proposal, outcomes)))
    chart = (directory / EVIDENCE_CHART).is_file()
    atomic_write_text(directory / CHECKLIST_FILE, render_checklist(proposal, outcomes, chart=chart))


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
            return read_untrusted(path).decode("utf-8")
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

    def evidence_chart(self) -> bytes | None:
        """``evidence.png`` (None when the proposal has none: evidence off, or none accepted)."""
        try:
            return read_untrusted(self.directory / EVIDENCE_CHART)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DataError(f"{self.directory / EVIDENCE_CHART}: unreadable: {exc}") from exc

    def decisions(self, content: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every candidate's stored decision (``config_patches.json``, or ``content`` already
        read from it), accepted or not."""
        path = self.directory / PATCHES_FILE
        data = self._json_object(PATCHES_FILE) if content is None else content
        candidates = data.get("candidates")
        if not isinstance(candidates, list):
            raise DataError(f"{path}: 'candidates' must be an array")
        for index, entry in enumerate(candidates):
            if not isinstance(entry, dict) or not isinstance(entry.get("patch"), dict):
                raise DataError(f"{path}: candidate {index}: expected an object with 'patch'")
        return [dict(entry) for entry in candidates]

    def seal_found(self) -> str:
        """The seal of ``config_patches.json`` as it is now (DataError when unreadable)."""
        return seal_of(self._json_object(PATCHES_FILE))

    def sealed_decisions(self, seals: Sequence[str]) -> list[PromotionDecision]:
        """The judged candidates, read only when the file's content matches every recorded
        seal (the audit trail's and the database's); SealBroken otherwise."""
        path = self.directory / PATCHES_FILE
        if not seals:
            raise SealBroken(
                f"{path}: no seal recorded for proposal {self.proposal_id} (made before "
                "proposals were sealed, or its verdicts are missing from the audit trail); "
                "run `promote` again; nothing applied"
            )
        # One read: the content whose seal is checked is the content used.
        content = self._json_object(PATCHES_FILE)
        found = seal_of(content)
        broken = sorted({s for s in seals if s != found})
        if broken:
            raise SealBroken(
                f"{path}: content (sha256 {found[:12]}) does not match the seal "
                f"{broken[0][:12]} recorded when proposal {self.proposal_id} was written; "
                "it was edited after it was judged; nothing applied"
            )
        decisions: list[PromotionDecision] = []
        for index, entry in enumerate(self.decisions(content)):
            try:
                decisions.append(decision_from_dict(entry))
            except (TypeError, ValueError, KeyError) as exc:
                raise DataError(f"{path}: candidate {index}: invalid: {exc}") from exc
        return decisions
