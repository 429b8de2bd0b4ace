"""ScanStore: scans, their images, findings and the fingerprint cache."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, delete, event, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, select

from consentaudit.codec import report_from_dict, scanned_from_dict, scanned_to_dict
from consentaudit.errors import StoreError
from consentaudit.models import Report, ScannedImage
from consentaudit.store.tables import STORE_SCHEMA_VERSION, CacheRow, ImageRow, MetaRow, ScanRow


def default_url(workdir: Path) -> str:
    folder = workdir / ".consentaudit"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'scans.db'}"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class ScanStore:
    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url)
            if url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            SQLModel.metadata.create_all(self.engine)
            with Session(self.engine) as s:
                meta = s.get(MetaRow, "schema_version")
                if meta is None:
                    s.add(MetaRow(key="schema_version", value=str(STORE_SCHEMA_VERSION)))
                    s.commit()
                elif int(meta.value) > STORE_SCHEMA_VERSION:
                    raise StoreError(f"store {url} was written by a newer consentaudit (schema {meta.value})")
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open store {url}: {exc}") from exc

    # scans -------------------------------------------------------------------------------------------
    def begin_scan(self, dataset: str, run_key: str, started_at: str) -> tuple[int, set[str]]:
        """Resume the unfinished scan of the same command, or start a new one. Returns (id, paths done)."""
        with Session(self.engine) as s:
            row = s.exec(
                select(ScanRow).where(ScanRow.run_key == run_key, ScanRow.status == "running")
                .order_by(col(ScanRow.id).desc())
            ).first()
            if row is None:
                row = ScanRow(dataset=dataset, run_key=run_key, started_at=started_at)
                s.add(row)
                s.commit()
                s.refresh(row)
                assert row.id is not None
                return row.id, set()
            assert row.id is not None
            done = set(s.exec(select(ImageRow.path).where(ImageRow.scan_id == row.id)).all())
            return row.id, done

    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
        if not rows:
            return
        dialect = self.engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert_fn = sqlite_insert if dialect == "sqlite" else pg_insert
            stmt = insert_fn(table)
            update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
            conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), rows)
        else:  # portable fallback
            for row in rows:
                conn.execute(delete(table).where(*(table.c[k] == row[k] for k in keys)))
                conn.execute(table.insert(), row)

    def add_images(self, scan_id: int, dataset: str, images: Sequence[ScannedImage], algorithm: str,
                   cache: bool = True) -> None:
        """Store one batch of scanned images (and refresh their cache rows) in one transaction."""
        rows = []
        cache_rows = []
        for img in images:
            data = _dumps(scanned_to_dict(img))
            rows.append({"scan_id": scan_id, "path": img.path, "sha256": img.digest,
                         "phash": img.fingerprint.phash if img.fingerprint else None, "verdict": None,
                         "data_json": data})
            if cache and img.mtime_ns:
                cache_rows.append({"dataset": dataset, "path": img.path, "size": img.size,
                                   "mtime_ns": img.mtime_ns, "algorithm": algorithm, "data_json": data})
        with self.engine.begin() as conn:
            self._upsert(conn, ImageRow.__table__, rows, ("scan_id", "path"))  # type: ignore[attr-defined]
            self._upsert(conn, CacheRow.__table__, cache_rows, ("dataset", "path"))  # type: ignore[attr-defined]

    def add_cached(self, scan_id: int, rows: Sequence[tuple[str, str | None, str | None, str]]) -> None:
        """Store unchanged images straight from their cached JSON: (path, sha256, phash, data_json)."""
        payload = [{"scan_id": scan_id, "path": p, "sha256": sha, "phash": ph, "verdict": None, "data_json": d}
                   for p, sha, ph, d in rows]
        with self.engine.begin() as conn:
            self._upsert(conn, ImageRow.__table__, payload, ("scan_id", "path"))  # type: ignore[attr-defined]

    def scan_images(self, scan_id: int) -> list[ScannedImage]:
        t = ImageRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.data_json).where(t.c.scan_id == scan_id).order_by(t.c.path)).all()
        return [scanned_from_dict(json.loads(r[0])) for r in rows]

    def finish_scan(self, scan_id: int, report: Report, report_dict: dict[str, Any]) -> None:
        verdicts = {f.path: f.verdict.value for f in report.findings}
        with Session(self.engine) as s:
            row = s.get(ScanRow, scan_id)
            if row is None:
                raise StoreError(f"scan {scan_id} vanished from the store")
            row.status = "complete"
            row.finished_at = report.header.finished_at
            row.images = report.summary.images
            row.failing = report.summary.failing
            row.report_json = _dumps(report_dict)
            s.add(row)
            s.commit()
        t = ImageRow.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.scan_id == scan_id, t.c.path == bindparam("p"))
                         .values(verdict=bindparam("v")), [{"p": p, "v": v} for p, v in verdicts.items()])

    def list_scans(self) -> list[ScanRow]:
        with Session(self.engine) as s:
            return list(s.exec(select(ScanRow).order_by(col(ScanRow.id))).all())

    def load_report(self, scan_id: int) -> Report:
        with Session(self.engine) as s:
            row = s.get(ScanRow, scan_id)
        if row is None:
            raise StoreError(f"no scan with id {scan_id}")
        if row.report_json is None:
            raise StoreError(f"scan {scan_id} did not finish; run the same scan command again to resume it")
        return report_from_dict(json.loads(row.report_json))

    # fingerprint cache -------------------------------------------------------------------------------
    def cached(self, dataset: str, algorithm: str) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, data_json) of cached fingerprints made by the same algorithm."""
        t = CacheRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.path, t.c.size, t.c.mtime_ns, t.c.data_json)
                                .where(t.c.dataset == dataset, t.c.algorithm == algorithm)).all()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def forget(self, dataset: str, paths: Iterable[str]) -> None:
        with Session(self.engine) as s:
            s.exec(delete(CacheRow).where(col(CacheRow.dataset) == dataset, col(CacheRow.path).in_(list(paths))))
            s.commit()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
