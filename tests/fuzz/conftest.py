"""Shared tools of the bad-input suite: a watch on everything outside the root, and CLI runs.

``outside_root`` snapshots the whole tmp directory that holds the root (minus the root itself)
plus a sibling directory with a bait file, so a test can assert that malformed input never made
the product write, create or delete anything outside its root.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import cli_command, subprocess_env


def tree_state(top: Path, skip: Sequence[Path] = ()) -> dict[str, str]:
    """Relative path -> content digest (or ``dir``) of every entry under ``top`` but ``skip``."""
    state: dict[str, str] = {}
    for path in sorted(top.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        key = str(path.relative_to(top))
        if path.is_symlink():
            state[key] = f"link:{path.readlink()}"
        elif path.is_dir():
            state[key] = "dir"
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@dataclass
class OutsideWatch:
    """Everything next to the root; ``assert_untouched`` compares with the state at creation."""

    top: Path
    roots: list[Path]
    before: dict[str, str]

    def clone(self, name: str) -> Path:
        """Another root next to the first (a copy of it), also exempt from the watch."""
        copy = self.top / name
        shutil.copytree(self.roots[0], copy)
        self.roots.append(copy)
        return copy

    def assert_untouched(self) -> None:
        after = tree_state(self.top, skip=self.roots)
        assert after == self.before, "something outside the root changed"


@pytest.fixture
def outside_root(project_root: Path) -> Iterator[OutsideWatch]:
    """A sibling of the root with bait files (``../outside/x``) and a snapshot of the tmp dir."""
    top = project_root.parent
    bait = top / "outside"
    bait.mkdir(exist_ok=True)
    (bait / "x").write_text("bait\n")
    (top / "x").write_text("bait\n")
    watch = OutsideWatch(top, [project_root], tree_state(top, skip=[project_root]))
    yield watch
    watch.assert_untouched()


@dataclass(frozen=True)
class CliResult:
    """Exit code and both streams of one CLI run."""

    code: int
    out: str
    err: str

    def assert_clean_failure(self, code: int, *needles: str) -> None:
        """Failed with ``code``, one error line naming ``needles``, and no traceback."""
        text = self.out + self.err
        assert self.code == code, f"exit {self.code}, wanted {code}:\n{text}"
        assert "Traceback" not in text, text
        assert "unexpected" not in self.err, text
        for needle in needles:
            assert needle in text, f"{needle!r} not in:\n{text}"


def run_cli(root: Path, *args: str, timeout_s: float = 60.0) -> CliResult:
    """``peaktrade-daemon --root ROOT ARGS`` in a subprocess of this checkout."""
    done = subprocess.run(
        cli_command("--root", str(root), *args),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=subprocess_env(),
        cwd=root,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def run_cli_many(runs: Sequence[tuple[Path, Sequence[str]]]) -> list[CliResult]:
    """Several independent CLI runs at once (each is a ~1 s interpreter start), in order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda run: run_cli(run[0], *run[1]), runs))
