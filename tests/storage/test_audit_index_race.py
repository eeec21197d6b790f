"""Two processes mirroring the audit trail into the state database at once (found while
attacking the governance, tests/promotion/test_attacks.py).

``sync_audit_index`` reads the highest indexed ``seq`` in one transaction and inserts the newer
records in another, so two processes (``proposals approve`` and the daemon's worker, or two
approvals) that mirror together both insert the same seqs and one fails with an IntegrityError.
Nothing governed is lost (the trail is the record and the next sync catches up), but the command
that lost the race exited 1 *after* its change was written and recorded. Now the insert skips the
seqs already indexed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.storage.db import open_database
from tests.conftest import subprocess_env

CHILD = """
import asyncio, sys
from pathlib import Path
from peaktrade_daemon.promotion.audit import AuditTrail
from peaktrade_daemon.storage.db import open_database
from peaktrade_daemon.storage.promotion_store import sync_audit_index

async def main() -> None:
    db = await open_database(sys.argv[1])
    try:
        print("ready", flush=True)
        sys.stdin.readline()  # both children start the sync together
        print(await sync_audit_index(db, AuditTrail(Path(sys.argv[2]))), flush=True)
    finally:
        await db.close()

asyncio.run(main())
"""


async def test_two_processes_mirroring_at_once_both_succeed(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    trail.append([{"event": "review", "actor": "alice", "reasons": [str(n)]} for n in range(3000)])
    url = f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
    database = await open_database(url)  # the schema exists before the race
    await database.close()
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            url,
            str(trail.path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=subprocess_env(),
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert (await asyncio.wait_for(child.stdout.readline(), 30)).strip() == b"ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            await child.stdin.drain()
        outs = [await asyncio.wait_for(c.communicate(), 60) for c in children]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    assert [c.returncode for c in children] == [0, 0], [err[-400:] for _, err in outs]
    assert sorted(int(out.split()[-1]) for out, _ in outs) == [0, 3000]
