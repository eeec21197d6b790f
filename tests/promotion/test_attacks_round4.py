"""Fourth round of attacks on §8.8 (a red-team review after commit 813beb2). Each test is one
attack that passed through before its fix (``storage/untrusted.py``: a file from reports/ is a
regular file of bounded size, read once; the seal is of the judged content, from memory).

* **The seal is checked on one read and the candidates taken from another.** An approval
  (``ProposalFiles.sealed_decisions``) hashes ``config_patches.json`` (``seal_found``), then
  reads and parses the file *again* (``decisions``) and applies what the second read gave. And
  ``approve`` calls ``approval_decisions`` twice (once for the evidence, once to apply), four
  reads in all. Anything that can write ``reports/`` can serve one content to the seal check and
  another to the read that is applied: here a FIFO in place of the file (no race at all), a
  rename loop does the same by chance. The operator approves the checklist's leverage step and
  ``macro.regime_weight``, never judged in this proposal, moves too.
* **The seal is taken from the untrusted directory, not from what was judged.**
  ``_write_proposal`` renames the finished directory into ``reports/live_promotion/`` and then
  seals ``json.loads`` of the file *read back from there*; the same content was already built in
  memory. Whoever rewrites ``config_patches.json`` in that window (or in the temp directory,
  also under ``reports/``, any time before the rename: the evidence chart is drawn in between)
  gets their content sealed in the audit trail and the state database, and a later, race-free
  approval applies it. Simulated here by acting right after the ``os.rename``.
* **A sparse published_patches.json is read whole into memory.** The inbox reads
  ``reports/learning/published_patches.json`` with no size limit: a sparse file (no disk used)
  of 1 GiB costs the daemon over 2 GiB of RSS (the bytes and their decoded text); one the size
  of the machine's memory makes ``check`` raise MemoryError (the component crashes and its
  restart reads it again) or gets the daemon OOM-killed. The inbox's contract is "never
  raises": it is now a warning alert naming the file.

In-process (the real CLI ``main``, proposal files, writer and live loader) on a copied root.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.config.loader import load_config_with_live_overrides
from peaktrade_daemon.promotion.proposals import CHECKLIST_FILE, PATCHES_FILE
from tests.conftest import subprocess_env
from tests.daemon_harness import set_toml

LEVERAGE, WEIGHT = "portfolio.leverage", "macro.regime_weight"
PROPOSALS = Path("reports/live_promotion")
AUTO = Path("config/live_overrides/auto.toml")


@pytest.fixture
def live_root(project_root: Path) -> Path:
    """The shipped root in live mode, evidence off (each CLI call well under a second; the
    seal, not the evidence, is under test)."""
    set_toml(project_root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    policy = project_root / "config" / "promotion.toml"
    text = policy.read_text()
    head, _, evidence = text.partition("[evidence]")
    policy.write_text(
        head + "[evidence]" + evidence.replace("enabled = true", "enabled = false", 1)
    )
    return project_root


def _cli(root: Path, *args: str) -> int:
    from peaktrade_daemon.cli.app import main

    return main(["--root", str(root), *args])


def _promote_leverage(root: Path) -> str:
    """``promote --input`` of one accepted patch (leverage 1.5); returns the proposal id."""
    source = root / "leverage.json"
    patch = {
        "target": LEVERAGE,
        "value": 1.5,
        "confidence": 0.9,
        "is_live_ready": True,
        "status": "APPLIED_OFFLINE",
    }
    source.write_text(json.dumps({"patches": [patch]}))
    assert _cli(root, "promote", "--input", str(source)) == 0
    [proposal] = sorted(p.name for p in (root / PROPOSALS).iterdir())
    return proposal


def _with_weight(content: dict[str, Any]) -> dict[str, Any]:
    """The proposal's content plus a candidate for macro.regime_weight (to 0.8) that no
    ``promote`` ever judged in it."""
    forged = copy.deepcopy(content)
    extra = copy.deepcopy(forged["candidates"][0])
    extra.pop("evidence", None)
    extra["target"] = extra["patch"]["target"] = WEIGHT
    extra["patch"].update(id="forged-weight", new_value=0.8, old_value=None)
    extra["current_live_value"] = 0.25
    extra["planned_steps"] = [0.35, 0.45, 0.55, 0.65, 0.75, 0.8]
    forged["candidates"].append(extra)
    return forged


def _live(root: Path) -> dict[str, Any]:
    config = load_config_with_live_overrides(
        root / "config" / "config.toml", auto_overrides_path=root / AUTO
    )
    return {LEVERAGE: config.get(LEVERAGE), WEIGHT: config.get(WEIGHT)}


def _trail(root: Path) -> list[dict[str, Any]]:
    path = root / "reports" / "promotion_audit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@contextlib.contextmanager
def _fifo_serving(
    path: Path, contents: list[bytes], *, deadline_s: float = 20.0
) -> Iterator[list[int]]:
    """Replace ``path`` by a FIFO and serve ``contents`` in turn, one per open for reading
    (what an attacker with write access to the directory can do). Yields the list of the
    indexes served."""
    path.unlink()
    os.mkfifo(path)
    served: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        end = time.monotonic() + deadline_s
        while not stop.is_set() and time.monotonic() < end:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                time.sleep(0.001)
                continue
            try:
                os.set_blocking(fd, True)
                index = len(served) % len(contents)
                os.write(fd, contents[index])  # a few KiB: fits the pipe buffer
                served.append(index)
            finally:
                os.close(fd)
            time.sleep(0.05)  # let the reader see EOF and close before the next open

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        stop.set()
        thread.join(timeout=5)


# -- finding 1: the seal is checked on one read, the candidates taken from another ----------


def test_an_approval_applies_only_the_content_its_seal_check_read(
    live_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``config_patches.json`` that answers each read in turn with the genuine (sealed)
    content and with the content plus a ``macro.regime_weight`` candidate (a file swapped in a
    loop of renames does it by chance). The approval used to check the seal on one read and
    apply the candidates of another: it moved regime_weight 0.25 -> 0.35, recorded as approved
    by alice, while the proposal the governance judged, sealed and showed holds leverage only.
    Now the content whose seal is checked is the content used, from one read."""
    from peaktrade_daemon.promotion import proposals as proposals_module

    proposal = _promote_leverage(live_root)
    patches = live_root / PROPOSALS / proposal / PATCHES_FILE
    genuine = patches.read_bytes()
    forged = json.dumps(_with_weight(json.loads(genuine)), indent=2).encode()
    assert WEIGHT not in (live_root / PROPOSALS / proposal / CHECKLIST_FILE).read_text()
    real_read = proposals_module.read_untrusted
    served: list[str] = []

    def alternating(path: Path, *args: Any) -> bytes:
        if path.name != PATCHES_FILE:
            return real_read(path, *args)
        served.append("genuine" if len(served) % 2 == 0 else "forged")
        return genuine if served[-1] == "genuine" else forged

    monkeypatch.setattr(proposals_module, "read_untrusted", alternating)
    code = _cli(live_root, "proposals", "approve", proposal, "--by", "alice")
    assert served, "the approval never read the proposal"
    assert _live(live_root)[WEIGHT] == 0.25, (code, served)
    assert not [
        r for r in _trail(live_root) if r.get("event") == "change" and r.get("key") == WEIGHT
    ]


