"""The patch inbox: patches ``peaktrade-daemon learn`` published from another process reach the
daemon's promotion worker.

``learn`` runs as its own process and cannot publish on the daemon's bus; it writes the
published set to ``reports/learning/published_patches.json`` (atomically). This component
watches that file (a ``stat`` every ``promotion.inbox_poll_s``) and, when its content changed,
publishes :class:`~peaktrade_daemon.learning.models.PatchesPublished` on the bus, where the
worker is subscribed, exactly as an in-process learning cycle would.

Nothing lost, nothing twice: the SHA-256 of the last set the worker *processed* is kept in
``state/published_patches.seen`` (written when the worker acknowledges the batch, not when it
is queued), so a set published while the daemon was down, or queued but not yet processed when
it stopped, is promoted at the next start, and a set already promoted is not promoted again.
Entries are read one by one: a bad entry (a value out of range, say) is skipped with a warning
alert naming it, and the rest of the set goes on. A file that does not parse at all is alerted
once (per content) and skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

import aiofiles
import aiofiles.os

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import DataError
from peaktrade_daemon.events import Event
from peaktrade_daemon.learning.models import PatchesPublished, read_published
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.atomic import atomic_write_text
from peaktrade_daemon.storage.untrusted import read_untrusted

logger = logging.getLogger(__name__)

SEEN_FILE = "published_patches.seen"


#: The published set read in aiofiles' thread pool (§11), bounded as any untrusted file.
_read_untrusted = aiofiles.os.wrap(read_untrusted)


class PatchInbox:
    """Daemon component turning new ``published_patches.json`` contents into bus events."""

    name = "patch-inbox"

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        clock: Clock,
        alerts: AlertEmitter,
        publish: Callable[[Event], object],
    ) -> None:
        self._clock = clock
        self._alerts = alerts
        self._publish = publish
        self._configure(settings)
        self._stat: tuple[int, int] | None = None

    def _configure(self, settings: DaemonSettings) -> None:
        self.path = PromotionWorkspace.from_settings(settings).published_file
        self.seen_file = settings.path(settings.paths.state_dir) / SEEN_FILE
        self.poll_s = settings.promotion.inbox_poll_s

    async def start(self) -> None:
        """Nothing to acquire; the first check happens in ``run``."""

    async def run(self) -> None:
        """Check now, then every ``inbox_poll_s``."""
        while True:
            await self.check()
            await self._clock.sleep(self.poll_s)

    async def check(self) -> int:
        """Publish the file's patches if its content is new; returns how many were published."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return 0
        key = (stat.st_mtime_ns, stat.st_size)
        if key == self._stat:
            return 0
        try:
            data, seen = await self._read()
        except DataError as exc:  # a planted pipe, a sparse 64 GiB file: named, never read
            self._stat = key  # warned once per version of the file
            await self._warn(f"published patches refused; skipped: {exc}")
            return 0
        self._stat = key
        digest = hashlib.sha256(data).hexdigest()
        if digest == seen:
            return 0
        try:
            patches, problems = read_published(data)
        except ValueError as exc:
            await self._warn(f"published patches unreadable; skipped: {exc}")
            await self.mark_seen(digest)
            return 0
        if problems:
            await self._warn(
                f"published patches: {len(problems)} entry(ies) skipped: {'; '.join(problems)}"
            )
        if not patches:
            await self.mark_seen(digest)
            return 0

        async def processed() -> None:
            await self.mark_seen(digest)

        self._publish(PatchesPublished(patches=patches, source=str(self.path), done=processed))
        logger.info("inbox: %d published patch(es) handed to promotion", len(patches))
        return len(patches)

    async def _warn(self, message: str) -> None:
        await self._alerts.emit(AlertLevel.WARNING, "promotion", message, {"file": str(self.path)})

    async def mark_seen(self, digest: str) -> None:
        """Record ``digest`` as processed (the worker calls this through the event's ``done``)."""
        await asyncio.to_thread(atomic_write_text, self.seen_file, digest + "\n")

    async def _read(self) -> tuple[bytes, str | None]:
        """The published set's bytes and the last processed digest (aiofiles: plain reads off
        the event loop, §11)."""
        data = await _read_untrusted(self.path)
        try:
            async with aiofiles.open(self.seen_file, encoding="utf-8") as handle:
                seen: str | None = (await handle.read()).strip()
        except (OSError, UnicodeDecodeError):  # missing or damaged: judge the content again
            seen = None
        return data, seen

    async def reload(self, settings: DaemonSettings) -> None:
        """Follow moved paths and a new poll interval."""
        self._configure(settings)
        self._stat = None

    async def drain(self) -> None:
        """A check is short; nothing to wait for."""

    async def stop(self) -> None:
        """Nothing to release."""
