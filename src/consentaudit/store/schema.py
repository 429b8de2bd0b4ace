"""Opening a store: the engine for its URL (SQLite or PostgreSQL), the tables, and the schema version with
its migrations, applied in place and in order (2 -> 3 -> ... -> 7)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from consentaudit.errors import StoreError
from consentaudit.store.tables import META, METADATA, STORE_SCHEMA_VERSION, WIDENED


def open_engine(url: str) -> Engine:
    """An engine for `url`, with the store's settings: SQLite in WAL mode with a long busy timeout (several
    processes may write one file), and errors of the database itself reported as StoreError."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 120})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url)
            if engine.dialect.name == "postgresql":
                event.listen(engine, "connect", _postgres_session)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"cannot open store {_safe(url)}: {exc}") from None
    event.listen(engine, "handle_error", _operational_error)
    return engine


def ensure_schema(engine: Engine, url: str) -> None:
    """Create missing tables and migrate an older store to STORE_SCHEMA_VERSION."""
    try:
        METADATA.create_all(engine)
        with engine.begin() as conn:
            value = conn.execute(select(META.c.value).where(META.c.key == "schema_version")).scalar()
            if value is None:
                conn.execute(insert(META).values(key="schema_version", value=str(STORE_SCHEMA_VERSION)))
                return
            if not str(value).isdigit():
                raise StoreError(f"store {_safe(url)} is damaged (schema_version {str(value)[:40]!r}): {DAMAGED_HINT}")
            version = int(value)
            if version > STORE_SCHEMA_VERSION or version < 2:
                raise StoreError(
                    f"store {_safe(url)} has schema {version}, this consentaudit reads 2 to {STORE_SCHEMA_VERSION}: "
                    "use another --db (or a matching consentaudit)"
                )
            for step in range(version, STORE_SCHEMA_VERSION):
                MIGRATIONS[step](conn)
            if version != STORE_SCHEMA_VERSION:
                conn.execute(update(META).where(META.c.key == "schema_version").values(value=str(STORE_SCHEMA_VERSION)))
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open store {_safe(url)}: {exc}") from exc
    except UnicodeDecodeError as exc:  # the schema's own text damaged: sqlite3 fails to decode it on connect
        raise StoreError(f"store {_safe(url)} is damaged (its schema is not text: {exc}): {DAMAGED_HINT}") from None


def _to_3(conn: Connection) -> None:  # reference entries gained `detail` and `views`
    for column, kind in (("detail", "INTEGER"), ("views", "VARCHAR")):
        conn.exec_driver_sql(f"ALTER TABLE reference_entry ADD COLUMN {column} {kind}")


def _to_4(conn: Connection) -> None:  # ... and `keypoints`
    conn.exec_driver_sql("ALTER TABLE reference_entry ADD COLUMN keypoints VARCHAR")


def _to_5(conn: Connection) -> None:
    """`scan_file` (created by create_all); 64-bit sizes, mtimes and counts. SQLite's INTEGER is already 64
    bits; PostgreSQL's columns are widened."""
    if conn.dialect.name == "postgresql":
        for table, columns in WIDENED.items():
            for column in columns:
                conn.execute(text(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE BIGINT'))


def _to_6(conn: Connection) -> None:  # images and cached fingerprints gained `phash_upright`
    for table in ("image", "fingerprint_cache"):
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN phash_upright VARCHAR")


def _to_7(conn: Connection) -> None:  # images and cached fingerprints gained `sidecars` (read beside the image)
    for table in ("image", "fingerprint_cache"):
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN sidecars VARCHAR")


MIGRATIONS = {2: _to_3, 3: _to_4, 4: _to_5, 5: _to_6, 6: _to_7}


def _safe(url: str) -> str:
    """The URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, creds = head.partition("://")
    return f"{scheme}://{creds.split(':', 1)[0]}@{tail}"


def _operational_error(context: Any) -> None:
    """The database cannot do what was asked (disk full, read-only, locked, gone) or its file is damaged: a
    StoreError naming the store, not an internal error. A transaction rolled back by the server (deadlock,
    serialization failure: SQLSTATE class 40) passes through, so the writer can retry it; programming errors
    pass through too."""
    original = context.original_exception
    url = context.engine.url.render_as_string(hide_password=True) if context.engine is not None else "store"
    if damaged(original):
        raise StoreError(f"store {url} is damaged ({original}): {DAMAGED_HINT}") from None
    if not isinstance(context.sqlalchemy_exception, OperationalError):
        return
    if str(getattr(original, "sqlstate", "") or "").startswith("40"):
        return
    raise StoreError(f"store {url}: {original}") from None


DAMAGED_HINT = (
    "restore it from a backup or scan with another --db (SQLite: `sqlite3 FILE 'PRAGMA integrity_check'` "
    "says what is damaged, `.recover` saves what it can)"
)


def damaged(exc: BaseException) -> bool:
    """Whether a database error says its file or pages are damaged: SQLite's SQLITE_CORRUPT (a malformed
    page or schema) and SQLITE_NOTADB, PostgreSQL's data_corrupted and index_corrupted (SQLSTATE XX001/2)."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    return (
        name.startswith("SQLITE_CORRUPT")
        or name == "SQLITE_NOTADB"
        or getattr(exc, "sqlstate", None)
        in (
            "XX001",
            "XX002",
        )
    )


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    """Commits do not wait for the WAL flush: a crash can lose the last fraction of a second of a scan's
    writes (never corrupt them), which the resume redoes -- the trade SQLite's synchronous=NORMAL makes."""
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit TO off")
    dbapi_conn.commit()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=120000")
    cur.close()
