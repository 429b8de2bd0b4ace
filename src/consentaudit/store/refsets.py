"""Named reference sets kept in the store (`consentaudit reference ...`), and the reader of their entries'
keypoints during a scan."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from consentaudit.errors import StoreError
from consentaudit.models import ReferenceEntry, ReferenceInfo
from consentaudit.store.db import ScanStore
from consentaudit.store.tables import RefEntryRow, RefSetRow

REFSET: Table = RefSetRow.__table__  # type: ignore[attr-defined]
REFENTRY: Table = RefEntryRow.__table__  # type: ignore[attr-defined]


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
        with self.engine.begin() as conn:
            exists = conn.execute(select(REFSET.c.name).where(REFSET.c.name == info.name)).first()
            if exists and not replace_existing:
                raise StoreError(f"reference set {info.name!r} exists (remove it first, or use --force)")
            conn.execute(delete(REFENTRY).where(REFENTRY.c.set_name == info.name))
            conn.execute(delete(REFSET).where(REFSET.c.name == info.name))
            unique = {e.ref_id: e for e in entries}
            conn.execute(
                insert(REFSET).values(
                    name=info.name,
                    description=info.description,
                    license=info.license,
                    source=source,
                    created_at=created_at,
                    entries=len(unique),
                )
            )
            rows = [
                {
                    "set_name": info.name,
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
                for e in unique.values()
            ]
            for i in range(0, len(rows), 5000):
                conn.execute(insert(REFENTRY), rows[i : i + 5000])

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
            entries = [
                ReferenceEntry(
                    name,
                    r["ref_id"],
                    r["sha256"],
                    r["phash"],
                    r["dhash"],
                    r["url"],
                    r["phash256"],
                    r["detail"],
                    _views(r["views"]),
                    r.get("keypoints"),
                )
                for r in rows
            ]
        info = ReferenceInfo(name, f"store:{name}", len(entries), head.description, head.license)
        return info, entries

    def remove(self, name: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(REFSET.c.name).where(REFSET.c.name == name)).first() is None:
                raise StoreError(f"no reference set named {name!r} in {self.store.describe()}")
            conn.execute(delete(REFENTRY).where(REFENTRY.c.set_name == name))
            conn.execute(delete(REFSET).where(REFSET.c.name == name))


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
