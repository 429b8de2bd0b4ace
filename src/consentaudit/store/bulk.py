"""Bulk upserts, the store's hot write path.

SQLite: one executemany of INSERT ... ON CONFLICT DO UPDATE, handed to the driver as SQL text and tuples
when every row has every column and no column's type converts values (integers and text, bound as they
are): SQLAlchemy's per-row parameter processing was about a third of the time of storing a scanned image.
PostgreSQL: COPY into a temporary table, then one INSERT ... SELECT ... ORDER BY key ON CONFLICT DO UPDATE --
COPY is several times faster than executemany, and the ordered insert takes row locks in key order, so
concurrent writers never wait on each other in a cycle. Rows of one batch are de-duplicated by key (last
wins), as PostgreSQL refuses to update one row twice in a statement. A transaction the server rolls back
(deadlock, serialization failure) is retried."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, delete
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

T = TypeVar("T")
RETRIES = 8


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    if not rows:
        return
    unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
    unique.sort(key=lambda r: tuple(r[k] for k in keys))
    dialect = conn.dialect.name
    if dialect == "postgresql":
        _copy_upsert(conn, table, unique, keys)
    elif dialect == "sqlite":
        plain = _sqlite_upsert(table, tuple(keys))
        if plain is not None and all(r.keys() == plain[2] for r in unique):
            sql, cols, _ = plain
            conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in unique])
            return
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # each dialect's module only where used

        stmt = sqlite_insert(table)
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), unique)
    else:  # portable fallback
        for row in unique:
            conn.execute(delete(table).where(*(table.c[k] == row[k] for k in keys)))
            conn.execute(table.insert(), row)


Plain = tuple[str, tuple[str, ...], frozenset[str]]
_PLAIN: dict[tuple[Table, tuple[str, ...]], Plain | None] = {}


def _sqlite_upsert(table: Table, keys: tuple[str, ...]) -> Plain | None:
    """(INSERT ... VALUES (?, ...) ON CONFLICT (keys) DO UPDATE SET every other column, the columns in that
    order, the same as a set) for `table`; None when a column's type converts values before binding."""
    if (table, keys) not in _PLAIN:
        from sqlalchemy.dialects import sqlite  # each dialect's module only where used

        dialect = sqlite.dialect()
        cols = [c.name for c in table.columns]
        plain = None
        if all(c.type.dialect_impl(dialect).bind_processor(dialect) is None for c in table.columns):
            names = ", ".join(f'"{c}"' for c in cols)
            updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in keys)
            conflict = ", ".join(f'"{k}"' for k in keys)
            marks = ", ".join("?" for _ in cols)
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}) '
            sql += f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            plain = (sql, tuple(cols), frozenset(cols))
        _PLAIN[(table, keys)] = plain
    return _PLAIN[(table, keys)]


def _copy_upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    raw: Any = conn.connection.driver_connection
    if raw is None or not hasattr(raw.cursor(), "copy"):  # not psycopg 3: a plain upsert
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table)
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), rows)
        return
    cols = [c.name for c in table.columns]
    names = ", ".join(f'"{c}"' for c in cols)
    key_names = ", ".join(f'"{k}"' for k in keys)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in cols if c not in keys)
    tmp = f"bulk_{table.name}"
    with raw.cursor() as cur:
        # once per connection; rows leave it in the same statement that moves them (DELETE ... RETURNING)
        cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{tmp}" (LIKE "{table.name}" INCLUDING DEFAULTS)')
        with cur.copy(f'COPY "{tmp}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row.get(c) for c in cols])
        cur.execute(
            f'WITH moved AS (DELETE FROM "{tmp}" RETURNING {names}) '
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM moved ORDER BY {key_names} '
            f"ON CONFLICT ({key_names}) DO UPDATE SET {updates}"
        )


def in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in one transaction; retried when the server rolls it back (SQLSTATE class 40)."""
    for attempt in range(RETRIES):
        try:
            with engine.begin() as conn:
                return work(conn)
        except OperationalError as exc:
            if not str(getattr(exc.orig, "sqlstate", "") or "").startswith("40") or attempt == RETRIES - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (2**attempt))
    raise AssertionError("unreachable")
