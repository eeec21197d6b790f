"""The audit index's insert skips seqs already indexed on both databases the daemon supports;
the PostgreSQL form is built only when that dialect asks (its module is imported there)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from peaktrade_daemon.storage.promotion_store import _insert_new


@pytest.mark.parametrize(("name", "dialect"), [("sqlite", sqlite), ("postgresql", postgresql)])
def test_the_audit_index_insert_skips_indexed_seqs(name: str, dialect: object) -> None:
    statement = _insert_new(name)
    sql = str(statement.compile(dialect=dialect.dialect()))  # type: ignore[attr-defined]
    assert sql.startswith("INSERT INTO promotion_audit_index")
    assert sql.endswith("ON CONFLICT (seq) DO NOTHING")
