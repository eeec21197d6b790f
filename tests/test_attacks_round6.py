"""Sixth round of attacks (a short red-team review after commit 93acf79), on the newest fixes;
each passed through before its fix (the audit trail and auto.toml are read as untrusted files;
a patch with text that is not valid Unicode is refused as it is read).

* **The audit trail is a file under reports/ that is not read as an untrusted file.**
  ``storage/untrusted.read_untrusted`` covers proposal files, the published set, snippets and
  evidence.png, but ``AuditTrail`` (``reports/promotion_audit/audit.jsonl``) opens the trail with
  ``Path.open("rb")`` / ``read_bytes``. Whoever can write ``reports/`` replaces it with a FIFO:
  the worker's periodic auto.toml check (``PromotionWorker.check_file`` ->
  ``FileWriter.check`` -> ``last_file_record`` -> ``_reversed_lines``) blocks in ``open``
  forever, in a thread no one can cancel (no more hand-edit alerts, and the daemon's exit hangs
  like round 5's evidence.png). A sparse file or a symlink to /dev/zero is read whole
  (``damaged_tail``, ``records``) without bound.
* **A lone surrogate in a published target crashes the promotion worker.** ``json.loads`` turns
  ``"\\ud800"`` into a lone surrogate; ``check_target`` accepts it, and ``run_promotion`` raises
  UnicodeEncodeError (``line_hash`` encodes the audit line strictly), not a PeakTradeError.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from peaktrade_daemon.errors import PeakTradeError
from peaktrade_daemon.learning.models import read_published
from peaktrade_daemon.promotion.engine import run_promotion
from peaktrade_daemon.promotion.models import AutoApplyMode
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import load_settings
from tests.promotion.conftest import make_patch


def test_a_fifo_as_the_audit_trail_does_not_hang_the_file_check(project_root: Path) -> None:
    """The worker's periodic comparison of auto.toml with the trail must answer (an error is
    fine: it becomes a critical alert), not block forever opening a planted FIFO."""
    settings = load_settings(project_root)
    workspace = PromotionWorkspace.from_settings(settings)
    trail = workspace.audit().path
    trail.parent.mkdir(parents=True, exist_ok=True)
    trail.unlink(missing_ok=True)
    os.mkfifo(trail)
    outcome: list[object] = []

    def check() -> None:
        try:
            outcome.append(workspace.writer().check())
        except Exception as exc:  # an AuditError/DataError is a fine answer
            outcome.append(exc)

    thread = threading.Thread(target=check, daemon=True)
    thread.start()
    thread.join(3)
    hung = thread.is_alive()
    # Release the thread blocked in open() (a writer that closes at once).
    with contextlib.suppress(OSError):
        os.close(os.open(trail, os.O_WRONLY | os.O_NONBLOCK))
    thread.join(3)
    assert not hung, "FileWriter.check blocked opening the FIFO planted as the audit trail"


def test_a_lone_surrogate_in_a_published_target_is_refused_not_a_crash(project_root: Path) -> None:
    """A published patch whose target holds a lone surrogate (``"\\ud800"`` in the JSON) is
    accepted by ``read_published``; ``run_promotion`` then raises UnicodeEncodeError hashing the
    audit line (``audit_records.line_hash``). The worker's ``process`` catches only
    PeakTradeError: the exception escapes ``PromotionWorker.run`` (the component crashes with
    its batch unacknowledged, the other patches of the batch are never judged, the periodic
    check/rollback duty stops until a restart). It must be a refusal of that entry (a skipped
    entry or a PeakTradeError), like any other bad target."""
    workspace = PromotionWorkspace.from_settings(load_settings(project_root))
    good = make_patch("portfolio.leverage", 1.25, old=1.0, pid="p1").to_dict()
    bad = dict(good, id="p2", target="portfolio.\ud800leverage")
    patches, problems = read_published(json.dumps({"patches": [good, bad]}).encode())
    # Refused as it is read, naming the entry; the good patch goes on.
    assert [p.id for p in patches] == ["p1"]
    assert len(problems) == 1 and "not valid Unicode" in problems[0], problems
    try:
        run_promotion(
            list(patches),
            policy=workspace.policy(),
            mode=AutoApplyMode.MANUAL_ONLY,
            base=workspace.base(),
            writer=workspace.writer(),
            audit=workspace.audit(),
            proposals_dir=workspace.proposals_dir,
            now=datetime.now(UTC),
        )
    except PeakTradeError:
        pass  # a refusal the worker turns into a critical alert
    except Exception as exc:
        raise AssertionError(
            f"run_promotion raised {type(exc).__name__} (not a PeakTradeError): {exc}"
        ) from exc
