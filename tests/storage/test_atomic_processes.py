"""Crash and concurrency claims of storage/atomic.py, proven with real processes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from peaktrade_daemon.storage.atomic import TEMP_SUFFIX, clean_stale_temp_files
from tests.conftest import subprocess_env

pytestmark = pytest.mark.slow

INCREMENTER = textwrap.dedent(
    """
    import sys
    from peaktrade_daemon.storage.atomic import update_toml_locked

    path, worker, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def bump(doc):
        table = doc["auto_applied"]
        table["counter"] = int(table.get("counter", 0)) + 1
        table[f"worker.{worker}"] = int(table.get(f"worker.{worker}", 0)) + 1

    for _ in range(rounds):
        update_toml_locked(path, bump, default_text="# shared file\\n[auto_applied]\\n", backup=True)
    """
)


def test_twenty_processes_lose_no_update(tmp_path: Path) -> None:
    target = tmp_path / "auto.toml"
    workers, rounds = 20, 15
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", INCREMENTER, str(target), str(w), str(rounds)],
            env=subprocess_env(),
        )
        for w in range(workers)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    data = tomllib.loads(target.read_text())["auto_applied"]
    assert data["counter"] == workers * rounds
    assert all(data[f"worker.{w}"] == rounds for w in range(workers))
    assert target.read_text().startswith("# shared file")
    assert list(tmp_path.glob(f".*{TEMP_SUFFIX}")) == []


WRITER = textwrap.dedent(
    """
    import sys
    from peaktrade_daemon.storage.atomic import update_toml_locked

    path = sys.argv[1]
    padding = "x" * 200  # a file of some size makes a torn write likely if writes were not atomic

    def bump(doc):
        table = doc["auto_applied"]
        n = int(table.get("counter", 0)) + 1
        table["counter"] = n
        for i in range(100):
            table[f"key.{i}"] = f"{n}-{padding}"

    print("started", flush=True)
    while True:
        update_toml_locked(path, bump, default_text="[auto_applied]\\n", backup=True)
    """
)

READER = textwrap.dedent(
    """
    import sys, tomllib, os
    path, stop = sys.argv[1], sys.argv[2]
    reads = bad = 0
    last = 0
    while not os.path.exists(stop):
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            continue
        reads += 1
        try:
            table = tomllib.loads(raw.decode())["auto_applied"]
            n = table["counter"]
            # every key of one file was written by the same update: no mixed generations
            if any(not v.startswith(f"{n}-") for k, v in table.items() if k.startswith("key.")):
                bad += 1
            if n < last:
                bad += 1
            last = n
        except Exception:
            bad += 1
    print(reads, bad, flush=True)
    """
)


def test_sigkill_writer_never_leaves_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "auto.toml"
    # Generation 0 is complete too, so the check holds even if the first writer dies before
    # finishing its first update.
    keys = "".join(f'"key.{i}" = "0-"\n' for i in range(100))
    target.write_text(f"[auto_applied]\ncounter = 0\n{keys}")
    stop = tmp_path / "stop"
    env = subprocess_env()
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(target), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    rng = random.Random(1234)
    counters = []
    try:
        for _ in range(12):
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(target)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
            time.sleep(rng.uniform(0.02, 0.15))
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(timeout=10)
            # After every kill the file parses and holds one complete generation.
            table = tomllib.loads(target.read_text())["auto_applied"]
            counters.append(table["counter"])
            assert all(table[f"key.{i}"].startswith(f"{table['counter']}-") for i in range(100))
    finally:
        stop.touch()
        results = [r.communicate(timeout=30)[0].split() for r in readers]
    assert counters == sorted(counters) and counters[-1] > 0
    for reads, bad in results:
        assert int(reads) > 50
        assert int(bad) == 0
    # Killed writers may leave temp files; start-up clean-up removes them (their pids are dead).
    clean_stale_temp_files(tmp_path)
    assert list(tmp_path.glob(f".*{TEMP_SUFFIX}")) == []
