"""ScanStore: scans, their images, findings and the fingerprint cache."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event
from sqlalchemy.engine import Engine
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

    def add_images(self, scan_id: int, dataset: str, images: Sequence[ScannedImage], algorithm: str) -> None:
        """Store one batch of scanned images and refresh their cache rows, in one transaction."""
        with Session(self.engine) as s:
            for img in images:
                data = _dumps(scanned_to_dict(img))
                s.merge(ImageRow(scan_id=scan_id, path=img.path, sha256=img.digest,
                                 phash=img.fingerprint.phash if img.fingerprint else None, data_json=data))
                s.merge(CacheRow(dataset=dataset, path=img.path, size=img.size, mtime_ns=img.mtime_ns,
                                 algorithm=algorithm, data_json=data))
            s.commit()

    def scan_images(self, scan_id: int) -> list[ScannedImage]:
        with Session(self.engine) as s:
            rows = s.exec(select(ImageRow.data_json).where(ImageRow.scan_id == scan_id)
                          .order_by(col(ImageRow.path))).all()
        return [scanned_from_dict(json.loads(r)) for r in rows]

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
            for img in s.exec(select(ImageRow).where(ImageRow.scan_id == scan_id)).all():
                img.verdict = verdicts.get(img.path)
                s.add(img)
            s.commit()

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
        with Session(self.engine) as s:
            rows = s.exec(select(CacheRow).where(CacheRow.dataset == dataset,
                                                 CacheRow.algorithm == algorithm)).all()
            return {r.path: (r.size, r.mtime_ns, r.data_json) for r in rows}

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
