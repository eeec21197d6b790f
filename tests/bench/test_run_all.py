"""bench/run_all.py finds and runs every bench script and judges rows; bench/decision.py runs.

No timing is asserted here (benchmarks print figures; tests only check they run and agree).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"_test_bench_{name}", BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture
def run_all() -> ModuleType:
    return load("run_all")


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"name": "r", "value": 150_000, "unit": "decisions/s", "target": 100_000}, True),
        ({"name": "r", "value": 90_000, "unit": "decisions/s", "target": 100_000}, False),
        ({"name": "s", "value": 120.0, "unit": "ms", "target": 150.0}, True),
        ({"name": "s", "value": 151.0, "unit": "ms", "target": 150.0}, False),
        ({"name": "x", "value": 25.0, "unit": "x", "target": 20.0}, True),
        ({"name": "b", "value": 3.0, "unit": "MB", "target": 4.0, "better": "lower"}, True),
        ({"name": "n", "value": 3.0, "unit": "ms", "target": None}, None),
        ({"name": "e", "value": None, "unit": "", "target": None}, False),
        ({"name": "e", "value": float("nan"), "unit": "ms", "target": 1.0}, False),
    ],
)
def test_verdict_direction(
    run_all: ModuleType, row: dict[str, object], expected: bool | None
) -> None:
    assert run_all.verdict(row) is expected


def test_runs_every_script_and_survives_a_broken_one(
    run_all: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.py").write_text(
        "def main():\n"
        "    row = {'name': 'good', 'value': 2.0, 'unit': 'ms', 'target': 5.0, 'baseline': 9.0}\n"
        "    return [row]\n"
    )
    (tmp_path / "broken.py").write_text("def main():\n    raise RuntimeError('boom')\n")
    (tmp_path / "not_a_bench.py").write_text("VALUE = 1\n")
    (tmp_path / "bad_rows.py").write_text("def main():\n    return [{'value': 1}]\n")
    scripts = run_all.discover(tmp_path)
    assert [p.name for p in scripts] == ["bad_rows.py", "broken.py", "good.py", "not_a_bench.py"]
    rows = [row for path in scripts for row in run_all.run_script(path)]
    assert [r["name"].split(":")[0] for r in rows] == ["bad_rows", "broken", "good"]
    assert "RuntimeError: boom" in rows[1]["name"]
    assert run_all.print_table(rows) == 1  # a failed script fails the run
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["name", "value", "unit", "target", "baseline", "ok?"]
    assert "MISS" in table and " ok" in table
    assert run_all.print_table([rows[2]]) == 0


def test_decision_bench_produces_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    decision = load("decision")
    monkeypatch.setattr(decision, "SNAPSHOTS", 200)
    monkeypatch.setattr(decision, "ROUNDS", 1)
    monkeypatch.setattr(decision, "REPEATS", 1)
    rows = decision.main()
    assert len(rows) == 2
    for row in rows:
        assert {"name", "value", "unit", "target", "baseline"} <= row.keys()
        assert row["value"] > 0 and row["baseline"] > 0 and row["unit"] == "decisions/s"


def test_evidence_bench_produces_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = load("evidence")
    monkeypatch.setattr(evidence, "RUNS", 1)
    rows = evidence.main()
    assert [r["unit"] for r in rows] == ["ms", "x", "ms"]
    assert all(r["value"] > 0 for r in rows) and rows[0]["baseline"] > 0


def test_learner_bench_produces_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    learner = load("learner")
    monkeypatch.setattr(learner, "RUNS", 1)
    monkeypatch.setattr(learner, "WEEK_BARS", 1000)  # three weekly runs, not twenty-five
    rows = learner.main()
    assert [r["unit"] for r in rows] == ["ms", "x", "ms"]
    assert all(r["value"] > 0 for r in rows) and rows[0]["baseline"] > 0
    assert rows[2]["name"].endswith("(3 runs)")


def test_run_all_as_a_script_on_one_bench(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "no_such_bench"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "no benchmark rows" in proc.stderr


def test_every_bench_script_imports_and_declares_numeric_targets() -> None:
    """Each script loads through the runner (dataclasses need sys.modules), and no row literal
    gives a text target, which the table could not compare; running them is `make bench`'s job."""
    import ast

    from bench import run_all

    for path in run_all.discover():
        module = run_all.load(path)
        assert callable(getattr(module, "main", None)), path
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "target":
                        assert not isinstance(value, ast.JoinedStr), f"{path.name}: text target"
                        assert not (
                            isinstance(value, ast.Constant) and isinstance(value.value, str)
                        ), f"{path.name}: text target"


def test_each_script_runs_in_its_own_interpreter(run_all: ModuleType, tmp_path: Path) -> None:
    """What one benchmark does to its process (imports, environment, threads) is gone for the
    next, and a script whose process dies gives a failed row, not a lost run."""
    (tmp_path / "a_sets.py").write_text(
        "import os, sys\n"
        "def main():\n"
        "    os.environ['BENCH_LEFTOVER'] = '1'\n"
        "    sys.modules['bench_leftover'] = sys\n"
        "    return [{'name': 'a', 'value': 1.0, 'unit': 'x'}]\n"
    )
    (tmp_path / "b_reads.py").write_text(
        "import os, sys\n"
        "def main():\n"
        "    seen = 'BENCH_LEFTOVER' in os.environ or 'bench_leftover' in sys.modules\n"
        "    return [{'name': 'b', 'value': float(seen), 'unit': 'x'}]\n"
    )
    (tmp_path / "c_dies.py").write_text("import os\ndef main():\n    os._exit(3)\n")
    rows = [row for path in run_all.discover(tmp_path) for row in run_all.run_script(path)]
    assert [(r["name"], r["value"]) for r in rows] == [
        ("a", 1.0),
        ("b", 0.0),
        ("c_dies: its process exited with 3", None),
    ]
