"""The state database: one SQLAlchemy 2 async engine (SQLite via aiosqlite by default).

Every table is declared on :class:`Base` in the ``storage`` module of the concept it belongs to
(``storage/runs.py``, ``storage/alert_store.py`` ...); :func:`open_database` imports them all,
creates or migrates the schema, and returns a :class:`Database` the composition root hands to
components.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base of every table in the state database."""


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
    """The engine plus a session factory; ``session()`` is a transaction scope."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success and rolled back on error."""
        async with self._sessions() as session, session.begin():
            yield session

    async def create_schema(self) -> None:
        """Create every table declared on :class:`Base` that does not exist yet."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def close(self) -> None:
        """Dispose of the engine's connections."""
        await self.engine.dispose()


async def open_database(url: str) -> Database:
    """Open the state database at ``url`` and make sure its schema is current."""
    database = Database(create_engine_for(url))
    await database.create_schema()
    return database
