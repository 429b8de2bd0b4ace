"""SQLite upserts: the store's tables go to the driver as plain SQL and tuples; a table whose column types
convert values, or rows without every column, go through SQLAlchemy; both insert, then update, alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, create_engine, select

from consentaudit.store.bulk import _sqlite_upsert, upsert
from consentaudit.store.tables import CACHE, FINDING, IMAGE


def test_the_hot_tables_take_the_plain_path() -> None:
    for table, keys in ((IMAGE, ("scan_id", "path")), (CACHE, ("dataset", "path")), (FINDING, ("scan_id", "path"))):
        plain = _sqlite_upsert(table, keys)
        assert plain is not None and plain[1] == tuple(c.name for c in table.columns)


@pytest.mark.parametrize("dated", [False, True])
def test_insert_then_update_through_either_path(dated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = MetaData()
    extra: list[Any] = [Column("at", DateTime)] if dated else [Column("note", Text)]
    table = Table("t", meta, Column("k", Integer, primary_key=True), Column("v", Text), *extra)
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    plain_sql: list[str] = []
    last = "at" if dated else "note"
    value = datetime(2026, 12, 1, 12, 0) if dated else "n"
    with engine.begin() as conn:
        real = conn.exec_driver_sql
        monkeypatch.setattr(conn, "exec_driver_sql", lambda sql, rows: plain_sql.append(sql) or real(sql, rows))
        upsert(conn, table, [{"k": 1, "v": "a", last: value}, {"k": 2, "v": "b", last: None}], ("k",))
        upsert(conn, table, [{"k": 2, "v": "B", last: value}, {"k": 3, "v": "c", last: None}], ("k",))
        upsert(conn, table, [{"k": 3, "v": "C"}], ("k",))  # a row without every column: through SQLAlchemy
        rows = conn.execute(select(table).order_by(table.c.k)).all()
    assert [tuple(r) for r in rows] == [(1, "a", value), (2, "B", value), (3, "C", None)]
    assert len(plain_sql) == (0 if dated else 2)  # a DateTime column is converted by SQLAlchemy: never plain
