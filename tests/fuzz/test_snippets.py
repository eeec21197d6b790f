"""Learning snippets (reports/learning_snippets/*.json, *.jsonl, every accepted shape).

Contract: reading never raises; every patch that comes out is a valid ConfigPatch; every entry
that does not is skipped with a warning naming the file and the entry (or line); and the
``learn`` / ``promote --input`` commands turn unusable input into a clean exit code with nothing
outside the root touched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.learning.models import ConfigPatch
from peaktrade_daemon.learning.snippets import read_snippet_file, read_snippets
from tests.fuzz.conftest import OutsideWatch, run_cli
from tests.fuzz.mutations import damaged

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
GOOD: dict[str, Any] = {
    "target": "portfolio.leverage",
    "new_value": 1.25,
    "status": "APPLIED_OFFLINE",
    "confidence": 0.9,
    "tags": ["tuned"],
    "is_live_ready": True,
}
KEYS = [
    "target", "new_value", "value", "old_value", "id", "status", "confidence",
    "confidence_score", "reason", "meta", "tags", "is_live_ready", "generated_at",
    "applied_at", "promoted_at", "source_experiment_id", "bogus",
]  # fmt: skip
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(
        ["portfolio.leverage", "a..b", " a.b", "PROMOTED", "2024-01-01T00:00:00Z", "x"]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
ENTRY = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), JSON_VALUE, max_size=8),
    st.fixed_dictionaries({}, optional={k: JSON_VALUE for k in ("tags", "meta", "reason")}).map(
        lambda extra: {**GOOD, **extra}
    ),
    JSON_VALUE,
)


def shape(entries: list[Any], kind: str) -> tuple[str, bytes]:
    """One snippet file holding ``entries`` in one of the accepted shapes."""
    if kind == "jsonl":
        return "s.jsonl", "".join(json.dumps(e) + "\n" for e in entries).encode()
    if kind == "object":
        return "s.json", json.dumps({"patches": entries}).encode()
    return "s.json", json.dumps(entries).encode()


def assert_warnings_name_file_and_entry(warnings: list[str], path: Path) -> None:
    for warning in warnings:
        assert warning.startswith(f"{path}: "), warning
        assert ": entry " in warning or ": line " in warning or ": skipped: " in warning


@FUZZ
@given(entries=st.lists(ENTRY, max_size=6), kind=st.sampled_from(["jsonl", "object", "array"]))
def test_generated_entries_become_valid_patches_or_named_warnings(
    tmp_path_factory: pytest.TempPathFactory, entries: list[Any], kind: str
) -> None:
    directory = tmp_path_factory.mktemp("snippets")
    name, raw = shape(entries, kind)
    path = directory / name
    path.write_bytes(raw)
    report = read_snippet_file(path)
    patches, warnings = report.patches, report.warnings
    assert len(patches) + len(warnings) == len(entries)
    assert len(report.refused) <= len(warnings)
    for patch in patches:
        assert ConfigPatch.from_dict(patch.to_dict()) == patch  # valid and round-trips
        assert all(isinstance(tag, str) for tag in patch.tags)
    assert_warnings_name_file_and_entry(warnings, path)
    report = read_snippets(directory)
    assert report.entries_parsed == len(patches)
    assert len({p.target for p in report.patches}) == len(report.patches)


@FUZZ
@given(
    raw=damaged(json.dumps({"patches": [GOOD, {**GOOD, "target": "macro.regime_weight"}]}).encode())
)
def test_damaged_snippet_file_never_stops_the_directory(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    directory = tmp_path_factory.mktemp("snippets")
    (directory / "a_bad.json").write_bytes(raw)
    (directory / "b_bad.jsonl").write_bytes(raw)
    good = directory / "c_good.json"
    good.write_text(json.dumps({**GOOD, "target": "strategy.trigger_delay", "new_value": 9.0}))
    os.utime(good, ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    report = read_snippets(directory)
    assert report.files_seen == 3
    assert "strategy.trigger_delay" in {p.target for p in report.patches}
    for warning in report.warnings:
        assert warning.startswith(str(directory / "a_bad.json")) or warning.startswith(
            str(directory / "b_bad.jsonl")
        )


BAD_ENTRIES = {
    "tags as object": ({**GOOD, "tags": {"experimental": True}}, "meta.tags must be"),
    "tags with a number": ({**GOOD, "tags": ["ok", 5]}, "meta.tags must be"),
    "meta as pairs": ({**GOOD, "meta": [["tags", "x"]]}, "meta must be an object"),
    "reason as list": ({**GOOD, "reason": ["x"]}, "reason: Input should be a valid string"),
    "NaN value": ({**GOOD, "new_value": float("nan")}, "new_value: must be a finite number"),
    "beyond float range": ({**GOOD, "new_value": 10**400}, "outside TOML's signed 64-bit range"),
    "beyond TOML ints": ({**GOOD, "new_value": 2**63}, "outside TOML's signed 64-bit range"),
    "table value": ({**GOOD, "new_value": {"a": 1}}, "new_value: must be a bool"),
    "no target": ({"new_value": 1}, "needs 'target'"),
    "padded target": ({**GOOD, "target": "portfolio. leverage"}, "empty or padded segment"),
    "confidence 2": ({**GOOD, "confidence": 2}, "confidence_score: Input should be less than"),
    "confidence true": ({**GOOD, "confidence": True}, "confidence_score: Input should be a valid"),
    "status unknown": ({**GOOD, "status": "LIVE"}, "status must be one of"),
    "bad time": ({**GOOD, "generated_at": "yesterday"}, "Invalid isoformat"),
    "naive time": ({**GOOD, "generated_at": "2026-01-01T00:00:00"}, "timezone"),
    "unknown field": ({**GOOD, "bogus": 1}, "unknown field 'bogus'"),
}


@pytest.mark.parametrize("name", sorted(BAD_ENTRIES))
def test_hand_picked_bad_entry_is_skipped_with_file_and_entry(tmp_path: Path, name: str) -> None:
    entry, needle = BAD_ENTRIES[name]
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"patches": [entry, GOOD]}))
    report = read_snippet_file(path)
    assert [p.target for p in report.patches] == ["portfolio.leverage"]
    (warning,) = report.warnings
    assert warning.startswith(f"{path}: entry 0: skipped: ")
    assert needle in warning
    # An entry that named a valid key becomes a sanity verdict in `promote`.
    named = isinstance(entry.get("target"), str) and entry["target"] == GOOD["target"]
    assert [r.target for r in report.refused] == (["portfolio.leverage"] if named else [])


BAD_FILES = {
    "empty.json": (b"", "not JSON"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "not usable JSON"),
    "digits.json": (b'{"target": "a.b", "new_value": 1' + b"0" * 5000 + b"}", "not usable JSON"),
    "utf16.json": (json.dumps(GOOD).encode("utf-16"), "codec can't decode"),
    "patches-not-list.json": (b'{"patches": {"a": 1}}', "'patches' must be an array"),
    "truncated.json": (json.dumps([GOOD])[:-5].encode(), "not JSON"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_hand_picked_unusable_file_is_skipped_whole(tmp_path: Path, name: str) -> None:
    raw, needle = BAD_FILES[name]
    (tmp_path / name).write_bytes(raw)
    report = read_snippets(tmp_path)
    assert report.files_seen == 1 and report.files_used == 0 and report.patches == []
    (warning,) = report.warnings
    assert warning.startswith(f"{tmp_path / name}: skipped: ")
    assert needle in warning


def test_a_deep_line_in_jsonl_skips_only_that_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"[" * 100_000 + b"\r\n" + json.dumps(GOOD).encode() + b"\r\n")
    report = read_snippet_file(path)
    warnings = report.warnings
    assert [p.target for p in report.patches] == ["portfolio.leverage"]
    assert warnings == [f"{path}: line 1: skipped: not usable JSON: " + warnings[0].split(": ")[-1]]


def test_bom_and_crlf_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    other = {**GOOD, "target": "macro.regime_weight", "value": 0.3}
    other.pop("new_value")
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(other).encode() + b"\r\n")
    report = read_snippets(tmp_path)
    assert report.warnings == []
    assert {p.target for p in report.patches} == {"portfolio.leverage", "macro.regime_weight"}


@pytest.mark.parametrize(
    "name", ["-rf.json", "a b\tc.jsonl", "..json", "snippet\nnewline.json", "é" * 120 + ".json"]
)
def test_odd_file_names_are_read_and_named_in_warnings(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text('{"target": "portfolio.leverage"}')
    report = read_snippets(tmp_path)
    (warning,) = report.warnings
    label = "line 1" if name.endswith(".jsonl") else "entry 0"
    assert warning.startswith(f"{tmp_path / name}: {label}: skipped: needs 'target'")


def _snippets(root: Path, **files: bytes) -> Path:
    directory = root / "reports" / "learning_snippets"
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        (directory / name.replace("_dot_", ".")).write_bytes(raw)
    return directory


@pytest.mark.slow
def test_learn_and_promote_cli_on_bad_snippets(
    project_root: Path, outside_root: OutsideWatch
) -> None:
    auto_dir = project_root / "config" / "auto"
    _snippets(
        project_root,
        deep_dot_json=b"[" * 100_000,
        tags_dot_jsonl=json.dumps({**GOOD, "tags": {"experimental": True}}).encode() + b"\n",
        good_dot_json=json.dumps(
            {**GOOD, "target": "strategy.trigger_delay", "new_value": 9.0}
        ).encode(),
    )
    learned = run_cli(project_root, "learn")
    assert learned.code == 0, learned.err
    assert "deep.json: skipped: not usable JSON" in learned.out
    assert "tags.jsonl: line 1: skipped: meta.tags must be" in learned.out
    assert "wrote strategy.trigger_delay = 9.0" in learned.out
    assert '"strategy.trigger_delay" = 9.0' in (auto_dir / "learning.override.toml").read_text()
    before = sorted(p.name for p in auto_dir.iterdir())

    missing = run_cli(project_root, "learn", "--in-dir", str(project_root / "nope"))
    missing.assert_clean_failure(2, "--in-dir", "no such directory")
    nul = run_cli(project_root, "learn", "--in-dir", "a\x01b")
    nul.assert_clean_failure(2, "no such directory")
    assert sorted(p.name for p in auto_dir.iterdir()) == before

    deep = project_root / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    run_cli(project_root, "promote", "--input", str(deep)).assert_clean_failure(
        2, "deep.json: cannot read patches: not usable JSON"
    )
    run_cli(project_root, "promote", "--input", "../outside/x").assert_clean_failure(
        2, "cannot read patches"
    )
    run_cli(project_root, "promote", "--input", str(project_root)).assert_clean_failure(
        2, "Is a directory"
    )
    assert not (project_root / "reports" / "live_promotion").exists()
