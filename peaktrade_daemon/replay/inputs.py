"""What a replay is asked to do, checked against the root before anything is written.

Every problem is an error naming what is wrong, raised before the scratch root or the output
directory exists (bad input, nothing written):

* ``--symbol`` not configured, or without a history file, or a file the strict CSV reader
  refuses: exit 2. Without ``--symbol`` the cycle's symbols are replayed, less those whose
  history does not overlap the finest-timeframe symbol's (each named in a warning);
* ``--from`` / ``--to`` not ISO-8601, outside the data of a replayed symbol (the range must lie
  where every symbol has bars), or not in order: exit 2. A date without a time means the start
  of that day for ``--from`` and its end for ``--to``; a time without an offset is UTC;
* ``--policy`` missing or invalid: exit 3 (a replay under no limits is never run);
* ``--learner snippets DIR``: a folder that is missing, holds no ``*.json``/``*.jsonl``
  snippet, a file that cannot be read or parsed as a whole, or no valid patch at all: exit 2
  (entries ``learn`` would skip are skipped here too, with the same warning);
* ``--learner walk_forward`` in a build without the learner: exit 2;
* ``--poll-interval`` not a positive number of seconds: exit 2;
* ``--out`` a non-empty directory, or under the root's ``config/`` or ``state/``: exit 2.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from peaktrade_daemon.errors import DataError, UsageError
from peaktrade_daemon.governance.policy import AutoApplyMode, AutoApplyPolicy
from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.learning.snippets import read_snippet_file, snippet_files
from peaktrade_daemon.market.bars import Bars, from_ns
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv
from peaktrade_daemon.market.replay import replay_file
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.replay.schedule import MAX_INSTANTS, finest, interval_count
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.workflows.sources import cycle_symbols

SNIPPETS = "snippets"
WALK_FORWARD = "walk_forward"


def iso_z(moment: datetime) -> str:
    """``2017-04-19T09:00:00Z``: UTC, seconds, a ``Z`` (how replay writes every time)."""
    text = moment.astimezone(UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Release:
    """A snippet patch and the data time it is in the snippet folder from (its
    ``generated_at``; a patch without one is there from the start)."""

    at: datetime
    patch: ConfigPatch


@dataclass(frozen=True, slots=True)
class LearnerChoice:
    """``walk_forward``, or ``snippets`` with the folder's patches in ``learn``'s order."""

    kind: str
    directory: Path | None = None
    releases: tuple[Release, ...] = ()

    @property
    def label(self) -> str:
        """How the summary names it."""
        return self.kind if self.directory is None else f"{self.kind} {self.directory}"


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """A validated replay: the real root's settings, and everything the command line chose."""

    settings: DaemonSettings
    symbols: tuple[str, ...]
    history: dict[str, Bars]
    start: datetime
    end: datetime
    policy_file: Path
    policy: AutoApplyPolicy
    mode: AutoApplyMode | None
    learner: LearnerChoice
    poll_interval_s: float | None
    out_dir: Path
    warnings: tuple[str, ...] = field(default=())

    @property
    def effective_mode(self) -> AutoApplyMode:
        """``--mode``, else the policy's; the policy's ``disabled`` is the killswitch."""
        if self.policy.mode is AutoApplyMode.DISABLED:
            return AutoApplyMode.DISABLED
        return self.mode or self.policy.mode


