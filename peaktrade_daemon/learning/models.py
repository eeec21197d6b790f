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
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

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


#: TOML integers are signed 64-bit; beyond that a value can be neither written nor converted.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _scalar(value: Any) -> Scalar:
    """A patch value: bool, int (TOML's 64-bit range), finite float or string; never coerced."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError("integer outside TOML's signed 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        return value
    raise ValueError(f"must be a bool, int, float or string, got {type(value).__name__}")


def check_target(target: Any) -> str:
    """A non-empty dotted key whose segments are all non-empty (``portfolio.leverage``)."""
    if not isinstance(target, str) or not target.strip():
        raise ValueError("target must be a non-empty dotted key")
    if any(not part.strip() or part != part.strip() for part in target.split(".")):
        raise ValueError(f"target {target!r} has an empty or padded segment")
    return target


def _aware(value: Any) -> Any:
    """ISO-8601 text to a datetime (a trailing Z is UTC); a time without any offset is then
    refused by the field (which zone would it be?)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _tags(meta: dict[str, Any]) -> dict[str, Any]:
    tags = meta.get("tags")
    # Tags feed the blacklist: a shape we cannot read must fail, never count as "no tags".
    if tags is not None and not (
        isinstance(tags, str)
        or (isinstance(tags, list | tuple) and all(isinstance(t, str) for t in tags))
    ):
        raise ValueError(f"meta.tags must be a string or a list of strings, got {tags!r}")
    return meta


def _status(value: Any) -> PatchStatus:
    return PatchStatus.parse(value)


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


Value = Annotated[Scalar, PlainValidator(_scalar)]
Moment = Annotated[AwareDatetime | None, BeforeValidator(_aware), AfterValidator(_utc)]


def one_line(exc: ValidationError) -> str:
    """A validation error as one line: ``field: problem; field: problem``."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "patch"
        if error["type"] == "extra_forbidden":
            parts.append(f"unknown field {where!r}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            # Our own validators name their field already ("meta.tags must be ...").
            parts.append(message if message.startswith(where) else f"{where}: {message}")
    return "; ".join(parts)


class ConfigPatch(BaseModel):
    """One learned change of one config key; validated at construction (a pydantic model,
    strict: ``"1.5"`` stays a string, ``true`` a bool; numbers finite and inside TOML's integer
    range; confidence in [0, 1]; times carry an offset and are kept in UTC).

    ``old_value`` may be ``None`` when the source did not know it (snippets often only say
    ``target`` and ``new_value``); promotion never relies on it and steps from the live value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    id: Annotated[str, AfterValidator(_non_empty)]
    target: Annotated[str, AfterValidator(check_target)]
    old_value: Value | None
    new_value: Value
    status: Annotated[PatchStatus, PlainValidator(_status)] = PatchStatus.PROPOSED
    generated_at: Moment = None
    applied_at: Moment = None
    promoted_at: Moment = None
    reason: str | None = None
    source_experiment_id: str | None = None
    confidence_score: Annotated[float, AllowInfNan(False), Field(ge=0.0, le=1.0)] | None = None
    meta: Annotated[dict[str, Any], AfterValidator(_tags)] = {}

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        """Refuse text that is not valid Unicode (a lone surrogate, which JSON's ``\\ud800``
        allows): every field goes into the audit trail's hashed UTF-8 lines and into alerts."""
        try:
            json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"text that is not valid Unicode ({exc.reason})") from None
        return data

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

    def evolved(self, **changes: Any) -> ConfigPatch:
        """A copy with ``changes``, validated like a new patch."""
        return ConfigPatch.model_validate({**self.model_dump(), **changes})

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
        """Inverse of :meth:`to_dict`; unknown fields are an error (typos fail loudly). Raises
        ValueError with a one-line message."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ValueError(one_line(exc)) from None


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


def read_published(data: bytes) -> tuple[tuple[ConfigPatch, ...], list[str]]:
    """A published patch set read entry by entry: the valid patches, and one phrase per entry
    skipped (``entry 3: new_value: ...``). ValueError when the file as a whole is unusable."""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, 100000-deep nesting
        raise ValueError(f"not usable JSON: {exc}") from exc
    items = parsed.get("patches") if isinstance(parsed, dict) else parsed
    if not isinstance(items, list):
        raise ValueError("expected an object with 'patches' or an array of patches")
    patches: list[ConfigPatch] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            patches.append(ConfigPatch.from_dict(item))
        except (TypeError, ValueError) as exc:
            problems.append(f"entry {index}: {exc}")
    return tuple(patches), problems


def patch_id_for(target: str, new_value: Scalar, origin: str) -> str:
    """A stable id for a patch that came without one: same origin and content, same id."""
    digest = hashlib.sha256(json.dumps([origin, target, new_value]).encode()).hexdigest()
    return f"patch-{digest[:16]}"


def _recommendation(value: dict[str, Any]) -> dict[str, Any]:
    check_target(value.get("target"))
    _scalar(value.get("new_value"))
    return value


class LearningSignal(BaseModel):
    """What a learning source observed, and the change it recommends.

    ``recommendation`` holds ``target`` and ``new_value``; ``evidence`` holds whatever supports it,
    and may carry ``confidence`` (in [0, 1]), ``is_live_ready`` and ``tags``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    source: Annotated[str, AfterValidator(_non_empty)]
    metric: Annotated[str, AfterValidator(_non_empty)]
    value: Annotated[float, AllowInfNan(False)]
    observed_at: Annotated[AwareDatetime, BeforeValidator(_aware), AfterValidator(_utc)]
    recommendation: Annotated[dict[str, Any], AfterValidator(_recommendation)]
    evidence: dict[str, Any] = {}


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
    #: Awaited by the consumer once the patches were processed (the inbox then marks the file
    #: seen); None when nobody needs to know.
    done: Callable[[], Awaitable[None]] | None = None
