"""Safe file writes: atomic replace, sidecar locks, stale temp clean-up, locked TOML updates.

The recipe (see STACK_NOTES): write a temp file in the target's directory, flush and fsync it,
``os.replace`` it over the target, then fsync the directory so the rename itself is durable. A
reader therefore sees either the old complete file or the new complete file, even if the writer
is killed with SIGKILL at any instruction.

Locks are taken on a *sidecar* file (``<name>.lock``), never on the data file: ``os.replace``
swaps the inode, so a lock held on the data file would silently stop excluding anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import tomlkit
import tomlkit.exceptions
from filelock import FileLock, Timeout
from tomlkit.toml_document import TOMLDocument

from peaktrade_daemon.errors import LockHeldError, UnparseableFileError
from peaktrade_daemon.toml_depth import MAX_TOML_DEPTH, nesting_depth

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Temp files are named ".<target>.<pid>-<random>.ptmp" so a clean-up can tell ours apart from
# anything else and can tell whether the writer that left it is still alive.
TEMP_SUFFIX = ".ptmp"
LOCK_SUFFIX = ".lock"
DEFAULT_LOCK_TIMEOUT_S = 30.0


def temp_path_for(path: Path) -> Path:
    """A fresh temp file name beside ``path`` that :func:`clean_stale_temp_files` recognises."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically and (unless ``durable=False``) durably.

    The file's permission bits are kept when it exists (else ``mode`` or 0o644). On any failure
    the temp file is removed and the original file is untouched. ``durable=False`` skips the
    fsyncs: still the old or the new complete file after a crash, just maybe the old one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    tmp = temp_path_for(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_directory(target.parent)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, mode: int | None = None, durable: bool = True
) -> None:
    """``atomic_write_bytes`` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, durable=durable)


def lock_path_for(path: str | os.PathLike[str]) -> Path:
    """The sidecar lock file guarding ``path``."""
    p = Path(path)
    return p.with_name(p.name + LOCK_SUFFIX)


@contextlib.contextmanager
def sidecar_lock(
    path: str | os.PathLike[str], *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[None]:
    """Hold the exclusive inter-process lock guarding ``path`` (blocking, with a timeout).

    ``timeout_s=0`` makes exactly one attempt. Raises :class:`LockHeldError` on timeout.
    """
    lock_file = lock_path_for(path)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    # thread_local=False: the lock may be released by a different thread than acquired it when
    # used through asyncio.to_thread; preserve_lock_file: deleting a flock file races with waiters;
    # fallback_to_soft=False: a silent downgrade to a soft lock would break the no-lost-update claim.
    lock = FileLock(
        lock_file,
        timeout=timeout_s,
        thread_local=False,
        preserve_lock_file=True,
        fallback_to_soft=False,
        poll_interval=0.005,
    )
    try:
        lock.acquire()
    except Timeout as exc:
        raise LockHeldError(
            f"{path}: another process holds {lock_file} (waited {timeout_s:g}s); retry later"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temp_files(*directories: str | os.PathLike[str]) -> list[Path]:
    """Remove temp files left by writers that died (their pid is gone); returns what was removed.

    Temp files of live writers (another CLI process mid-write) are left alone.
    """
    removed: list[Path] = []
    for directory in directories:
        base = Path(directory)
        if not base.is_dir():
            continue
        for candidate in base.rglob(f".*{TEMP_SUFFIX}"):
            pid_part = candidate.name[: -len(TEMP_SUFFIX)].rsplit(".", 1)[-1].split("-", 1)[0]
            if pid_part.isdigit() and _pid_alive(int(pid_part)) and int(pid_part) != os.getpid():
                continue
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
                logger.info("removed stale temp file %s", candidate)
    return removed


def read_toml_document(path: Path) -> TOMLDocument | None:
    """Parse ``path`` with tomlkit for a round-trip edit; ``None`` when the file does not exist.

    Raises :class:`UnparseableFileError` (naming file and position) when it exists but does not
    parse: callers must then refuse to write rather than replace a file someone can still repair.
    """
    text = _toml_text(path)
    if text is None:
        return None
    _strict_values(path, text)  # the strict parser decides validity; tomlkit only edits
    try:
        return tomlkit.parse(text)
    except (ValueError, RecursionError, tomlkit.exceptions.TOMLKitError) as exc:
        raise UnparseableFileError(f"{path}: invalid TOML ({exc}); refusing to overwrite") from exc


def read_toml_values(path: Path) -> dict[str, Any] | None:
    """Parse ``path`` with tomllib into plain values, to read rather than edit (a small fraction
    of tomlkit's cost); ``None`` when the file does not exist. A file
    :func:`read_toml_document` refuses is refused here with the same error, so a reader and
    the writer never disagree about what the file holds."""
    text = _toml_text(path)
    return None if text is None else _strict_values(path, text)


def _toml_text(path: Path) -> str | None:
    # Bytes, then decode: text mode would turn a bare CR into a line end, which the config
    # loader's tomllib (reading bytes) refuses, and the writer would judge a file the loader
    # does not read.
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise UnparseableFileError(
            f"{path}: not UTF-8 text ({exc}); refusing to overwrite"
        ) from exc


def _strict_values(path: Path, text: str) -> dict[str, Any]:
    try:
        values = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers TOMLDecodeError and an integer over 4300 digits.
        raise UnparseableFileError(f"{path}: invalid TOML ({exc}); refusing to overwrite") from exc
    if nesting_depth(values) > MAX_TOML_DEPTH:
        # The config loader applies nothing of such a file: to the writer it does not parse.
        raise UnparseableFileError(
            f"{path}: tables nest deeper than {MAX_TOML_DEPTH} levels; refusing to overwrite"
        )
    return values


def update_toml_locked(
    path: str | os.PathLike[str],
    mutate: Callable[[TOMLDocument], T],
    *,
    default_text: str = "",
    backup: bool = False,
    timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    read: Callable[[Path], TOMLDocument | None] = read_toml_document,
    after_write: Callable[[T], None] | None = None,
    render: Callable[[TOMLDocument], str] = tomlkit.dumps,
) -> T:
    """Locked read-modify-write of a TOML file that keeps comments and formatting.

    Under the sidecar lock: parse (refusing an unparseable file), call ``mutate(doc)`` which edits
    the document in place and returns a result, optionally copy the previous bytes to
    ``<name>.backup``, write atomically, then re-read and check the file parses to what was
    written. ``default_text`` seeds a file that does not exist yet. Returns ``mutate``'s result.
    ``read`` (under the lock) parses the file; a caller may pass one that reuses a document it
    already holds for the same bytes (tomlkit parsing dominates the cost of small updates).
    ``after_write(result)`` runs once the new file is in place, still under the lock; ``render``
    turns the edited document into text (a caller that rendered it already passes its text).
    Blocking: from asyncio call it through :func:`run_locked_update`.
    """
    target = Path(path)
    with sidecar_lock(target, timeout_s=timeout_s):
        doc = read(target)
        previous: bytes | None = None
        if doc is None:
            doc = tomlkit.parse(default_text)
        elif backup:
            previous = target.read_bytes()
        result = mutate(doc)
        rendered = render(doc)
        try:
            tomllib.loads(rendered)
        except (ValueError, RecursionError) as exc:
            raise UnparseableFileError(
                f"{target}: the edited document would not parse ({exc}); nothing written"
            ) from exc
        if previous is not None:
            atomic_write_bytes(target.with_name(target.name + ".backup"), previous)
        atomic_write_text(target, rendered)
        # Compare bytes, not parsed values: a nan anywhere in the file (nan != nan) would
        # otherwise report a correct write as failed after it happened.
        if target.read_bytes() != rendered.encode("utf-8"):
            raise UnparseableFileError(f"{target}: verification after write failed")
        if after_write is not None:
            after_write(result)
        return result


class AsyncFileGuard:
    """Runs blocking locked updates of one file from asyncio, one at a time per owner.

    The owner (for example the overrides writer) keeps one guard per file: the ``asyncio.Lock``
    keeps its own coroutines from parking many threads on the same file lock, while the sidecar
    lock taken inside ``fn`` still excludes other processes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = asyncio.Lock()

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread once every earlier ``run`` of this guard has finished."""
        async with self._lock:
            return await asyncio.to_thread(fn)
