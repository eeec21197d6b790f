"""The state database: one SQLAlchemy 2 async engine (SQLite via aiosqlite by default).

Every table is a SQLAlchemy Core :class:`~sqlalchemy.Table` on :data:`metadata`, declared in the
``storage`` module of the concept it belongs to (``storage/runs.py``, ``storage/alert_store.py``
...); :func:`open_database` creates or migrates the schema and returns a :class:`Database` the
composition root hands to components. Core rather than ORM on purpose: the stores read and write
plain rows with a statement each, so mapped classes, their instrumented attributes and a
session's unit of work and identity map would only cost memory and CPU on every cycle.

Schema evolution: ``create_all`` creates tables that do not exist yet (a new install, or a table a
new module declares). Changes to *existing* tables (a new column, an index, a data fix) are
:class:`Migration` steps in :data:`MIGRATIONS`, applied in version order, each in its own
transaction together with the bump of the ``schema_version`` row. A brand-new database already has
the current shape from ``create_all``, so it is stamped with the latest version without running the
steps. A database stamped with a version this code does not know (written by a newer release) is
refused with a :class:`~peaktrade_daemon.errors.StateError` rather than used half-understood.

Retention: :func:`prune_oldest` deletes the oldest rows beyond a per-table limit (settings
``[state.retention]``), in one statement, so history stays bounded on a long-running desk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    delete,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from peaktrade_daemon.errors import ConfigError, StateError
from peaktrade_daemon.storage.atomic import sidecar_lock

logger = logging.getLogger(__name__)

_SCHEMA_LOCK_TIMEOUT_S = 60.0


#: Every table of the state database (each declared in the storage module of its concept).
metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back timezone-aware.

    SQLite has no time zone type; storing every value normalised to UTC keeps ``<`` comparisons
    and ``ORDER BY`` correct, and refusing naive input keeps local times from sneaking in.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given for a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SCHEMA_VERSION_TABLE = "schema_version"

# Kept outside `metadata` on purpose: create_all must not create it, so its absence tells a
# brand-new database from an existing one.
_version_table = Table(
    SCHEMA_VERSION_TABLE,
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One ordered schema change; ``apply`` runs on a sync connection inside a transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _baseline(_conn: Connection) -> None:
    """Version 1 is the schema as ``create_all`` builds it from the declared tables."""


#: Every schema change, in order. Append; never edit or reorder a released step.
MIGRATIONS: tuple[Migration, ...] = (Migration(1, "baseline: tables as declared", _baseline),)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets CLI readers (history, alerts) read while the daemon writes; busy_timeout makes a
    # briefly locked database wait instead of failing; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine_for(url: str) -> AsyncEngine:
    """An async engine for ``url``; SQLite files get their directory created and sane pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """The engine; ``transaction()`` is a transaction scope."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed on success and rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    async def create_schema(self, migrations: Sequence[Migration] = MIGRATIONS) -> int:
        """Create missing tables and apply pending migrations; returns the schema version.

        For a SQLite file this runs under the file's sidecar lock: create_all checks for a table
        and then creates it, so two processes opening a new database at once (the daemon and a
        CLI command, or two CLI commands) would otherwise both try to create it.
        """
        database = self.engine.url.database
        if self.engine.url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
            return await self._migrate(migrations)
        guard = sidecar_lock(database, timeout_s=_SCHEMA_LOCK_TIMEOUT_S)
        await asyncio.to_thread(guard.__enter__)
        try:
            return await self._migrate(migrations)
        finally:
            await asyncio.to_thread(guard.__exit__, None, None, None)

    async def _migrate(self, migrations: Sequence[Migration]) -> int:
        async with self.engine.begin() as conn:
            return await conn.run_sync(_migrate, tuple(migrations))

    async def schema_version(self) -> int | None:
        """The stamped schema version, or None for a database never opened by the daemon."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_read_version)

    async def close(self) -> None:
        """Dispose of the engine's connections."""
        await self.engine.dispose()


def _read_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(SCHEMA_VERSION_TABLE):
        return None
    return conn.execute(select(_version_table.c.version).where(_version_table.c.id == 1)).scalar()