def test_a_named_pipe_for_a_proposal_file_is_refused_not_read(live_root: Path) -> None:
    """The same file replaced by a FIFO that serves the genuine and the forged content in
    turn: a proposal file is read only when it is a regular file, so the approval is refused
    (exit 2, naming it) without blocking on the pipe, and nothing is applied."""
    proposal = _promote_leverage(live_root)
    patches = live_root / PROPOSALS / proposal / PATCHES_FILE
    genuine = patches.read_bytes()
    forged = json.dumps(_with_weight(json.loads(genuine)), indent=2).encode()
    before = (live_root / AUTO).read_bytes()
    with _fifo_serving(patches, [genuine, forged], deadline_s=3.0):
        code = _cli(live_root, "proposals", "approve", proposal, "--by", "alice")
    assert code == 2
    assert (live_root / AUTO).read_bytes() == before


# -- finding 2: the seal is taken from the file read back from reports/, not from memory ------


def test_the_seal_is_of_the_judged_content_not_of_the_file_read_back(
    live_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after ``promote`` renames the proposal's directory into reports/live_promotion/,
    rewrite its ``config_patches.json`` with an extra ``macro.regime_weight`` candidate (an
    attacker watching the directory; the temp directory beside it is as open, for longer).
    ``promote`` seals what it reads back, so the trail's verdict records (leverage only) and the
    database carry the seal of the edited file; the checklist shows leverage only. A later,
    ordinary ``proposals approve`` then applies regime_weight too."""
    real_rename = os.rename

    def rename_then_edit(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        real_rename(src, dst, *args, **kwargs)
        final = Path(dst)
        if re.fullmatch(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}", final.name):
            patches = final / PATCHES_FILE
            patches.write_text(json.dumps(_with_weight(json.loads(patches.read_text())), indent=2))

    monkeypatch.setattr(os, "rename", rename_then_edit)
    proposal = _promote_leverage(live_root)
    monkeypatch.setattr(os, "rename", real_rename)

    verdicts = [
        r for r in _trail(live_root) if r.get("event") == "verdict" and r["proposal_id"] == proposal
    ]
    assert [r["key"] for r in verdicts] == [LEVERAGE]  # what was judged
    assert WEIGHT not in (live_root / PROPOSALS / proposal / CHECKLIST_FILE).read_text()

    code = _cli(live_root, "proposals", "approve", proposal, "--by", "alice")
    assert _live(live_root)[WEIGHT] == 0.25, (
        f"approve (exit {code}) applied macro.regime_weight, which the proposal's verdicts, "
        "checklist and evidence never held: the seal was taken from the edited file"
    )


# -- finding 3: the inbox reads a published file of any size whole into memory -------------


_INBOX_PROBE = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    from pathlib import Path

    # Address space well below the file's size: with no limit the read allocates it all
    # (64 GiB here; overcommit would let the kernel OOM-kill the test runner instead).
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
    from peaktrade_daemon.clock import ManualClock
    from peaktrade_daemon.promotion.inbox import PatchInbox
    from peaktrade_daemon.settings import load_settings

    class Alerts:
        def __init__(self):
            self.seen = []

        async def emit(self, level, source, message, context=None):
            self.seen.append([str(level), message])

    alerts = Alerts()
    box = PatchInbox(
        load_settings(Path(sys.argv[1])), clock=ManualClock(), alerts=alerts,
        publish=lambda event: None,
    )
    box.path.parent.mkdir(parents=True, exist_ok=True)
    with open(box.path, "wb") as handle:
        handle.truncate(64 * 2**30)  # sparse: no disk used
    try:
        asyncio.run(asyncio.wait_for(box.check(), 20))
        raised = None
    except BaseException as exc:
        raised = type(exc).__name__
    finally:
        box.path.unlink()
    print(json.dumps({"raised": raised, "alerts": alerts.seen}))
    """
)


def test_a_huge_sparse_published_file_is_refused_not_read_into_memory(project_root: Path) -> None:
    """Truncate ``reports/learning/published_patches.json`` to 64 GiB (sparse: nothing on
    disk). The inbox reads the whole file: under a 3 GiB address-space limit ``check`` raises
    MemoryError (the component crashes; every restart reads it again); without a limit a file
    the size of the machine's memory gets the daemon OOM-killed (1 GiB costs 2.1 GiB of RSS).
    The contract: a damaged published file is a warning alert, never a crash."""
    done = subprocess.run(
        [sys.executable, "-c", _INBOX_PROBE, str(project_root)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["raised"] is None, f"PatchInbox.check raised {found['raised']}"
    assert found["alerts"], "no alert named the oversized file"
