"""What every subcommand needs from the global options: the root, settings, config paths."""

from __future__ import annotations

import argparse
from pathlib import Path

from peaktrade_daemon.settings import DaemonSettings, load_settings


def settings_from_args(args: argparse.Namespace) -> DaemonSettings:
    """Load settings for ``--root`` with the CLI overrides the global flags carry."""
    overrides: dict[str, dict[str, object]] = {}
    poll = getattr(args, "poll_interval", None)
    if poll is not None:
        overrides.setdefault("daemon", {})["poll_interval_s"] = poll
    workflow_type = getattr(args, "workflow_type", None)
    if workflow_type is not None:
        overrides.setdefault("daemon", {})["workflow_type"] = workflow_type
    alert_log = getattr(args, "alert_log", None)
    if alert_log is not None:
        overrides.setdefault("paths", {})["alert_log"] = alert_log
    if getattr(args, "config", None):
        overrides.setdefault("paths", {})["config_file"] = Path(args.config).resolve()
    return load_settings(args.root, cli_overrides=overrides)


def config_file(settings: DaemonSettings) -> Path:
    """The trading config file the settings point at."""
    return settings.path(settings.paths.config_file)
