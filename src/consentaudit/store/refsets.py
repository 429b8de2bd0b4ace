"""Named reference sets kept in the store (`consentaudit reference ...`), and the reader of their entries'
keypoints during a scan."""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import create_engine, delete, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from consentaudit.codec import checked_hex, checked_views
from consentaudit.errors import StoreError
from consentaudit.matching.reference_table import ReferenceTable, table_of
from consentaudit.models import ReferenceEntry, ReferenceInfo
from consentaudit.store.db import ScanStore, damaged_row
from consentaudit.store.tables import REFCOLS, REFENTRY, REFSET

COLUMNS_FORMAT = "reference-columns-npz-v1"


def _row(name: str, e: ReferenceEntry) -> dict[str, Any]:
    return {
        "set_name": name,
        "ref_id": e.ref_id,
        "sha256": e.sha256,
        "phash": e.phash,
        "dhash": e.dhash,
        "url": e.url,
        "phash256": e.phash256,
        "detail": e.detail,
        "views": json.dumps([list(v) for v in e.views]) if e.views else None,
        "keypoints": e.keypoints,
    }


def _views(text: str | None) -> tuple[tuple[str, str, str], ...]:
    return tuple((str(a), str(b), str(c)) for a, b, c in json.loads(text)) if text else ()


class ReferenceSets:
    """Named reference sets kept in the store (`consentaudit reference ...`)."""

    def __init__(self, store: ScanStore) -> None:
        self.store = store
        self.engine = store.engine

    def save(
        self,
        info: ReferenceInfo,
        entries: Sequence[ReferenceEntry],
        source: str,
        created_at: str,
        replace_existing: bool = False,
    ) -> None:
        """Store a set: a row per entry (one per ref_id, the last of duplicates) and the same entries as
        columns, which is what a scan reads."""
        table = table_of(entries).renamed(info.name).by_ref_id()
        table.entries_digest()  # kept with the columns
        with self.engine.begin() as conn:
            exists = conn.execute(select(REFSET.c.name).where(REFSET.c.name == info.name)).first()
            if exists and not replace_existing:
                raise StoreError(f"reference set {info.name!r} exists (remove it first, or use --force)")
            self._delete(conn, info.name)
            conn.execute(
                insert(REFSET).values(
                    name=info.name,
                    description=info.description,
                    license=info.license,
                    source=source,
                    created_at=created_at,
                    entries=len(table),
                )
            )
            for start in range(0, len(table), 5000):
                rows = [_row(info.name, table[i]) for i in range(start, min(start + 5000, len(table)))]
                conn.execute(insert(REFENTRY), rows)
            conn.execute(insert(REFCOLS).values(set_name=info.name, format=COLUMNS_FORMAT, data=table.to_bytes()))

    @staticmethod
    def _delete(conn: Connection, name: str) -> None:
        conn.execute(delete(REFCOLS).where(REFCOLS.c.set_name == name))
        conn.execute(delete(REFENTRY).where(REFENTRY.c.set_name == name))
        conn.execute(delete(REFSET).where(REFSET.c.name == name))

    def load_table(self, name: str) -> tuple[ReferenceInfo, ReferenceTable]:
        """A stored set's entries as columns (keypoints left in the store: `StoredKeypoints`), read in one
        piece; a set stored before the columns existed is read row by row once and given them."""
        with self.engine.connect() as conn:
            head = conn.execute(select(REFSET).where(REFSET.c.name == name)).first()
            if head is None:
                raise StoreError(
                    f"no reference set named {name!r} in {self.store.describe()} (see `consentaudit reference list`)"
                )
            packed = conn.execute(select(REFCOLS.c.format, REFCOLS.c.data).where(REFCOLS.c.set_name == name)).first()
        table = None
        if packed is not None and packed.format == COLUMNS_FORMAT:
            # damaged (the .npz's CRCs fail) or unreadable: rebuilt below from the entry rows
            with contextlib.suppress(ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile):
                table = ReferenceTable.from_bytes(bytes(packed.data))
        if table is None:
            _, entries = self.load(name, keypoints=False)
            table = table_of(entries).by_ref_id()
            table.entries_digest()
            with contextlib.suppress(SQLAlchemyError), self.engine.begin() as conn:
                conn.execute(delete(REFCOLS).where(REFCOLS.c.set_name == name))
                conn.execute(insert(REFCOLS).values(set_name=name, format=COLUMNS_FORMAT, data=table.to_bytes()))
        return ReferenceInfo(name, f"store:{name}", len(table), head.description, head.license), table

    def exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(REFSET.c.name).where(REFSET.c.name == name)).first() is not None

    def names(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(REFSET).order_by(REFSET.c.name))]

    def load(self, name: str, keypoints: bool = True) -> tuple[ReferenceInfo, list[ReferenceEntry]]:
        """A stored set and its entries; with `keypoints=False` the entries leave their keypoints in the store
        (`StoredKeypoints` reads one when the matcher needs it): 4.6 KB an entry that a scan rarely reads."""
        with self.engine.connect() as conn:
            head = conn.execute(select(REFSET).where(REFSET.c.name == name)).first()
            if head is None:
                raise StoreError(
                    f"no reference set named {name!r} in {self.store.describe()} (see `consentaudit reference list`)"
                )
            columns = [c for c in REFENTRY.c if keypoints or c.name != "keypoints"]
            rows = conn.execute(
                select(*columns).where(REFENTRY.c.set_name == name).order_by(REFENTRY.c.ref_id)
            ).mappings()
            entries = [self._entry(name, r) for r in rows]
        info = ReferenceInfo(name, f"store:{name}", len(entries), head.description, head.license)
        return info, entries

    def _entry(self, name: str, r: Any) -> ReferenceEntry:
        """One stored entry; a row that is not what consentaudit writes (a damaged store) is a StoreError."""
        try:
            for code in ("sha256", "phash", "dhash", "phash256"):
                checked_hex(code, r[code])
            views = _views(r["views"])
            checked_views(views)
            return ReferenceEntry(
                name,
                r["ref_id"],
                r["sha256"],
                r["phash"],
                r["dhash"],
                r["url"],
                r["phash256"],
                r["detail"],
                views,
                r.get("keypoints"),
            )
        except (ValueError, TypeError) as exc:
            raise damaged_row(self.store.describe(), f"entry {r['ref_id']!r} of reference set {name!r}", exc) from None

    def remove(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(REFSET.c.name).where(REFSET.c.name == name)).first() is None:
                raise StoreError(f"no reference set named {name!r} in {self.store.describe()}")
            self._delete(conn, name)


class StoredKeypoints:
    """The keypoints of entries of the stored sets `names`, read from the store one entry at a time when the
    matcher asks for them (ReferenceIndex's `keypoints_of`). Picklable: each worker opens its own engine."""

    def __init__(self, url: str, names: Iterable[str]) -> None:
        self.url, self.names = url, frozenset(names)
        self._engine: Engine | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "names": self.names}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.url, self.names, self._engine = state["url"], state["names"], None

    def __call__(self, entry: ReferenceEntry) -> str | None:
        if entry.set_name not in self.names:
            return None
        if self._engine is None:
            self._engine = create_engine(self.url)
        with self._engine.connect() as conn:
            value = conn.execute(
                select(REFENTRY.c.keypoints).where(
                    REFENTRY.c.set_name == entry.set_name, REFENTRY.c.ref_id == entry.ref_id
                )
            ).scalar()
        return value if isinstance(value, str) else None
