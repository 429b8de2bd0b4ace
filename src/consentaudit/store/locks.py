"""One writer per scan: a process that starts the same scan (same run key) as another waits for it, then
finds its work done. PostgreSQL: a session advisory lock on the run key. SQLite: an exclusive lock on one
byte of `<database>.lock` (the byte's offset derived from the run key), so one lock file serves every scan."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine


def _key(run_key: str) -> int:
    """A signed 64-bit lock key from the run key."""
    return int.from_bytes(hashlib.sha256(run_key.encode()).digest()[:8], "big", signed=True)


@contextmanager
def scan_lock(engine: Engine, run_key: str) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _key(run_key)})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(run_key)})
                conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    offset = _key(run_key) % (1 << 30)
    fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
        yield
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
        os.close(fd)


SCHEMA_KEY = "consentaudit:schema"


def schema_lock(engine: Engine) -> AbstractContextManager[None]:
    """Held while tables are created or migrated: processes opening a new store at once do it one by one."""
    return scan_lock(engine, SCHEMA_KEY)
