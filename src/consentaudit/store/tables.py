"""The tables. Hashes are fixed-width lowercase hex text (SQLite has no unsigned 64-bit integer); sizes,
nanosecond mtimes and counts are 64-bit integers on every backend (PostgreSQL's INTEGER is 32-bit);
timestamps are ISO 8601 UTC text ending in Z, which keeps the offset on every backend (SQLite has no
time-zone-aware type)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary
from sqlmodel import Field, SQLModel

STORE_SCHEMA_VERSION = 5
# Columns that were 32-bit INTEGER before schema 5 (a PostgreSQL store of schema 4 is widened).
WIDENED = {
    "scan": ("images", "failing"),
    "image": ("size", "mtime_ns"),
    "fingerprint_cache": ("size", "mtime_ns"),
}


class ScanRow(SQLModel, table=True):
    __tablename__ = "scan"
    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(index=True)
    run_key: str = Field(index=True)  # digest of dataset, options, manifests and references: same command
    status: str = "running"  # running | complete
    started_at: str
    finished_at: str | None = None
    images: int = Field(default=0, sa_type=BigInteger)
    failing: int = Field(default=0, sa_type=BigInteger)
    header_json: str | None = None
    summary_json: str | None = None
    duplicates_json: str | None = None


class ImageRow(SQLModel, table=True):
    """The map output of one scan, one row per dataset entry; (scan_id, path) is unique."""

    __tablename__ = "image"
    scan_id: int = Field(foreign_key="scan.id", primary_key=True)
    path: str = Field(primary_key=True)
    size: int = Field(default=0, sa_type=BigInteger)
    mtime_ns: int = Field(default=0, sa_type=BigInteger)
    sha256: str | None = Field(default=None, index=True)
    phash: str | None = None
    phash_mirror: str | None = None
    data_json: str


class FindingRow(SQLModel, table=True):
    """The verdict of one image in one scan."""

    __tablename__ = "finding"
    scan_id: int = Field(foreign_key="scan.id", primary_key=True)
    path: str = Field(primary_key=True)
    verdict: str = Field(index=True)
    data_json: str


class ScanFileRow(SQLModel, table=True):
    """A dataset file that is not an audited image (sidecar, shard, parquet, other), bound into the digest."""

    __tablename__ = "scan_file"
    scan_id: int = Field(foreign_key="scan.id", primary_key=True)
    path: str = Field(primary_key=True)
    size: int = Field(default=0, sa_type=BigInteger)
    mtime_ns: int = Field(default=0, sa_type=BigInteger)
    sha256: str | None = None


class CacheRow(SQLModel, table=True):
    """Fingerprints by (dataset, path, size, mtime): unchanged files are not decoded again."""

    __tablename__ = "fingerprint_cache"
    dataset: str = Field(primary_key=True)
    path: str = Field(primary_key=True)
    size: int = Field(sa_type=BigInteger)
    mtime_ns: int = Field(sa_type=BigInteger)
    algorithm: str
    sha256: str | None = None
    phash: str | None = None
    phash_mirror: str | None = None
    data_json: str


class MetaRow(SQLModel, table=True):
    __tablename__ = "store_meta"
    key: str = Field(primary_key=True)
    value: str


class RefSetRow(SQLModel, table=True):
    """A named reference set of known scraped images (or URLs / domains)."""

    __tablename__ = "reference_set"
    name: str = Field(primary_key=True)
    description: str = ""
    license: str = ""
    source: str = ""
    created_at: str
    entries: int = 0


class RefEntryRow(SQLModel, table=True):
    __tablename__ = "reference_entry"
    set_name: str = Field(foreign_key="reference_set.name", primary_key=True)
    ref_id: str = Field(primary_key=True)
    sha256: str | None = Field(default=None, index=True)
    phash: str | None = None
    dhash: str | None = None
    url: str | None = None
    phash256: str | None = None
    detail: int | None = None
    views: str | None = None  # JSON [[name, phash, phash256], ...]
    keypoints: str | None = None  # keypoints.Keypoints.encode()


class RefColumnsRow(SQLModel, table=True):
    """A stored reference set's entries as columns (`ReferenceTable.to_bytes`): what a scan loads, in one
    read, instead of a row per entry. Written with the rows; a set stored before it existed gets it on
    its first load."""

    __tablename__ = "reference_columns"
    set_name: str = Field(foreign_key="reference_set.name", primary_key=True)
    format: str
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
