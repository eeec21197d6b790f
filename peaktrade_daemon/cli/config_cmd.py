"""``config show [--provenance] [--env MODE]`` and ``config check`` (§2.5, §3.4)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from peaktrade_daemon.cli.context import config_file, settings_from_args
from peaktrade_daemon.config.loader import load_config
from peaktrade_daemon.config.provenance import last_live_changes, render_config
from peaktrade_daemon.errors import EXIT_FAILED, EXIT_OK, PeakTradeError
from peaktrade_daemon.promotion.policy_file import load_policy
from peaktrade_daemon.scheduling.jobs import load_jobs
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.trading_config import check_trading_config, load_trading_config


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``config show`` and ``config check``."""
    config = subparsers.add_parser(
        "config",
        help="show or check the effective configuration",
        description="Show the effective trading configuration or check every config file.",
    )
    actions = config.add_subparsers(title="actions", metavar="ACTION", required=True)

    show = actions.add_parser(
        "show",
        parents=[common],
        help="print the effective config (base + offline + live overrides as the mode allows)",
        description=(
            "Print every effective key as `key = value`. Offline learning overrides apply only "
            "in backtest/drill, live overrides only in live-like modes."
        ),
    )
    show.add_argument(
        "--provenance",
        action="store_true",
        help="annotate each key with where its value came from (base, offline file, live proposal)",
    )
    show.add_argument(
        "--env",
        metavar="MODE",
        help="preview as if environment.mode were MODE (e.g. live, backtest)",
    )
    show.set_defaults(handler=show_config)

    check = actions.add_parser(
        "check",
        parents=[common],
        help="validate daemon.toml, config.toml, jobs.toml, promotion.toml and the override "
        "files; exit 1 on any problem",
        description=(
            "Validate every file a start or a SIGHUP reload reads, the way the daemon reads it, "
            "and list each problem; exit 1 on any. Run it before `systemctl reload`."
        ),
    )
    check.set_defaults(handler=check_config)


def show_config(args: argparse.Namespace) -> int:
    """Print the effective config, optionally with provenance."""
    settings = settings_from_args(args)
    effective = load_trading_config(
        config_file(settings),
        root=settings.root,
        auto_overrides_path=settings.path(settings.paths.live_overrides_file),
        offline_dir=settings.path(settings.paths.offline_overrides_dir),
        mode=args.env,
    )
    changes = last_live_changes(settings.path(settings.paths.audit_log)) if args.provenance else {}
    for line in render_config(effective, with_provenance=args.provenance, live_changes=changes):
        print(line)
    for warning in effective.warnings:
        print(f"# warning: {warning}")
    return EXIT_OK


def _check(label: str, action: Callable[[], list[str]], problems: list[str]) -> None:
    try:
        found = action()
    except PeakTradeError as exc:
        found = [str(exc)]
    problems.extend(found)
    print(f"{'ok ' if not found else 'BAD'}  {label}")
    for problem in found:
        print(f"     {problem}")


def check_config(args: argparse.Namespace) -> int:
    """Validate every configuration file and report each problem; exit 1 if any."""
    problems: list[str] = []
    holder: dict[str, DaemonSettings] = {}

    def daemon_settings() -> list[str]:
        holder["settings"] = settings_from_args(args)
        return []

    _check("daemon settings (config/daemon.toml + environment)", daemon_settings, problems)
    settings = holder.get("settings")
    if settings is None:  # without settings we cannot even find the other files
        print(f"{len(problems)} problem(s) found")
        return EXIT_FAILED
    base_file = config_file(settings)

    def trading_config() -> list[str]:
        check_trading_config(load_config(base_file), base_file)
        return []

    _check(f"trading config ({base_file})", trading_config, problems)

    def overrides(mode: str) -> Callable[[], list[str]]:
        def run() -> list[str]:
            effective = load_trading_config(
                base_file,
                root=settings.root,
                auto_overrides_path=settings.path(settings.paths.live_overrides_file),
                offline_dir=settings.path(settings.paths.offline_overrides_dir),
                mode=mode,
            )
            return [str(w) for w in effective.warnings]

        return run

    jobs_file = settings.path(settings.paths.jobs_file)
    _check(f"scheduled jobs ({jobs_file})", lambda: (load_jobs(jobs_file), [])[1], problems)
    policy_file = settings.path(settings.paths.promotion_policy_file)
    _check(f"promotion policy ({policy_file})", lambda: (load_policy(policy_file), [])[1], problems)
    if not any(p.startswith(str(base_file)) for p in problems):
        _check("live overrides (as in mode live)", overrides("live"), problems)
        _check("offline learning overrides (as in mode backtest)", overrides("backtest"), problems)
    print(f"{len(problems)} problem(s) found" if problems else "all configuration files are valid")
    return EXIT_FAILED if problems else EXIT_OK