def _stamp(conn: Connection, migration: Migration) -> None:
    values = {
        "version": migration.version,
        "description": migration.description,
        "applied_at": datetime.now(UTC),
    }
    updated = conn.execute(
        _version_table.update().where(_version_table.c.id == 1).values(**values)
    ).rowcount
    if not updated:
        conn.execute(_version_table.insert().values(id=1, **values))


def _migrate(conn: Connection, migrations: tuple[Migration, ...]) -> int:
    ordered = sorted(migrations, key=lambda m: m.version)
    versions = [m.version for m in ordered]
    if len(set(versions)) != len(versions):
        raise StateError(f"duplicate schema migration versions: {versions}")
    latest = ordered[-1] if ordered else None
    current = _read_version(conn)
    _version_table.create(conn, checkfirst=True)
    metadata.create_all(conn)
    if latest is None:
        return current or 0
    if current is None:
        _stamp(conn, latest)
        logger.info("new state database stamped at schema version %d", latest.version)
        return latest.version
    if current > latest.version:
        raise StateError(
            f"state database schema version {current} is newer than this release knows "
            f"({latest.version}); upgrade peaktrade-daemon or point state.database_url elsewhere"
        )
    for migration in ordered:
        if migration.version > current:
            # One transaction for the whole run (the caller's): a failing step leaves the
            # database exactly as it was, stamped with the old version.
            migration.apply(conn)
            _stamp(conn, migration)
            logger.info(
                "state database migrated to version %d: %s",
                migration.version,
                migration.description,
            )
    return max(current, latest.version)


async def prune_oldest(
    conn: AsyncConnection,
    table: Table,
    *,
    keep: int,
    order_by: Column[Any],
    where: ColumnElement[bool] | None = None,
) -> int:
    """Delete the oldest rows of ``table`` (by ``order_by``) beyond the newest ``keep``.

    ``where`` restricts both what counts and what may be deleted (for example only delivered
    outbox rows). Returns the number of rows deleted.
    """
    if keep < 0:
        raise ValueError("keep must be >= 0")
    newest = select(order_by)
    if where is not None:
        newest = newest.where(where)
    newest = newest.order_by(order_by.desc()).offset(keep).limit(1)
    cutoff = (await conn.execute(newest)).scalar()
    if cutoff is None:
        return 0
    stmt = delete(table).where(order_by <= cutoff)
    if where is not None:
        stmt = stmt.where(where)
    result = await conn.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


async def open_database(url: str, *, migrations: Sequence[Migration] = MIGRATIONS) -> Database:
    """Open the state database at ``url`` and make sure its schema is current.

    A URL SQLAlchemy cannot use is a ConfigError naming ``state.database_url``; a database that
    cannot be opened or migrated is a StateError naming it (never a bare driver traceback).
    """
    try:
        engine = create_engine_for(url)
    except (ArgumentError, InvalidRequestError, ImportError, ValueError) as exc:
        raise ConfigError(
            f"unusable state database URL {_shown_url(url)}: {exc}", key="state.database_url"
        ) from exc
    except OSError as exc:
        raise StateError(f"state database {_shown_url(url)}: {exc}") from exc
    database = Database(engine)
    try:
        await database.create_schema(migrations)
    except (DBAPIError, OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        await database.close()
        raise StateError(f"state database {_shown_url(url)} cannot be opened: {exc}") from exc
    except BaseException:
        await database.close()
        raise
    return database


#: A private SQLite database in memory (one connection, gone when closed): what a reading
#: command works on when the state database does not exist yet.
MEMORY_DATABASE = "sqlite+aiosqlite:///:memory:"


def database_missing(url: str) -> bool:
    """True when ``url`` names a SQLite file that does not exist yet (reading commands and
    one-shot alerts must not create it)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists()


@asynccontextmanager
async def opened_database(url: str) -> AsyncIterator[Database]:
    """:func:`open_database` for the length of a ``with`` block (one-shot commands): closed on
    the way out, also when the block raises."""
    database = await open_database(url)
    try:
        yield database
    finally:
        await database.close()
