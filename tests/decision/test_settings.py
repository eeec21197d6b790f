"""The [decision] section of daemon.toml: typed, validated, and what the engine decides with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peaktrade_daemon.decision import DEFAULT_CRITERIA, DecisionAction, DecisionEngine
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.settings import WORKFLOW_TYPES, DecisionTypeSettings, load_settings


def write_decision(root: Path, text: str) -> None:
    path = root / "config/daemon.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def test_shipped_daemon_toml_gives_the_default_bands(project_root: Path) -> None:
    settings = load_settings(project_root)
    for workflow_type in WORKFLOW_TYPES:
        assert settings.decision.for_type(workflow_type) == DecisionTypeSettings()
    engine = DecisionEngine(settings)
    for workflow_type in WORKFLOW_TYPES:
        assert engine.criteria_for(workflow_type) == DEFAULT_CRITERIA[workflow_type]


def test_configured_criteria_and_bands_replace_the_defaults(project_root: Path) -> None:
    write_decision(
        project_root,
        """
[decision.custom.nightly_export]
unconditional = true

[decision.custom.fx_watch]
execute_band = 0.75
alert_band = 0.5

[[decision.custom.fx_watch.criteria]]
name = "vol"
metric_name = "volatility"
comparison = "gte"
threshold = 0.08

[[decision.custom.fx_watch.criteria]]
name = "volume_ratio"
comparison = "gt"
threshold = 1.2
weight = 2

[[decision.custom.fx_watch.criteria]]
name = "open"
metric_name = "is_market_hours"
comparison = "eq"
threshold = 1
required = true
""",
    )
    text = (project_root / "config/daemon.toml").read_text(encoding="utf-8")
    text = text.replace(
        "[decision.risk_check]\nexecute_band = 0.6", "[decision.risk_check]\nexecute_band = 0.9"
    )
    (project_root / "config/daemon.toml").write_text(text, encoding="utf-8")

    engine = DecisionEngine(load_settings(project_root))
    fx = engine.criteria_for("fx_watch")
    assert [(c.name, c.metric_name, c.weight, c.required) for c in fx] == [
        ("vol", "volatility", 1.0, False),
        ("volume_ratio", "volume_ratio", 2.0, False),
        ("open", "is_market_hours", 1.0, True),
    ]
    metrics = {"volatility": 0.05, "volume_ratio": 1.3, "is_market_hours": 1.0}
    decision = engine.make_decision("fx_watch", metrics)
    assert (decision.action, decision.confidence) == (DecisionAction.EXECUTE, 0.75)
    export = engine.make_decision("nightly_export", {})
    assert (export.action, export.confidence) == (DecisionAction.EXECUTE, 1.0)
    # risk_check: 0.6 no longer reaches its raised execute band
    risk = engine.make_decision(
        "risk_check",
        {"current_drawdown": 0.1, "daily_pnl_pct": -5.0, "exposure": 1.0, "position_size_pct": 1.0},
    )
    assert (risk.action, risk.metadata["execute_band"]) == (DecisionAction.ALERT, 0.9)


def test_empty_criteria_list_means_no_criteria(project_root: Path) -> None:
    text = (project_root / "config/daemon.toml").read_text(encoding="utf-8")
    text = text.replace("[decision.market_scan]\n", "[decision.market_scan]\ncriteria = []\n")
    (project_root / "config/daemon.toml").write_text(text, encoding="utf-8")
    decision = DecisionEngine(load_settings(project_root)).make_decision("market_scan", {})
    assert (decision.action, decision.reasoning) == (DecisionAction.SKIP, "no criteria defined")


def test_environment_overrides_a_band(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEAKTRADE_DECISION__MARKET_SCAN__ALERT_BAND", "0.3")
    settings = load_settings(project_root)
    assert settings.decision.market_scan.alert_band == 0.3


@pytest.mark.parametrize(
    ("snippet", "key", "fragment"),
    [
        (
            "[decision.custom.x]\nalert_band = 0.7\nexecute_band = 0.6\n",
            "decision.custom.x",
            "alert_band 0.7 is above execute_band 0.6",
        ),
        ("[decision.custom.x]\nexecute_band = 1.5\n", "decision.custom.x.execute_band", "1"),
        (
            "[decision.custom.x]\nmax_unknown_weight_share = -0.1\n",
            "decision.custom.x.max_unknown_weight_share",
            "0",
        ),
        (
            '[decision.custom.x]\ncriteria = [{ name = "a", threshold = 1, comparison = "ge" }]\n',
            "decision.custom.x.criteria.0.comparison",
            "gt",
        ),
        (
            '[decision.custom.x]\ncriteria = [{ name = "a", threshold = nan }]\n',
            "decision.custom.x.criteria.0.threshold",
            "finite",
        ),
        (
            '[decision.custom.x]\ncriteria = [{ name = "a", threshold = true }]\n',
            "decision.custom.x.criteria.0.threshold",
            "not true/false",
        ),
        (
            '[decision.custom.x]\ncriteria = [{ name = "a", threshold = 1, weight = 0 }]\n',
            "decision.custom.x.criteria.0.weight",
            "greater than 0",
        ),
        (
            '[decision.custom.x]\ncriteria = [{ name = "a", threshold = 1 },'
            ' { name = "a", threshold = 2 }]\n',
            "decision.custom.x",
            "duplicate criterion names: a",
        ),
        (
            "[decision.custom.x]\nunconditional = true\n"
            'criteria = [{ name = "a", threshold = 1 }]\n',
            "decision.custom.x",
            "takes no criteria",
        ),
        ("[decision.custom.risk_check]\n", "decision.custom", "belong in [decision.<type>]"),
        ("[decision.risk_chek]\n", "decision.risk_chek", "Extra inputs"),
        ("[decision.custom.x]\nexecute_bnad = 0.5\n", "decision.custom.x.execute_bnad", "Extra"),
    ],
)
def test_invalid_decision_settings_name_the_key(
    project_root: Path, snippet: str, key: str, fragment: str
) -> None:
    write_decision(project_root, snippet)
    with pytest.raises(ConfigError, match=re.escape(fragment)) as info:
        load_settings(project_root)
    assert info.value.key == key
    assert info.value.file is not None and info.value.file.endswith("daemon.toml")
