"""``replay [--from DATE] [--to DATE] [--symbol S ...] [--policy FILE] [--mode MODE]
[--learner walk_forward|snippets DIR] [--poll-interval SECONDS] [--out DIR]`` (§10)."""

from __future__ import annotations

import argparse
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from peaktrade_daemon.cli.context import settings_from_args
from peaktrade_daemon.errors import EXIT_OK
from peaktrade_daemon.governance.policy import AutoApplyMode


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``replay``."""
    replay = subparsers.add_parser(
        "replay",
        parents=[common],
        help="run the whole autonomous loop over history, in data time, in a scratch root",
        description=(
            "Replay the daemon's own cycle, learning step and promotion (policy, evidence, "
            "rollback guard) over the bundled or configured history on a simulated clock. "
            "Nothing under config/ or state/ changes; the timeline, summary and chart go to "
            "reports/replay/<run_id>/ (or --out). The same inputs give the same timeline.jsonl "
            "and summary.json, byte for byte."
        ),
    )
    replay.add_argument(
        "--from", dest="replay_from", metavar="DATE", help="first data time (default: the data's)"
    )
    replay.add_argument(
        "--to", dest="replay_to", metavar="DATE", help="last data time (default: the data's)"
    )
    replay.add_argument(
        "--symbol",
        dest="replay_symbols",
        action="append",
        metavar="S",
        help="a symbol to replay (repeatable; default: the cycle's symbols)",
    )
    replay.add_argument("--policy", metavar="FILE", help="promotion policy (default: the root's)")
    replay.add_argument(
        "--mode",
        choices=[mode.value for mode in AutoApplyMode],
        help="promotion mode (default: the policy's; the policy's disabled always wins)",
    )
    replay.add_argument(
        "--learner",
        nargs="+",
        metavar="LEARNER",
        help="walk_forward (the default) or 'snippets DIR' (each patch learned at its "
        "generated_at)",
    )
    replay.add_argument(
        "--poll-interval",
        dest="replay_poll_interval",
        type=float,
        metavar="SECONDS",
        help="a cycle every SECONDS of data time (default: one per bar of the finest timeframe)",
    )
    replay.add_argument("--out", metavar="DIR", help="output directory (new or empty)")
    replay.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> Coroutine[Any, Any, int]:
    """Validate everything (nothing is written on bad input), then replay."""
    from peaktrade_daemon.replay.inputs import build_request

    request = build_request(
        settings_from_args(args),
        symbols=args.replay_symbols or (),
        start=args.replay_from,
        end=args.replay_to,
        policy=args.policy,
        mode=args.mode,
        learner=args.learner,
        poll_interval_s=args.replay_poll_interval,
        out=args.out,
        now=datetime.now(UTC),
    )
    for warning in request.warnings:
        print(f"warning: {warning}")
    return _replay(request)


async def _replay(request: Any) -> int:
    from peaktrade_daemon.replay.run import run_replay

    result = await run_replay(request)
    summary = result.summary
    counts = summary["counts"]
    print(
        f"replayed {', '.join(summary['symbols'])} {summary['range']['from']} .. "
        f"{summary['range']['to']}: {summary['cycles']} cycles, "
        f"{summary['learning']['steps']} learning steps, mode {summary['mode']}"
    )
    print(
        f"verdicts {counts['verdict']}, applies {counts['apply']}, reverts {counts['revert']}, "
        f"freezes {counts['freeze']}, alerts {counts['alert']}"
    )
    for name, book in summary["books"].items():
        sharpe = "n/a" if book["sharpe"] is None else f"{book['sharpe']:.2f}"
        print(
            f"book {name:<10} final equity {book['final_equity']:.2f} "
            f"max drawdown {book['max_drawdown']:.4f} sharpe {sharpe}"
        )
    print(f"wrote {result.out_dir}")
    return EXIT_OK
