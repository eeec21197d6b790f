"""Reading snippets in every accepted shape, with per-entry warnings and ordering rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

from peaktrade_daemon.learning.emitter import emit_snippet, snippet_bytes
from peaktrade_daemon.learning.models import ConfigPatch, PatchStatus
from peaktrade_daemon.learning.snippets import read_snippet_file, read_snippets


def _write(path: Path, content: str, mtime: int) -> None:
    path.write_text(content)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


def test_every_shape_is_read_and_the_newest_patch_per_target_wins(tmp_path: Path) -> None:
    full = ConfigPatch(
        id="full-1",
        target="macro.regime_weight",
        old_value=0.25,
        new_value=0.3,
        status="APPLIED_OFFLINE",
    )
    _write(
        tmp_path / "a_object.json",
        json.dumps({"patches": [{"target": "portfolio.leverage", "value": 1.5}]}),
        100,
    )
    _write(
        tmp_path / "b_single.json",
        json.dumps({"target": "strategy.trigger_delay", "new_value": 8.0}),
        200,
    )
    _write(
        tmp_path / "c_array.json",
        json.dumps([full.to_dict(), {"target": "portfolio.leverage", "value": 1.75}]),
        300,
    )
    _write(
        tmp_path / "d_lines.jsonl",
        '{"target": "macro.regime_weight", "value": 0.35, "confidence": 0.9, '
        '"is_live_ready": true}\n\n'
        "not json\n"
        '{"target": "", "value": 1}\n'
        '{"target": "risk.stop_loss", "value": 0.01, "tags": ["experimental"]}\n',
        400,
    )
    _write(tmp_path / "ignored.txt", "{}", 500)
    report = read_snippets(tmp_path)
    assert report.files_seen == 4 and report.files_used == 4
    assert report.entries_parsed == 6
    by_target = {p.target: p for p in report.patches}
    assert by_target["portfolio.leverage"].new_value == 1.75  # c (mtime 300) beats a (100)
    assert by_target["macro.regime_weight"].new_value == 0.35  # d beats the full patch in c
    assert by_target["macro.regime_weight"].confidence_score == 0.9
    assert by_target["macro.regime_weight"].is_live_ready
    assert by_target["risk.stop_loss"].tags == ("experimental",)
    assert len(report.warnings) == 2
    assert all("d_lines.jsonl" in w for w in report.warnings)
    assert any("line 3" in w for w in report.warnings) and any(
        "line 4" in w for w in report.warnings
    )


def test_order_is_mtime_then_name_and_max_files_keeps_the_newest(tmp_path: Path) -> None:
    _write(tmp_path / "b.json", json.dumps({"target": "a.b", "value": 2}), 100)
    _write(tmp_path / "a.json", json.dumps({"target": "a.b", "value": 1}), 100)
    _write(tmp_path / "c.json", json.dumps({"target": "a.b", "value": 3}), 50)
    assert read_snippets(tmp_path).patches[0].new_value == 2  # same mtime: name order, b last
    limited = read_snippets(tmp_path, max_files=1)
    assert limited.files_seen == 1 and limited.patches[0].new_value == 2


def test_a_broken_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    _write(tmp_path / "bad.json", "{not json", 100)
    _write(tmp_path / "bad2.json", json.dumps({"patches": "nope"}), 100)
    _write(tmp_path / "good.json", json.dumps({"target": "a.b", "value": 1}), 200)
    report = read_snippets(tmp_path)
    assert [p.target for p in report.patches] == ["a.b"]
    assert report.files_used == 1 and len(report.warnings) == 2


def test_missing_directory_is_empty(tmp_path: Path) -> None:
    assert read_snippets(tmp_path / "nope").patches == []


def test_emitter_is_deterministic_atomic_and_readable(tmp_path: Path) -> None:
    patches = [
        ConfigPatch(
            id="x",
            target="portfolio.leverage",
            old_value=1.0,
            new_value=1.5,
            status=PatchStatus.APPLIED_OFFLINE,
        ),
        ConfigPatch(
            id="y",
            target="macro.regime_weight",
            old_value=None,
            new_value=0.3,
            meta={"z": 1, "a": 2},
        ),
    ]
    path = emit_snippet(tmp_path, "run-1", patches)
    assert path.read_bytes() == snippet_bytes(patches) == snippet_bytes(list(patches))
    assert list(tmp_path.iterdir()) == [path]  # no temp file left
    text = path.read_text()
    assert text.index('"a"') < text.index('"z"')  # sorted keys
    report = read_snippet_file(path)
    assert report.patches == patches and report.warnings == [] and report.refused == []
