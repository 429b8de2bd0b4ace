"""The tables. Hashes are fixed-width lowercase hex text (SQLite has no unsigned 64-bit integer); sizes,
nanosecond mtimes and counts are 64-bit integers on every backend (PostgreSQL's INTEGER is 32-bit);
timestamps are ISO 8601 UTC text ending in Z, which keeps the offset on every backend (SQLite has no
time-zone-aware type)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, LargeBinary, MetaData, String, Table

STORE_SCHEMA_VERSION = 7
# Columns that were 32-bit INTEGER before schema 5 (a PostgreSQL store of schema 4 is widened).
WIDENED = {
    "scan": ("images", "failing"),
    "image": ("size", "mtime_ns"),
    "fingerprint_cache": ("size", "mtime_ns"),
}

# SQLAlchemy Core tables (the DDL the sqlmodel classes of 0.2 emitted, column for column): Core alone
# imports in ~0.45 s where sqlmodel, its ORM and pydantic added ~0.3 s to every command that opens a store.
METADATA = MetaData()


def _text(name: str, primary_key: bool = False, index: bool | None = None, default: str | None = None) -> Column[str]:
    """A NOT NULL text column (hashes, paths, JSON, ISO timestamps)."""
    return Column(name, String, nullable=False, primary_key=primary_key, index=index, default=default)


def _opt(name: str, index: bool | None = None) -> Column[str]:
    """A nullable text column."""
    return Column(name, String, nullable=True, index=index)


SCAN = Table(
    "scan",
    METADATA,
    Column("id", Integer, primary_key=True),
    _text("dataset", index=True),
    _text("run_key", index=True),  # digest of dataset, options, manifests and references: same command
    _text("status", default="running"),  # running | complete
    _text("started_at"),
    _opt("finished_at"),
    Column("images", BigInteger, nullable=False, default=0),
    Column("failing", BigInteger, nullable=False, default=0),
    _opt("header_json"),
    _opt("summary_json"),
    _opt("duplicates_json"),
)

# The map output of one scan, one row per dataset entry; (scan_id, path) is unique.
IMAGE = Table(
    "image",
    METADATA,
    Column("scan_id", Integer, ForeignKey("scan.id"), primary_key=True),
    _text("path", primary_key=True),
    Column("size", BigInteger, nullable=False, default=0),
    Column("mtime_ns", BigInteger, nullable=False, default=0),
    _opt("sha256", index=True),
    _opt("phash"),
    _opt("phash_mirror"),
    _text("data_json"),
    _opt("phash_upright"),  # schema 6: the pHash of the picture as shown (EXIF orientation applied)
    _opt("sidecars"),  # schema 7: `Item.sidecars` of the file it was read from (NULL before)
)

# The verdict of one image in one scan.
FINDING = Table(
    "finding",
    METADATA,
    Column("scan_id", Integer, ForeignKey("scan.id"), primary_key=True),
    _text("path", primary_key=True),
    _text("verdict", index=True),
    _text("data_json"),
)

# A dataset file that is not an audited image (sidecar, shard, parquet, other), bound into the digest.
SCAN_FILE = Table(
    "scan_file",
    METADATA,
    Column("scan_id", Integer, ForeignKey("scan.id"), primary_key=True),
    _text("path", primary_key=True),
    Column("size", BigInteger, nullable=False, default=0),
    Column("mtime_ns", BigInteger, nullable=False, default=0),
    _opt("sha256"),
)

# Fingerprints by (dataset, path, size, mtime): unchanged files are not decoded again.
CACHE = Table(
    "fingerprint_cache",
    METADATA,
    _text("dataset", primary_key=True),
    _text("path", primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    _text("algorithm"),
    _opt("sha256"),
    _opt("phash"),
    _opt("phash_mirror"),
    _text("data_json"),
    _opt("phash_upright"),  # schema 6
    _opt("sidecars"),  # schema 7, as in `image`
)

META = Table("store_meta", METADATA, _text("key", primary_key=True), _text("value"))

# A named reference set of known scraped images (or URLs / domains).
REFSET = Table(
    "reference_set",
    METADATA,
    _text("name", primary_key=True),
    _text("description", default=""),
    _text("license", default=""),
    _text("source", default=""),
    _text("created_at"),
    Column("entries", Integer, nullable=False, default=0),
)

REFENTRY = Table(
    "reference_entry",
    METADATA,
    Column("set_name", String, ForeignKey("reference_set.name"), primary_key=True),
    _text("ref_id", primary_key=True),
    _opt("sha256", index=True),
    _opt("phash"),
    _opt("dhash"),
    _opt("url"),
    _opt("phash256"),
    Column("detail", Integer, nullable=True),
    _opt("views"),  # JSON [[name, phash, phash256], ...]
    _opt("keypoints"),  # keypoints.Keypoints.encode()
)

# A stored reference set's entries as columns (`ReferenceTable.to_bytes`): what a scan loads, in one read,
# instead of a row per entry. Written with the rows; a set stored before it existed gets it on its first load.
REFCOLS = Table(
    "reference_columns",
    METADATA,
    Column("set_name", String, ForeignKey("reference_set.name"), primary_key=True),
    _text("format"),
    Column("data", LargeBinary, nullable=False),
)