def parse_time(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """An ISO-8601 date or date-time; naive is UTC; a bare date is the start of the day, or its
    last microsecond with ``end_of_day``."""
    raw = text.strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        pass
    else:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an ISO-8601 date or date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def choose_symbols(settings: DaemonSettings, asked: Sequence[str]) -> tuple[str, ...]:
    """``--symbol`` (in order, repeats dropped), else the cycle's symbols (of which
    :func:`overlapping` keeps those whose history overlaps); unknown ones are an error naming
    them and the configured ones."""
    chosen = list(dict.fromkeys(asked)) or cycle_symbols(settings)
    unknown = [s for s in chosen if s not in settings.symbols]
    if unknown:
        known = ", ".join(settings.symbols) or "none"
        raise UsageError(f"unknown symbol(s) {', '.join(unknown)} (configured: {known})")
    if not chosen:
        raise UsageError("no symbol to replay: [symbols] in daemon.toml is empty")
    return tuple(chosen)


def overlapping(history: dict[str, Bars]) -> tuple[dict[str, Bars], list[str]]:
    """The default symbol set: those whose history overlaps that of the finest-timeframe
    symbol (the first of them), and a warning naming each one left out."""
    anchor = finest({s: bars.timeframe for s, bars in history.items()})[0]
    lo, hi = history[anchor].timestamps[0], history[anchor].timestamps[-1]
    kept: dict[str, Bars] = {}
    warnings: list[str] = []
    for symbol, bars in history.items():
        first, last = bars.timestamps[0], bars.timestamps[-1]
        if first <= hi and last >= lo:
            kept[symbol] = bars
        else:
            warnings.append(
                f"{symbol} left out: its history ({iso_z(from_ns(int(first)))} .. "
                f"{iso_z(from_ns(int(last)))}) does not overlap {anchor}'s; name it with --symbol"
            )
    return kept, warnings


def read_history(settings: DaemonSettings, symbols: Sequence[str]) -> dict[str, Bars]:
    """Every bar of each symbol's history file (the replay feed's file for the symbol)."""
    history: dict[str, Bars] = {}
    for symbol in symbols:
        spec = settings.symbols[symbol]
        path = replay_file(settings, symbol, spec)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{symbol}: no history to replay: {path}: {exc.strerror}") from exc
        try:
            history[symbol] = parse_ohlcv_csv(path, raw, symbol=symbol, timeframe=spec.timeframe)
        except DataError as exc:
            raise UsageError(f"{symbol}: history unusable: {exc}") from exc
    return history


def data_range(
    history: dict[str, Bars], start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The replayed range: ``--from``/``--to``, by default where every symbol has data, and
    never outside it."""
    firsts = {s: from_ns(int(bars.timestamps[0])) for s, bars in history.items()}
    lasts = {s: from_ns(int(bars.timestamps[-1])) for s, bars in history.items()}
    common_start, common_end = max(firsts.values()), min(lasts.values())
    shown = "; ".join(f"{s} {iso_z(firsts[s])} .. {iso_z(lasts[s])}" for s in history)
    if common_start > common_end:
        raise UsageError(f"the symbols' histories do not overlap ({shown}); choose --symbol")
    chosen_start = common_start if start is None else start
    chosen_end = common_end if end is None else end
    if chosen_start < common_start:
        late = max(firsts, key=lambda s: firsts[s])
        raise UsageError(
            f"--from {iso_z(chosen_start)} is before the data: {late} starts "
            f"{iso_z(firsts[late])} ({shown})"
        )
    if chosen_end > common_end:
        early = min(lasts, key=lambda s: lasts[s])
        raise UsageError(
            f"--to {iso_z(chosen_end)} is after the data: {early} ends {iso_z(lasts[early])} "
            f"({shown})"
        )
    if chosen_start >= chosen_end:
        raise UsageError(f"--from {iso_z(chosen_start)} is not before --to {iso_z(chosen_end)}")
    return chosen_start, chosen_end


def read_releases(directory: Path, start: datetime) -> tuple[tuple[Release, ...], list[str]]:
    """A snippet folder's patches in ``learn``'s order (files oldest first by (mtime, name),
    entries in file order), each with its release time, and the warnings of skipped entries."""
    if not directory.is_dir():
        raise UsageError(f"--learner snippets {directory}: no such directory")
    files = snippet_files(directory)
    if not files:
        raise UsageError(f"--learner snippets {directory}: no *.json or *.jsonl snippet in it")
    releases: list[Release] = []
    warnings: list[str] = []
    for path in files:
        try:
            report = read_snippet_file(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UsageError(f"--learner snippets: {path}: {exc}") from exc
        warnings += report.warnings
        for patch in report.patches:
            at = patch.generated_at or start
            releases.append(Release(max(at, start), patch))
    if not releases:
        raise UsageError(f"--learner snippets {directory}: no valid patch in it")
    return tuple(releases), warnings


def choose_learner(words: Sequence[str] | None, start: datetime) -> tuple[LearnerChoice, list[str]]:
    """``--learner walk_forward`` (the default) or ``--learner snippets DIR``."""
    words = list(words or [WALK_FORWARD])
    if words == [WALK_FORWARD]:
        return LearnerChoice(WALK_FORWARD), []
    if len(words) == 2 and words[0] == SNIPPETS:
        directory = Path(words[1]).expanduser().resolve()
        releases, warnings = read_releases(directory, start)
        return LearnerChoice(SNIPPETS, directory, releases), warnings
    raise UsageError(f"--learner {' '.join(words)}: expected 'walk_forward' or 'snippets DIR'")


#: The shortest ``--poll-interval``: a cycle more often than once a second of market time
#: looks at the same bars again (the daemon's own poll interval is minutes).
MIN_POLL_S = 1.0


def check_poll_interval(value: float | None) -> float | None:
    """A finite number of seconds, at least ``MIN_POLL_S`` (or None: one cycle per bar)."""
    if value is not None and not (math.isfinite(value) and value >= MIN_POLL_S):
        raise UsageError(
            f"--poll-interval {value:g}: must be a number of seconds, at least {MIN_POLL_S:g}"
        )
    return value


def check_schedule(
    start: datetime, end: datetime, poll_interval_s: float | None, learn_interval_days: float
) -> None:
    """Refuse a replay whose cycles or learning steps would number more than ``MAX_INSTANTS``
    (years of data at a tiny interval), before any work: say why, and what to change."""
    counts = [("learning steps", learn_interval_days * 86_400.0, "[replay] learn_interval_days")]
    if poll_interval_s is not None:
        counts.insert(0, ("cycles", poll_interval_s, "--poll-interval"))
    for what, interval_s, knob in counts:
        count = interval_count(start, end, interval_s)
        if count > MAX_INSTANTS:
            raise UsageError(
                f"{knob}: {start:%Y-%m-%d} to {end:%Y-%m-%d} every {interval_s:g} s is "
                f"{count:.3g} {what}, more than {MAX_INSTANTS:,}; raise {knob} or narrow "
                "--from/--to"
            )


def choose_out_dir(settings: DaemonSettings, out: str | None, now: datetime) -> Path:
    """``--out``, else ``reports/replay/<run_id>/`` (run id: the wall time and 24 random bits,
    never written into the outputs). Refused: a non-empty directory, anything under the root's
    ``config/`` or ``state/``, a place that cannot be created."""
    if out is None:
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        given = settings.path(settings.paths.reports_dir) / "replay" / run_id
    else:
        given = Path(out).expanduser()
    # Resolved either way: a symlink planted in reports/ must not lead the default into config/.
    path = given.resolve()
    label = f"--out {path}" if out is not None else f"output directory {given} (-> {path})"
    protected = [settings.root / "config", settings.path(settings.paths.state_dir)]
    for place in protected:
        if path.is_relative_to(place.resolve()):
            raise UsageError(f"{label}: replay never writes under {place}")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"--out {path}: exists and is not an empty directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: {existing} is not writable")
    return path


def build_request(
    settings: DaemonSettings,
    *,
    symbols: Sequence[str],
    start: str | None,
    end: str | None,
    policy: str | None,
    mode: str | None,
    learner: Sequence[str] | None,
    poll_interval_s: float | None,
    out: str | None,
    now: datetime,
) -> ReplayRequest:
    """Check every input (module docstring) and return the request; raises UsageError (exit 2)
    or PolicyError (exit 3)."""
    chosen = choose_symbols(settings, symbols)
    history = read_history(settings, chosen)
    warnings: list[str] = []
    if not symbols:
        history, warnings = overlapping(history)
        chosen = tuple(history)
    first, last = data_range(
        history,
        None if start is None else parse_time(start, "--from"),
        None if end is None else parse_time(end, "--to", end_of_day=True),
    )
    policy_file = (
        Path(policy).expanduser().resolve()
        if policy
        else settings.path(settings.paths.promotion_policy_file)
    )
    poll_s = check_poll_interval(poll_interval_s)
    check_schedule(first, last, poll_s, settings.replay.learn_interval_days)
    loaded = load_policy(policy_file)
    choice, learner_warnings = choose_learner(learner, first)
    return ReplayRequest(
        settings=settings,
        symbols=chosen,
        history=history,
        start=first,
        end=last,
        policy_file=policy_file,
        policy=loaded,
        mode=None if mode is None else AutoApplyMode(mode),
        learner=choice,
        poll_interval_s=poll_s,
        out_dir=choose_out_dir(settings, out, now),
        warnings=(*warnings, *learner_warnings),
    )
