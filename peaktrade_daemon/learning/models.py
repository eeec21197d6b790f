"""What the learning loop produces (§7.1): config patches, their status, and learning signals.

A :class:`ConfigPatch` is one proposed change of one dotted config key. It is validated when it
is built (so an invalid patch never travels further than the code that read it) and round-trips
through JSON with ISO-8601 datetimes. :class:`LearningSignal` is what a learning source observed;
:func:`patches_from_signals` is the documented rule that turns signals into patches.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from peaktrade_daemon.events import Event

Scalar = bool | int | float | str


class PatchStatus(StrEnum):
    """Life of a patch: proposed by learning, applied offline, promoted live, or set aside."""

    PROPOSED = "PROPOSED"
    APPLIED_OFFLINE = "APPLIED_OFFLINE"
    PROMOTED = "PROMOTED"
    REJECTED = "REJECTED"
    RETIRED = "RETIRED"

    @classmethod
    def parse(cls, value: Any) -> PatchStatus:
        """Accept the enum, its name or value in any case (``"applied_offline"``)."""
        if isinstance(value, PatchStatus):
            return value
        if not isinstance(value, str) or value.strip().upper() not in cls.__members__:
            raise ValueError(f"status must be one of {', '.join(cls.__members__)}, got {value!r}")
        return cls[value.strip().upper()]


def _check_scalar(name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool | int | float | str):
        raise ValueError(f"{name} must be a bool, int, float or string, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def check_target(target: Any) -> str:
    """A non-empty dotted key whose segments are all non-empty (``portfolio.leverage``)."""
    if not isinstance(target, str) or not target.strip():
        raise ValueError("target must be a non-empty dotted key")
    if any(not part.strip() or part != part.strip() for part in target.split(".")):
        raise ValueError(f"target {target!r} has an empty or padded segment")
    return target


def _aware(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an ISO-8601 datetime, got {type(value).__name__}")
    # A naive time from a learning report is taken as UTC (the convention of the sample data).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigPatch:
    """One learned change of one config key; validated at construction.

    ``old_value`` may be ``None`` when the source did not know it (snippets often only say
    ``target`` and ``new_value``); promotion never relies on it and steps from the live value.
    """

    id: str
    target: str
    old_value: Scalar | None
    new_value: Scalar
    status: PatchStatus = PatchStatus.PROPOSED
    generated_at: datetime | None = None
    applied_at: datetime | None = None
    promoted_at: datetime | None = None
    reason: str | None = None
    source_experiment_id: str | None = None
    confidence_score: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError("id must be a non-empty string")
        check_target(self.target)
        _check_scalar("old_value", self.old_value, optional=True)
        _check_scalar("new_value", self.new_value, optional=False)
        object.__setattr__(self, "status", PatchStatus.parse(self.status))
        for name in ("generated_at", "applied_at", "promoted_at"):
            object.__setattr__(self, name, _aware(name, getattr(self, name)))
        score = self.confidence_score
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise ValueError(f"confidence_score must be a number, got {score!r}")
            if not (math.isfinite(score) and 0.0 <= score <= 1.0):
                raise ValueError(f"confidence_score must be in [0, 1], got {score!r}")
            object.__setattr__(self, "confidence_score", float(score))
        for name in ("reason", "source_experiment_id"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")
        if not isinstance(self.meta, Mapping):
            raise ValueError("meta must be an object")
        tags = self.meta.get("tags")
        # Tags feed the blacklist: a shape we cannot read must fail, never count as "no tags".
        if tags is not None and not (
            isinstance(tags, str)
            or (isinstance(tags, list | tuple) and all(isinstance(t, str) for t in tags))
        ):
            raise ValueError(f"meta.tags must be a string or a list of strings, got {tags!r}")
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def tags(self) -> tuple[str, ...]:
        """``meta.tags`` (a single string counts as one tag; the shape is checked at build)."""
        raw = self.meta.get("tags")
        if isinstance(raw, str):
            return (raw,)
        return tuple(raw) if raw is not None else ()

    @property
    def is_live_ready(self) -> bool:
        """True only when ``meta.is_live_ready`` is the boolean ``true``."""
        return self.meta.get("is_live_ready") is True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO datetimes, status by name)."""
        return {
            "id": self.id,
            "target": self.target,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "status": self.status.value,
            "generated_at": _iso(self.generated_at),
            "applied_at": _iso(self.applied_at),
            "promoted_at": _iso(self.promoted_at),
            "reason": self.reason,
            "source_experiment_id": self.source_experiment_id,
            "confidence_score": self.confidence_score,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfigPatch:
        """Inverse of :meth:`to_dict`; unknown fields are an error (typos fail loudly)."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**dict(data))


def patches_to_json(patches: Iterable[ConfigPatch]) -> str:
    """Deterministic JSON of a patch set: ``{"patches": [...]}`` with sorted keys."""
    body = {"patches": [patch.to_dict() for patch in patches]}
    return json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def patches_from_json(text: str) -> list[ConfigPatch]:
    """Inverse of :func:`patches_to_json` (also accepts a bare array); ValueError when unusable."""
    try:
        data = json.loads(text)
    except RecursionError as exc:  # 100000-deep nesting
        raise ValueError(f"not usable JSON: {exc}") from exc
    items = data.get("patches") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError("expected an object with 'patches' or an array of patches")
    return [ConfigPatch.from_dict(item) for item in items]


def patch_id_for(target: str, new_value: Scalar, origin: str) -> str:
    """A stable id for a patch that came without one: same origin and content, same id."""
    digest = hashlib.sha256(json.dumps([origin, target, new_value]).encode()).hexdigest()
    return f"patch-{digest[:16]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LearningSignal:
    """What a learning source observed, and the change it recommends.

    ``recommendation`` holds ``target`` and ``new_value``; ``evidence`` holds whatever supports it,
    and may carry ``confidence`` (in [0, 1]), ``is_live_ready`` and ``tags``.
    """

    source: str
    metric: str
    value: float
    observed_at: datetime
    recommendation: Mapping[str, Any]
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.source or not self.metric:
            raise ValueError("source and metric must be non-empty")
        if isinstance(self.value, bool) or not math.isfinite(float(self.value)):
            raise ValueError(f"value must be a finite number, got {self.value!r}")
        object.__setattr__(self, "observed_at", _aware("observed_at", self.observed_at))
        check_target(self.recommendation.get("target"))
        _check_scalar(
            "recommendation.new_value", self.recommendation.get("new_value"), optional=False
        )


def patches_from_signals(
    signals: Sequence[LearningSignal], current: Mapping[str, Scalar]
) -> list[ConfigPatch]:
    """The rule that turns signals into patches.

    Per target, the latest signal (by ``observed_at``, then input order) wins; a signal that
    recommends the value the key already has produces nothing. The patch is ``PROPOSED`` with
    ``old_value`` from ``current`` (``None`` when unknown), ``confidence_score`` from
    ``evidence.confidence`` (else none, which promotion treats as not eligible), the evidence's
    ``tags`` and ``is_live_ready`` copied into ``meta`` and the observation in ``reason``.
    """
    latest: dict[str, LearningSignal] = {}
    for signal in sorted(signals, key=lambda s: s.observed_at):
        latest[str(signal.recommendation["target"])] = signal
    patches: list[ConfigPatch] = []
    for target, signal in latest.items():
        new_value = signal.recommendation["new_value"]
        if current.get(target) == new_value and type(current.get(target)) is type(new_value):
            continue
        meta: dict[str, Any] = {"signal_source": signal.source}
        for key in ("tags", "is_live_ready"):
            if key in signal.evidence:
                meta[key] = signal.evidence[key]
        confidence = signal.evidence.get("confidence")
        patches.append(
            ConfigPatch(
                id=patch_id_for(target, new_value, f"{signal.source}@{_iso(signal.observed_at)}"),
                target=target,
                old_value=current.get(target),
                new_value=new_value,
                generated_at=signal.observed_at,
                reason=f"{signal.source}: {signal.metric}={signal.value:g}",
                confidence_score=None if confidence is None else float(confidence),
                meta=meta,
            )
        )
    return patches


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchesPublished(Event):
    """Learning produced patches for promotion (the promotion worker subscribes to this)."""

    patches: tuple[ConfigPatch, ...]
    source: str
