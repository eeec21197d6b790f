"""storage/atomic.py: atomic replace, sidecar lock, stale temp clean-up, locked TOML updates."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
import tomlkit

from peaktrade_daemon.errors import LockHeldError, UnparseableFileError
from peaktrade_daemon.storage.atomic import (
    TEMP_SUFFIX,
    AsyncFileGuard,
    atomic_write_bytes,
    atomic_write_text,
    clean_stale_temp_files,
    lock_path_for,
    sidecar_lock,
    update_toml_locked,
)
from tests.conftest import subprocess_env

AUTO = """\
# header comment: keep me
[auto_applied]
"portfolio.leverage" = 1.25 # inline comment: keep me too
"""


def temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f".*{TEMP_SUFFIX}"))


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert temp_files(target.parent) == []


def test_atomic_write_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    target.chmod(0o600)
    atomic_write_bytes(target, b"y")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_failed_replace_leaves_original_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "dir-not-file"
    target.mkdir()
    (target / "inner").write_text("keep")
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")
    assert (target / "inner").read_text() == "keep"
    assert temp_files(tmp_path) == []


def test_clean_stale_temp_files_spares_live_writers(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    live_pid = os.getppid()  # our parent (pytest runner's parent) is alive
    (tmp_path / "nested").mkdir()
    stale = tmp_path / "nested" / f".auto.toml.{dead_pid}-abcd{TEMP_SUFFIX}"
    live = tmp_path / f".auto.toml.{live_pid}-abcd{TEMP_SUFFIX}"
    other = tmp_path / ".hidden.tmp"
    for path in (stale, live, other):
        path.write_text("partial")
    removed = clean_stale_temp_files(tmp_path, tmp_path / "missing-dir")
    assert removed == [stale]
    assert not stale.exists() and live.exists() and other.exists()


def test_update_toml_keeps_comments_quotes_and_backs_up(tmp_path: Path) -> None:
    target = tmp_path / "auto.toml"
    target.write_text(AUTO)

    def mutate(doc: tomlkit.TOMLDocument) -> float:
        table = doc["auto_applied"]
        table["portfolio.leverage"] = 1.5  # type: ignore[index]
        table["macro.regime_weight"] = 0.35  # type: ignore[index]
        return 1.5

    assert update_toml_locked(target, mutate, backup=True) == 1.5
    text = target.read_text()
    assert "# header comment: keep me" in text
    assert "# inline comment: keep me too" in text
    assert '"macro.regime_weight" = 0.35' in text
    assert tomllib.loads(text)["auto_applied"] == {
        "portfolio.leverage": 1.5,
        "macro.regime_weight": 0.35,
    }
    assert (tmp_path / "auto.toml.backup").read_text() == AUTO
    assert lock_path_for(target).exists()


def test_update_toml_seeds_missing_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "auto.toml"
    update_toml_locked(
        target,
        lambda doc: doc["auto_applied"].add("k", 1),
        default_text="[auto_applied]\n",
        backup=True,
    )  # type: ignore[union-attr]
    assert tomllib.loads(target.read_text()) == {"auto_applied": {"k": 1}}
    assert not (target.parent / "auto.toml.backup").exists()


@pytest.mark.parametrize(
    "content",
    [
        b'[auto_applied]\n"portfolio.leverage" = = 2\n',
        b"[auto_applied\n",
        b"\xff\xfe garbage",
        b"a = 1\na = 2\n",
    ],
)
def test_unparseable_file_is_never_overwritten(tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "auto.toml"
    target.write_bytes(content)
    called = []
    with pytest.raises(UnparseableFileError) as err:
        update_toml_locked(target, called.append, backup=True)
    assert str(target) in str(err.value) and "refusing to overwrite" in str(err.value)
    assert called == []
    assert target.read_bytes() == content
    assert not (tmp_path / "auto.toml.backup").exists()
    assert temp_files(tmp_path) == []


def test_mutate_error_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "auto.toml"
    target.write_text(AUTO)

    def boom(doc: tomlkit.TOMLDocument) -> None:
        doc["auto_applied"]["x"] = 1  # type: ignore[index]
        raise ValueError("policy said no")

    with pytest.raises(ValueError):
        update_toml_locked(target, boom, backup=True)
    assert target.read_text() == AUTO
    assert not (tmp_path / "auto.toml.backup").exists()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from peaktrade_daemon.storage.atomic import sidecar_lock
    with sidecar_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_sidecar_lock_excludes_other_processes(tmp_path: Path) -> None:
    target = tmp_path / "auto.toml"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target), "30"],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError) as err, sidecar_lock(target, timeout_s=0.2):
            pass
        assert "auto.toml.lock" in str(err.value)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # The kernel released the flock with the dead process: no stale lock.
    with sidecar_lock(target, timeout_s=5):
        pass


async def test_async_guard_does_not_block_the_loop(tmp_path: Path) -> None:
    target = tmp_path / "auto.toml"
    guard = AsyncFileGuard(target)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    def slow_update() -> str:
        with sidecar_lock(target):
            time.sleep(0.3)
        return "done"

    beat = asyncio.create_task(heartbeat())
    try:
        async with asyncio.timeout(10):
            results = await asyncio.gather(guard.run(slow_update), guard.run(slow_update))
    finally:
        beat.cancel()
    assert results == ["done", "done"]
    assert ticks >= 20  # the loop kept running during 0.6 s of locked work
