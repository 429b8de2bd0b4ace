"""Images embedded in Parquet: img2dataset's `--output_format parquet` writes each sample's image bytes in a
column named by its encode format (`jpg`, `png`, `webp`) beside its crawl record, and Hugging Face datasets'
Image feature keeps them in a struct column with a `bytes` field. Such a file is a shard: it is told from a
file of crawl records by the bytes of its first image (any binary column, or struct column with a binary
`bytes` field, whose first value begins as an image does: `looks_like_image`), listed here (`list_parquet`: one
item per row that holds an image) and read row by row by `ParquetRows`.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from consentaudit.sources.crawl_records import ListingLog, crawl_fields, refusal_protocol
from consentaudit.sources.item import (
    HEAD_BYTES,
    IMAGE_EXTENSIONS,
    MAX_SIDECAR_BYTES,
    Item,
    display_name,
    looks_like_image,
)
from consentaudit.sources.parquet_batches import (
    RECORD_ROWS,
    DecodedBudget,
    ParquetBomb,
    group_batches,
    lengths,
    open_parquet,
    records,
)

LOOKED_AT = 64  # rows read to find a column's first value that is not null


@dataclass(frozen=True)
class EmbeddedImages:
    column: str
    rows: int  # rows of the file (each may hold an image; a failed download's holds none)
    struct: bool = False  # the image is the column's `bytes` field (Hugging Face), not the column itself


def image_bytes(value: object) -> bytes | None:
    """A row's image, as pyarrow gives the column's value: bytes, or a struct's `bytes` field."""
    if isinstance(value, dict):
        value = value.get("bytes")
    return value if isinstance(value, bytes) and value else None


class ParquetUnreadable(Exception):
    """A `.parquet` file that cannot be told to hold images or not: not readable as Parquet at all (`column`
    None: its footer cut off, not Parquet), or a binary column whose first values cannot be read."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


# what the last few Parquet files were told to hold, by (path, size, mtime): listing tells a shard once, and
# every work unit that reads it (in workers forked after the listing, which inherit this) is spared telling again
_TOLD: dict[tuple[str, int, int], EmbeddedImages | None] = {}


def embedded_images(path: Path) -> EmbeddedImages | None:
    """The column that holds images in a Parquet file, or None when none does; ParquetUnreadable when that
    cannot be told."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ParquetUnreadable(f"not readable as Parquet ({type(exc).__name__}: {exc})") from exc
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _TOLD:
        _TOLD[key] = _tell(path)
        while len(_TOLD) > 8:
            del _TOLD[next(iter(_TOLD))]
    return _TOLD[key]


def _tell(path: Path) -> EmbeddedImages | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        fields = list(pf.schema_arrow)
    except Exception as exc:  # not Parquet, its footer cut off: pyarrow raises several types
        raise ParquetUnreadable(f"not readable as Parquet ({type(exc).__name__}: {exc})") from exc
    for field in fields:
        kind = field.type
        if pa.types.is_struct(kind):
            sub = kind.get_field_index("bytes")
            if sub < 0 or not _binary(kind.field(sub).type):
                continue
        elif not _binary(kind):
            continue
        try:
            head = _first_value(pf, field.name, path)
        except ParquetUnreadable:
            raise
        except Exception as exc:  # a damaged page
            raise ParquetUnreadable(
                f"its column {field.name!r} cannot be read ({type(exc).__name__}: {exc})", field.name
            ) from exc
        if head is not None and looks_like_image(head[:HEAD_BYTES]):
            return EmbeddedImages(field.name, pf.metadata.num_rows, pa.types.is_struct(kind))
    return None


def holds_images(path: Path) -> bool:
    """Whether a file is a Parquet file that holds images, or may: one whose column of bytes cannot be read
    (damaged, or a decompression bomb) is listed, as an unreadable item, not passed over as data."""
    try:
        return embedded_images(path) is not None
    except ParquetUnreadable as exc:
        return exc.column is not None


