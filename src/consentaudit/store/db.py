"""ScanStore: scans, their images, findings and data files, and the fingerprint cache. Rows are read and
written in batches so that memory follows the batch size, not the dataset; writes go through bulk.py
(COPY on PostgreSQL) in transactions that are retried when the server rolls them back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.engine import Connection, Engine, Row

from consentaudit.codec import (
    checked_hex,
    finding_from_dict,
    finding_to_dict,
    header_from_dict,
    scanned_from_dict,
    scanned_to_dict,
    summary_from_dict,
)
from consentaudit.errors import StoreError
from consentaudit.models import CacheState, DataFileDigest, Finding, LightRow, Report, ScannedImage
from consentaudit.store.bulk import in_transaction, upsert
from consentaudit.store.location import StoreLocation
from consentaudit.store.locks import scan_lock, schema_lock
from consentaudit.store.schema import DAMAGED_HINT, ensure_schema, open_engine
from consentaudit.store.tables import CACHE, FINDING, IMAGE, SCAN
from consentaudit.store.tables import SCAN_FILE as FILE

BATCH = 1000
T = TypeVar("T")


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decoded(store: str, what: str, text: str | None, decode: Callable[[Any], T]) -> T:
    """A JSON column read back into a value. A row that is not what this consentaudit writes (a damaged
    file whose pages still read, another program's write) is a StoreError naming the store and the row, not
    an internal error."""
    try:
        if text is None:
            raise ValueError("no data")
        return decode(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise damaged_row(store, what, exc) from None


def damaged_row(store: str, what: str, exc: Exception) -> StoreError:
    return StoreError(
        f"store {store}: the stored {what} is damaged or not one consentaudit wrote "
        f"({type(exc).__name__}: {str(exc)[:200]}): {DAMAGED_HINT}"
    )


class StoredFindings:
    """The findings of a stored scan, read in path order batch by batch (a Collection without a list)."""

    def __init__(self, store: ScanStore, scan_id: int, count: int) -> None:
        self._store, self._scan_id, self._count = store, scan_id, count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Finding]:
        return self._store.iter_findings(self._scan_id)

    def __contains__(self, item: object) -> bool:
        return any(f == item for f in self)


class ScanStore:
    """Scans, their images and findings, the fingerprint cache and reference sets, in SQLite or PostgreSQL."""

    def __init__(self, location: StoreLocation | str) -> None:
        self.location = location if isinstance(location, StoreLocation) else StoreLocation(location, "given")
        self.url = self.location.url
        self.engine: Engine = open_engine(self.url)
        with schema_lock(self.engine):
            ensure_schema(self.engine, self.url)

    def describe(self) -> str:
        """The store and how it was chosen, for messages."""
        return self.location.describe()

    def scan_lock(self, run_key: str) -> AbstractContextManager[None]:
        """Held for a whole scan: the same scan started twice waits for the first (one writer per scan)."""
        return scan_lock(self.engine, run_key)

    # scans -------------------------------------------------------------------------------------------
    def begin_scan(self, dataset: str, run_key: str, started_at: str) -> tuple[int, set[str]]:
        """Resume the unfinished scan of the same command, or start a new one. Returns (id, paths done)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(SCAN.c.id)
                .where(SCAN.c.run_key == run_key, SCAN.c.status == "running")
                .order_by(SCAN.c.id.desc())
            ).first()
            if row is None:
                new_id = conn.execute(
                    insert(SCAN).values(
                        dataset=dataset, run_key=run_key, status="running", started_at=started_at, images=0, failing=0
                    )
                ).inserted_primary_key
                assert new_id is not None
                return int(new_id[0]), set()
            done = {r[0] for r in conn.execute(select(IMAGE.c.path).where(IMAGE.c.scan_id == row[0]))}
            return int(row[0]), done

    def last_complete(self, run_key: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(SCAN.c.id)
                .where(SCAN.c.run_key == run_key, SCAN.c.status == "complete")
                .order_by(SCAN.c.id.desc())
            ).first()
        return int(row[0]) if row else None

    def image_states(self, scan_id: int) -> dict[str, CacheState]:
        """path -> (size, mtime_ns, sidecars) of a scan's images, as `Item.cache_state` gives them."""
        with self.engine.connect() as conn:
            return {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute(
                    select(IMAGE.c.path, IMAGE.c.size, IMAGE.c.mtime_ns, IMAGE.c.sidecars).where(
                        IMAGE.c.scan_id == scan_id
                    )
                )
            }

    def add_images(
        self,
        scan_id: int,
        dataset: str,
        images: Sequence[ScannedImage],
        algorithm: str,
        cache: bool = True,
        findings: Sequence[Finding] = (),
    ) -> None:
        """Store scanned images, refresh their cache rows and store their findings, in one transaction."""
        finding_rows = [self._finding_row(scan_id, f) for f in findings]
        rows = []
        cache_rows = []
        for img in images:
            common = self._image_common(img)
            rows.append({"scan_id": scan_id, **common})
            if cache and img.mtime_ns:
                cache_rows.append({"dataset": dataset, "algorithm": algorithm, **common})

        def write(conn: Connection) -> None:
            upsert(conn, IMAGE, rows, ("scan_id", "path"))
            upsert(conn, CACHE, cache_rows, ("dataset", "path"))
            upsert(conn, FINDING, finding_rows, ("scan_id", "path"))

        in_transaction(self.engine, write)

    @staticmethod
    def _image_common(img: ScannedImage) -> dict[str, Any]:
        fp = img.fingerprint
        return {
            "path": img.path,
            "size": img.size,
            "mtime_ns": img.mtime_ns,
            "sha256": img.digest,
            "phash": fp.phash if fp else None,
            "phash_mirror": fp.phash_mirror if fp else None,
            "phash_upright": fp.phash_upright if fp else None,
            "data_json": dumps(scanned_to_dict(img)),
            "sidecars": img.sidecars,
        }

    def copy_cached(self, scan_id: int, dataset: str, algorithm: str, paths: Sequence[str]) -> None:
        """Add unchanged images to a scan straight from the cache, inside the database."""
        cols = ("path", "size", "mtime_ns", "sha256", "phash", "phash_mirror", "phash_upright", "data_json", "sidecars")
        with self.engine.begin() as conn:
            for i in range(0, len(paths), 500):
                chunk = list(paths[i : i + 500])
                src = select(bindparam("sid", scan_id).label("scan_id"), *(CACHE.c[c] for c in cols)).where(
                    CACHE.c.dataset == dataset, CACHE.c.algorithm == algorithm, CACHE.c.path.in_(chunk)
                )
                conn.execute(insert(IMAGE).from_select(["scan_id", *cols], src))

    def cached_images(self, dataset: str, algorithm: str, paths: Sequence[str]) -> list[ScannedImage]:
        """The cached fingerprints (whole scanned images) of these paths, made by `algorithm`."""
        out: list[ScannedImage] = []
        with self.engine.connect() as conn:
            for i in range(0, len(paths), 500):
                rows = conn.execute(
                    select(CACHE.c.data_json).where(
                        CACHE.c.dataset == dataset,
                        CACHE.c.algorithm == algorithm,
                        CACHE.c.path.in_(list(paths[i : i + 500])),
                    )
                )
                out.extend(self._image(r[0], "cached fingerprint") for r in rows)
        return out

    def cache_images(self, dataset: str, images: Sequence[ScannedImage], algorithm: str) -> None:
        """Put fingerprints in the cache only (no scan): reference folders."""
        rows = [
            {"dataset": dataset, "algorithm": algorithm, **self._image_common(img)} for img in images if img.mtime_ns
        ]
        in_transaction(self.engine, lambda conn: upsert(conn, CACHE, rows, ("dataset", "path")))

    def cache_states(self, dataset: str, algorithm: str) -> dict[str, CacheState]:
        """path -> (size, mtime_ns, sidecars) of cached fingerprints made by the same algorithm: an entry is
        cached when its `cache_state` equals it."""
        with self.engine.connect() as conn:
            return {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute(
                    select(CACHE.c.path, CACHE.c.size, CACHE.c.mtime_ns, CACHE.c.sidecars).where(
                        CACHE.c.dataset == dataset, CACHE.c.algorithm == algorithm
                    )
                )
            }

    def light_rows(self, scan_id: int) -> list[LightRow]:
        """(path, sha256, phash, phash_mirror, phash_upright) of every image of a scan, in path order."""
        with self.engine.connect() as conn:
            rows = [
                (r[0], r[1], r[2], r[3], r[4])
                for r in conn.execute(
                    select(IMAGE.c.path, IMAGE.c.sha256, IMAGE.c.phash, IMAGE.c.phash_mirror, IMAGE.c.phash_upright)
                    .where(IMAGE.c.scan_id == scan_id)
                    .order_by(IMAGE.c.path)
                )
            ]
        for r in rows:  # the codes are parsed by the duplicate grouping: a damaged one stops here, named
            try:
                for name, value in zip(("sha256", "phash", "phash_mirror", "phash_upright"), r[1:], strict=True):
                    checked_hex(name, value)
            except ValueError as exc:
                raise damaged_row(self.describe(), f"image {r[0]!r}", exc) from None
        return rows

    def unjudged_images(self, scan_id: int) -> Iterator[ScannedImage]:
        """Images of a scan that have no finding yet, in path order, a batch at a time."""
        last = ""
        while True:
            j = IMAGE.outerjoin(FINDING, (FINDING.c.scan_id == IMAGE.c.scan_id) & (FINDING.c.path == IMAGE.c.path))
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(IMAGE.c.path, IMAGE.c.data_json)
                    .select_from(j)
                    .where(IMAGE.c.scan_id == scan_id, FINDING.c.path.is_(None), IMAGE.c.path > last)
                    .order_by(IMAGE.c.path)
                    .limit(BATCH)
                ).all()
            if not rows:
                return
            for r in rows:
                yield self._image(r[1], f"image {r[0]!r}")
            last = rows[-1][0]

    def prune(self, scan_id: int, paths: Sequence[str]) -> None:
        """Forget entries of a resumed scan whose files are gone from the dataset."""
        with self.engine.begin() as conn:
            for i in range(0, len(paths), 500):
                chunk = list(paths[i : i + 500])
                for table in (IMAGE, FINDING):
                    conn.execute(delete(table).where(table.c.scan_id == scan_id, table.c.path.in_(chunk)))

    def iter_images(self, scan_id: int) -> Iterator[ScannedImage]:
        yield from (self._image(d, f"image {p!r}") for p, d in self._pages(IMAGE, scan_id))

    def scan_images(self, scan_id: int) -> list[ScannedImage]:
        return list(self.iter_images(scan_id))

    def _image(self, text: str | None, what: str) -> ScannedImage:
        return decoded(self.describe(), what, text, scanned_from_dict)

    def _finding(self, text: str | None, path: str) -> Finding:
        return decoded(self.describe(), f"finding {path!r}", text, finding_from_dict)

    def _pages(self, table: Table, scan_id: int) -> Iterator[tuple[str, str]]:
        """(path, data_json) of a scan's rows in path order, a batch at a time."""
        last = ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(table.c.path, table.c.data_json)
                    .where(table.c.scan_id == scan_id, table.c.path > last)
                    .order_by(table.c.path)
                    .limit(BATCH)
                ).all()
            if not rows:
                return
            for r in rows:
                yield r[0], r[1]
            last = rows[-1][0]

    # findings ----------------------------------------------------------------------------------------
    @staticmethod
    def _finding_row(scan_id: int, f: Finding) -> dict[str, Any]:
        return {"scan_id": scan_id, "path": f.path, "verdict": f.verdict.value, "data_json": dumps(finding_to_dict(f))}

    def add_findings(self, scan_id: int, findings: Sequence[Finding]) -> None:
        rows = [self._finding_row(scan_id, f) for f in findings]
        in_transaction(self.engine, lambda conn: upsert(conn, FINDING, rows, ("scan_id", "path")))

    def get_findings(self, scan_id: int, paths: Sequence[str]) -> dict[str, Finding]:
        out: dict[str, Finding] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(paths), 500):
                rows = conn.execute(
                    select(FINDING.c.path, FINDING.c.data_json).where(
                        FINDING.c.scan_id == scan_id, FINDING.c.path.in_(list(paths[i : i + 500]))
                    )
                ).all()
                out.update((r[0], self._finding(r[1], r[0])) for r in rows)
        return out

    def iter_findings(self, scan_id: int) -> Iterator[Finding]:
        yield from (self._finding(d, p) for p, d in self._pages(FINDING, scan_id))

    def clone_scan(self, src: int, dst: int) -> None:
        """Copy the images, findings and data files of a complete scan into another (an unchanged re-scan)."""
        with self.engine.begin() as conn:
            for table in (IMAGE, FINDING, FILE):
                conn.execute(delete(table).where(table.c.scan_id == dst))
                cols = [c.name for c in table.columns if c.name != "scan_id"]
                src_rows = select(bindparam("dst", dst).label("scan_id"), *(table.c[c] for c in cols)).where(
                    table.c.scan_id == src
                )
                conn.execute(insert(table).from_select(["scan_id", *cols], src_rows))

    # data files (not audited, bound into the digest) -------------------------------------------------------

    def known_files(self, dataset: str) -> dict[str, tuple[int, int, str | None]]:
        """path -> (size, mtime_ns, sha256) of the data files the latest scan of `dataset` recorded."""
        with self.engine.connect() as conn:
            latest = conn.execute(
                select(FILE.c.scan_id)
                .join(SCAN, SCAN.c.id == FILE.c.scan_id)
                .where(SCAN.c.dataset == dataset)
                .order_by(FILE.c.scan_id.desc())
                .limit(1)
            ).scalar()
            if latest is None:
                return {}
            rows = conn.execute(
                select(FILE.c.path, FILE.c.size, FILE.c.mtime_ns, FILE.c.sha256).where(FILE.c.scan_id == latest)
            )
            return {r.path: (r.size, r.mtime_ns, r.sha256) for r in rows}

    def set_files(self, scan_id: int, rows: Sequence[tuple[str, int, int, str | None]]) -> None:
        """The scan's data files as (path, size, mtime_ns, sha256)."""
        with self.engine.begin() as conn:
            conn.execute(delete(FILE).where(FILE.c.scan_id == scan_id))
            for start in range(0, len(rows), BATCH):
                chunk = rows[start : start + BATCH]
                conn.execute(
                    insert(FILE),
                    [{"scan_id": scan_id, "path": p, "size": s, "mtime_ns": m, "sha256": h} for p, s, m, h in chunk],
                )

    def files(self, scan_id: int) -> list[DataFileDigest]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(FILE.c.path, FILE.c.sha256, FILE.c.size).where(FILE.c.scan_id == scan_id).order_by(FILE.c.path)
            )
            return [DataFileDigest(r.path, r.sha256, r.size) for r in rows]

    def file_states(self, scan_id: int) -> dict[str, tuple[int, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(FILE.c.path, FILE.c.size, FILE.c.mtime_ns).where(FILE.c.scan_id == scan_id))
            return {r.path: (r.size, r.mtime_ns) for r in rows}

    def finish_scan(
        self,
        scan_id: int,
        header: dict[str, Any],
        summary: dict[str, Any],
        duplicates: list[list[str]],
        finished_at: str,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                SCAN.update()
                .where(SCAN.c.id == scan_id)
                .values(
                    status="complete",
                    finished_at=finished_at,
                    images=summary["images"],
                    failing=summary["failing"],
                    header_json=dumps(header),
                    summary_json=dumps(summary),
                    duplicates_json=dumps(duplicates),
                )
            )

    def list_scans(self) -> list[Row[Any]]:
        """Every scan's row (columns as attributes: id, dataset, status, started_at, ...), oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(SCAN).order_by(SCAN.c.id)).all())

    def load_report(self, scan_id: int) -> Report:
        with self.engine.connect() as conn:
            row = conn.execute(select(SCAN).where(SCAN.c.id == scan_id)).first()
        if row is None:
            raise StoreError(f"no scan with id {scan_id} in {self.describe()}")
        if row.header_json is None or row.summary_json is None:
            raise StoreError(f"scan {scan_id} did not finish; run the same scan command again to resume it")
        name = self.describe()
        summary = decoded(name, f"summary of scan {scan_id}", row.summary_json, summary_from_dict)
        return Report(
            decoded(name, f"header of scan {scan_id}", row.header_json, header_from_dict),
            summary,
            StoredFindings(self, scan_id, summary.images),
            decoded(name, f"duplicate groups of scan {scan_id}", row.duplicates_json or "[]", _groups),
            files=tuple(self.files(scan_id)),
        )


def _groups(value: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(str(p) for p in g) for g in value)


__all__ = ["ScanStore", "StoredFindings"]
