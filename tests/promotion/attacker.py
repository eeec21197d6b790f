"""An attacker's and an operator's hands on a copied live root, for ``test_attacks.py``.

The threat model (SPEC §8.8): anything that can write ``reports/`` (the learning system drops
files there) or edit ``config/live_overrides/`` by hand. ``LiveRoot`` runs the real CLI as
subprocesses, reads what a trading system would be handed (the live loader), the alert log and
the audit trail, and does what such an attacker can: edit auto.toml, its backup, a proposal's
files, and rewrite the hash-chained trail (the chain is SHA-256 over each previous line, not a
signature: whoever can write the file can recompute it, head file included).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from peaktrade_daemon.audit_records import GENESIS, canonical_line, line_hash
from peaktrade_daemon.config.loader import PeakConfig, load_config_with_live_overrides
from peaktrade_daemon.promotion.proposals import META_FILE, PATCHES_FILE, seal_of
from tests.conftest import cli_command, subprocess_env
from tests.daemon_harness import set_toml

AUTO = Path("config/live_overrides/auto.toml")
AUDIT = Path("reports/promotion_audit/audit.jsonl")
PROPOSALS = Path("reports/live_promotion")
LEVERAGE = "portfolio.leverage"
DELAY = "strategy.trigger_delay"
WEIGHT = "macro.regime_weight"
EXPOSURE = "risk.max_exposure"
STOP_LOSS = "risk.stop_loss"


def patch(target: str, value: Any, *, confidence: float = 0.9, **extra: Any) -> dict[str, Any]:
    """A learned patch in the snippet short form, applied offline and live-ready."""
    return {
        "target": target,
        "value": value,
        "confidence": confidence,
        "is_live_ready": True,
        "status": "APPLIED_OFFLINE",
        **extra,
    }


#: Proposal "A": leverage and trigger_delay accepted, max_exposure rejected (no bounds).
PROPOSAL_A = (patch(LEVERAGE, 1.5), patch(EXPOSURE, 1.6), patch(DELAY, 6.0, confidence=0.85))
#: Proposal "B", unrelated to A's keys.
PROPOSAL_B = (patch(WEIGHT, 0.35),)


@dataclass(frozen=True, slots=True)
class Alert:
    """One line of logs/autonomous_alerts.log."""

    level: str
    source: str
    message: str
    context: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LiveRoot:
    """A copied project root in ``environment.mode = "live"``."""

    path: Path

    @classmethod
    def on(cls, root: Path) -> LiveRoot:
        """Switch the copied root to live mode (the live loader applies auto.toml)."""
        set_toml(root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
        return cls(root)

    # -- files ---------------------------------------------------------------------------------

    @property
    def auto(self) -> Path:
        """config/live_overrides/auto.toml."""
        return self.path / AUTO

    @property
    def backup(self) -> Path:
        """config/live_overrides/auto.toml.backup."""
        return self.path / (str(AUTO) + ".backup")

    @property
    def audit_file(self) -> Path:
        """reports/promotion_audit/audit.jsonl."""
        return self.path / AUDIT

    def auto_bytes(self) -> bytes:
        """auto.toml's bytes (b"" when missing)."""
        return self.auto.read_bytes() if self.auto.exists() else b""

    def live_table(self) -> dict[str, Any]:
        """auto.toml's ``[auto_applied]`` as parsed."""
        table: dict[str, Any] = (
            tomlkit.parse(self.auto.read_text()).unwrap().get("auto_applied", {})
        )
        return table

    def live(self) -> PeakConfig:
        """What the live loader hands the trading system in this root."""
        return load_config_with_live_overrides(
            self.path / "config" / "config.toml", auto_overrides_path=self.auto
        )

    def audit(self) -> list[dict[str, Any]]:
        """The audit trail's records."""
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text().splitlines() if line]

    def alerts(self) -> list[Alert]:
        """Every alert in the alert log."""
        log = self.path / "logs" / "autonomous_alerts.log"
        if not log.exists():
            return []
        found = []
        for line in log.read_text().splitlines():
            _, level, source, message, context = line.split("\t")
            found.append(Alert(level, source, message, json.loads(context)))
        return found

    def last_critical(self) -> Alert:
        """The latest critical alert (AssertionError when there is none)."""
        critical = [a for a in self.alerts() if a.level == "critical"]
        assert critical, "no critical alert"
        return critical[-1]

    def policy(self, old: str, new: str) -> None:
        """Edit config/promotion.toml (``old`` must occur once)."""
        set_toml(self.path / "config" / "promotion.toml", old, new)

    # -- commands ------------------------------------------------------------------------------

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI on this root, as an operator runs it."""
        return subprocess.run(
            cli_command("--root", str(self.path), *args),
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=90,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        """:meth:`run`, which must exit 0 (and must not print a traceback)."""
        done = self.run(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def refused(self, *args: str) -> subprocess.CompletedProcess[str]:
        """:meth:`run`, which must be refused (exit 3) without a traceback."""
        done = self.run(*args)
        assert done.returncode == 3, (args, done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def promote(self, patches: Sequence[Mapping[str, Any]], *flags: str) -> str:
        """``promote --input`` a patch set; returns the id of the proposal it wrote."""
        before = set(self.proposal_ids())
        source = self.path / f"input-{len(before)}.json"
        source.write_text(json.dumps({"patches": list(patches)}))
        self.ok("promote", "--input", str(source), *flags)
        [made] = set(self.proposal_ids()) - before
        return made

    def promote_refused(
        self, patches: Sequence[Mapping[str, Any]]
    ) -> subprocess.CompletedProcess[str]:
        """``promote --input`` a patch set, which must fail (exit 1 or 3) without a traceback
        and without writing a proposal."""
        before = set(self.proposal_ids())
        source = self.path / f"input-refused-{len(before)}.json"
        source.write_text(json.dumps({"patches": list(patches)}))
        done = self.run("promote", "--input", str(source))
        assert done.returncode in (1, 3), (done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert set(self.proposal_ids()) == before
        return done

    def proposal_ids(self) -> list[str]:
        """Every proposal directory's name, oldest first."""
        directory = self.path / PROPOSALS
        return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []

    def approve(self, proposal_id: str, by: str = "alice") -> subprocess.CompletedProcess[str]:
        """``proposals approve ID --by NAME`` (exit code not checked)."""
        return self.run("proposals", "approve", proposal_id, "--by", by)

    # -- the attacker's hand -------------------------------------------------------------------

    def hand_edit(self, values: Mapping[str, Any], *, drop: Sequence[str] = ()) -> None:
        """Set (or with ``drop`` remove) keys of ``[auto_applied]`` as a text editor would
        (comments and the rest of the file kept)."""
        doc = tomlkit.parse(self.auto.read_text())
        table = doc["auto_applied"]
        for key, value in values.items():
            table[key] = value
        for key in drop:
            del table[key]
        self.auto.write_text(tomlkit.dumps(doc))

    def edit_governance(self, edit: Callable[[dict[str, Any]], None]) -> None:
        """Edit auto.toml's ``[governance]`` bookkeeping by hand."""
        doc = tomlkit.parse(self.auto.read_text())
        plain = doc["governance"].unwrap()
        edit(plain)
        doc["governance"] = plain
        self.auto.write_text(tomlkit.dumps(doc))

    def forge_trail(self, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        """Rewrite the audit trail's records and re-chain them (the trail's anchor is in
        ``state/``, beyond this attacker's reach)."""
        records = edit(self.audit())
        previous, lines = GENESIS, []
        for seq, record in enumerate(records, start=1):
            line = canonical_line({**record, "seq": seq, "prev_sha256": previous})
            previous = line_hash(line)
            lines.append(line)
        self.audit_file.write_text("".join(f"{line}\n" for line in lines))

    def forge_proposal(
        self, source_id: str, new_id: str, edit: Callable[[dict[str, Any]], None]
    ) -> str:
        """Copy proposal ``source_id`` to ``new_id``, edit its candidates, and append verdict
        records carrying the forged content's seal (as ``promote`` would have)."""
        source, forged = self.path / PROPOSALS / source_id, self.path / PROPOSALS / new_id
        shutil.copytree(source, forged)
        content = json.loads((forged / PATCHES_FILE).read_text())
        content["proposal_id"] = new_id
        edit(content)
        (forged / PATCHES_FILE).write_text(json.dumps(content, indent=2))
        meta = json.loads((forged / META_FILE).read_text())
        (forged / META_FILE).write_text(json.dumps({**meta, "proposal_id": new_id}))
        seal = seal_of(content)

        def add_verdicts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            verdicts = [
                {**r, "proposal_id": new_id, "proposal_sha256": seal}
                for r in records
                if r.get("event") == "verdict" and r.get("proposal_id") == source_id
            ]
            return [*records, *verdicts]

        self.forge_trail(add_verdicts)
        return new_id