def _binary(kind: Any) -> bool:
    """A column of bytes, dictionary-encoded or not (a table written from Arrow keeps a dictionary's type)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def _first_value(pf: Any, column: str, path: Path) -> bytes | None:
    """The first non-null value of a binary column (or a struct column's `bytes`) among its first rows, read
    a row group at a time (asked for all of them, pyarrow reads ahead far past the first rows), each once its
    pages are known not to inflate past what the file holds (ParquetUnreadable)."""
    seen = 0
    for group in range(pf.metadata.num_row_groups):
        try:
            batches = group_batches(pf, path, group, [column], None, most=4)
        except ParquetBomb as exc:
            raise ParquetUnreadable(f"its column {column!r} is not read: {exc}", column) from exc
        for batch in batches:
            for value in batch.column(0).to_pylist():
                if (found := image_bytes(value)) is not None:
                    return found
            seen += batch.num_rows
            if seen >= LOOKED_AT:
                return None
    return None


class ParquetRows:
    """Reads the image of any row of one Parquet shard. A unit's rows come in file order, so each row group is
    read forward once, a batch of `batch_rows` rows at a time (a row group of a million images is never held
    whole; parquet_batches.py); a row behind the batch in hand starts its row group again."""

    def __init__(self, location: str) -> None:
        import pyarrow.parquet as pq

        try:
            embedded = embedded_images(Path(location))
        except ParquetUnreadable as exc:
            raise OSError(f"Parquet shard unreadable: {exc}") from exc
        if embedded is None:
            raise OSError("no column of images in this Parquet file (it changed after it was listed?)")
        self._file = pq.ParquetFile(location)
        self._path = Path(location)
        self._column = embedded.column
        meta = self._file.metadata
        self._starts = [0]
        for g in range(meta.num_row_groups):
            self._starts.append(self._starts[-1] + meta.row_group(g).num_rows)
        self._group = -1
        self._batches: Iterator[Any] = iter(())
        self._first = 0  # the first row of the batch in hand
        self._values: Any = ()  # the batch in hand, as pyarrow gives it: a row is copied out only when read

    def read(self, row: int, max_bytes: int) -> bytes:
        if not 0 <= row < self._starts[-1]:
            raise OSError(f"row {row} not found (the file has {self._starts[-1]} rows)")
        try:
            value = self._value(row)
        except StopIteration:
            raise OSError(f"row {row} not found: its row group ends before it") from None
        except Exception as exc:  # a damaged page or column chunk: pyarrow raises several types
            raise OSError(f"cannot read row {row}: {type(exc).__name__}: {exc}") from exc
        data = image_bytes(value)
        if data is None:
            raise OSError(f"row {row} holds no image")
        if len(data) > max_bytes:
            raise OSError(f"member larger than the {max_bytes}-byte limit")
        return data

    def _value(self, row: int) -> object:
        group = bisect.bisect_right(self._starts, row) - 1
        if group != self._group or row < self._first:
            self._group, self._first, self._values = -1, self._starts[group], ()
            try:
                self._batches = group_batches(self._file, self._path, group, [self._column], None)
            except ParquetBomb as exc:
                raise OSError(f"not read: {exc}") from exc
            self._group = group
        while row >= self._first + len(self._values):
            self._first += len(self._values)
            self._values = next(self._batches).column(0)
        return self._values[row - self._first].as_py()

    def close(self) -> None:
        self._file.close()


def list_parquet(archive: Path, rel: str, embedded: EmbeddedImages, log: ListingLog) -> Iterator[Item]:
    """One item per row of a Parquet shard that holds an image, named `<rel>/<key>.<column>` as img2dataset's
    tar shard names the same sample (`key` column; else the row number, and the suffix of a Hugging Face
    image's `path`), with the row's other columns as its crawl record when they are one (a `url`). A row with
    no image is counted as a crawl-time refusal where its error says a header reserved it, as a tar shard's
    parquet row is. Row groups are independent: one that cannot be read, or whose pages would inflate far past
    what the file holds (a decompression bomb: parquet_pages.py), is passed, and the shard itself is an item
    with a problem that names the rows not listed; once the rows decode to more than the file's budget
    (parquet_batches.py: a value repeated from a dictionary), none after are listed, as the scan would read each.
    The image column is read here once, in batches, for each image's size; a crawl record past MAX_SIDECAR_BYTES
    is not read (a tar's `<key>.json` past it is not either), with a note."""
    import pyarrow.compute as pc

    suffix = "." + embedded.column.lower() if "." + embedded.column.lower() in IMAGE_EXTENSIONS else ""
    seen: set[str] = set()
    lost: list[str] = []  # the row groups that could not be read, and why (the first)
    why = ""
    oversized = 0  # rows whose crawl record is past MAX_SIDECAR_BYTES: not copied out
    try:
        mtime_ns = archive.stat().st_mtime_ns
        budget = DecodedBudget.of(archive)
        pf = open_parquet(archive)
    except Exception as exc:  # gone or rewritten since it was told to hold images
        yield Item(rel, str(archive), 0, 0, f"Parquet shard unreadable: {type(exc).__name__}: {exc}")
        return
    total = pf.metadata.num_rows
    first = 0
    for group in range(pf.metadata.num_row_groups):
        count = pf.metadata.row_group(group).num_rows
        row = first
        try:
            for batch in group_batches(pf, archive, group, None, budget, RECORD_ROWS):
                images = batch.column(embedded.column)
                data = pc.struct_field(images, "bytes") if embedded.struct else images  # not copied out
                sizes = lengths(data)
                named = pc.struct_field(images, "path").to_pylist() if embedded.struct and _has_path(images) else None
                rest = [n for n in batch.schema.names if n != embedded.column]
                rows = records(batch, rest, MAX_SIDECAR_BYTES)
                for k, size in enumerate(sizes):
                    record = rows[k]
                    if record is None:
                        oversized += 1
                        record = _key_only(batch, k)
                    name = named[k] if named is not None else None
                    item = _parquet_row(archive, rel, record, int(size), name, row, mtime_ns, suffix, seen, log)
                    if item is not None:
                        yield item
                    row += 1
        except Exception as exc:  # a damaged page (pyarrow raises several types), or a bomb
            spent = budget.used > budget.limit
            lost.append(f"{row}-{(total if spent else first + count) - 1}")
            why = why or f"{type(exc).__name__}: {exc}"
            if spent:
                break
        first += count
    if oversized:
        log.warn(
            f"{rel}: {oversized} row(s) whose crawl record (the columns beside the image) is over "
            f"{MAX_SIDECAR_BYTES} bytes: not read as crawl records"
        )
    if lost:
        yield Item(rel, str(archive), 0, 0, f"Parquet shard damaged: rows {', '.join(lost)} not read ({why})")


def _key_only(batch: Any, k: int) -> dict[str, Any]:
    """The sample key of a row whose crawl record is not read, when the key itself is a short one."""
    import pyarrow as pa

    if "key" not in batch.schema.names:
        return {}
    column = batch.column("key")
    found = lengths(column)
    if (found is None and not pa.types.is_integer(column.type)) or (found is not None and found[k] > 1024):
        return {}
    return {"key": column[k].as_py()}


def _has_path(images: Any) -> bool:
    """Whether a struct column of images has a `path` field (a Hugging Face Image: the file's own name)."""
    return bool(images.type.get_field_index("path") >= 0)


def _parquet_row(
    archive: Path,
    rel: str,
    record: dict[str, Any],
    size: int,
    named: object,
    row: int,
    mtime_ns: int,
    suffix: str,
    seen: set[str],
    log: ListingLog,
) -> Item | None:
    """The item of one Parquet row holding `size` bytes of image (`named`: a Hugging Face image's own file
    name), or None for a row without an image (counted if a crawler refused it)."""
    crawl = crawl_fields(record)
    if not size:
        proto = refusal_protocol(crawl)
        if proto:
            log.refusals[proto] += 1
        return None
    key = str(record.get("key") or f"{row:09d}")
    if key in (".", "..") or "/" in key or "\\" in key or key in seen:  # a sample key names one row
        key = f"{row:09d}" if key not in seen else f"{key}.row{row}"
    seen.add(key)
    member = key + (suffix or (PurePosixPath(named).suffix.lower() if isinstance(named, str) else ""))
    return Item(
        f"{rel}/{display_name(member)}",
        str(archive),
        size,
        mtime_ns,
        member=member,
        crawl_json=json.dumps(crawl, sort_keys=True) if "url" in crawl else None,
        offset=row,
    )
