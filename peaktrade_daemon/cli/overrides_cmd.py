"""``overrides diff``: base value vs live-override value for every key auto.toml changes (§2.5)."""

from __future__ import annotations

import argparse

from peaktrade_daemon.cli.context import config_file, settings_from_args
from peaktrade_daemon.config.loader import load_config, load_config_with_live_overrides
from peaktrade_daemon.config.overrides import is_live_like
from peaktrade_daemon.config.provenance import render_diff
from peaktrade_daemon.errors import EXIT_OK


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add the ``overrides`` command family."""
    overrides = subparsers.add_parser(
        "overrides",
        help="inspect the live overrides file (config/live_overrides/auto.toml)",
        description="Inspect, diff, roll back or clear the live overrides written by promotion.",
    )
    actions = overrides.add_subparsers(title="actions", metavar="ACTION", required=True)
    diff = actions.add_parser(
        "diff",
        parents=[common],
        help="base vs live-override value for every overridden key",
        description=(
            "Print `key: base -> override` for every key the live overrides change, whether or "
            "not the current environment applies them (it says which)."
        ),
    )
    diff.set_defaults(handler=diff_overrides)


def diff_overrides(args: argparse.Namespace) -> int:
    """Print base vs effective for every key auto.toml overrides."""
    settings = settings_from_args(args)
    base_file = config_file(settings)
    auto_file = settings.path(settings.paths.live_overrides_file)
    base = load_config(base_file)
    forced = load_config_with_live_overrides(
        base_file, auto_overrides_path=auto_file, force_apply_overrides=True
    )
    applies = is_live_like(base.to_dict())
    mode = base.get("environment.mode", "?")
    print(f"# {auto_file}")
    print(
        f"# environment.mode = {mode!r}: live overrides are "
        f"{'APPLIED' if applies else 'NOT applied (not live-like)'}"
    )
    rows = render_diff(base, forced)
    for row in rows:
        print(row)
    for warning in forced.warnings:
        print(f"# warning: {warning}")
    if not rows:
        print("# no overrides")
    return EXIT_OK
