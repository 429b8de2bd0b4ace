"""What a Parquet file's pages inflate to, read from their headers before anything decodes them.

pyarrow allocates each page at the size its header gives and decompresses into it; the footer's sizes are the
writer's claims, which pyarrow does not check against the pages. A few kilobytes of zstd make a gigabyte, so a
small file could take a worker's memory. Each column chunk is walked as pyarrow walks it: from its first page
(the dictionary page, if any), header after header (parquet-format's `PageHeader`, Thrift compact protocol),
over the footer's stored length. Headers that cannot be read are left for pyarrow to report as damage.

A dictionary page is inflated once for its column chunk, but every row that points into it decodes to a copy of
its value: one 60 MB value that 2,000 rows point to is 120 GB of rows from a 133 KB file. The largest value of a
flat column's dictionary (`GroupPages.copied`: a large page is inflated here and its values' lengths read)
bounds how many rows are decoded at once, and the decoded bytes of a file are bounded as a whole
(parquet_batches.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from consentaudit.sources.item import DEFAULT_MAX_FILE_BYTES

MAX_PAGE_BYTES = DEFAULT_MAX_FILE_BYTES  # no page is larger than the largest file read
BOMB_BYTES = 64 << 20  # a page that inflates past this ...
BOMB_RATIO = 32  # ... to more than this many times its stored size is a bomb (images, the payload, barely compress)
MAX_PAGES = 1 << 20  # pages walked in one column chunk
HEADER_READ = 512  # bytes read for a page header first (a header with statistics may need more: read again)
MAX_HEADER_BYTES = 16 << 20
DICTIONARY_PAGE = 2  # parquet-format's PageType
# PageHeader's fields, each a struct whose field 1 is num_values (a dictionary page's: its entries)
DATA_PAGE_HEADER, DICTIONARY_PAGE_HEADER, DATA_PAGE_HEADER_V2 = 5, 7, 8
SMALL_DICTIONARY = 1 << 20  # a dictionary page up to this size bounds a row's copy well enough by its own size;
MOST_ENTRIES = 100_000  # ... a larger one of up to this many entries is read for its largest value
CODECS = {"SNAPPY": "snappy", "GZIP": "gzip", "BROTLI": "brotli", "ZSTD": "zstd", "LZ4_RAW": "lz4_raw"}
# the least bits a value of each physical type decodes to in Arrow: a fixed width, or a BYTE_ARRAY's offset
WIDTHS = {"BOOLEAN": 1, "INT32": 32, "INT64": 64, "INT96": 64, "FLOAT": 32, "DOUBLE": 64, "BYTE_ARRAY": 32}


# the column chunks walked lately, by (path, size, mtime, row group, column): a shard's listing walks them all,
# and the work units that read its images (in this process, or forked from it) walk them again
_WALKED: dict[tuple[str, int, int, int, int], tuple[str | None, _Chunk]] = {}
MAX_WALKED = 4096


@dataclass(frozen=True)
class GroupPages:
    """What a row group's pages (of the columns asked for) inflate to, from their headers."""

    why: str | None = None  # why decoding it would take far more memory than the file holds (None: it would not)
    inflated: int = 0  # all its pages, inflated
    dictionaries: int = 0  # its dictionary pages, inflated
    copied: int = 0  # the most one row may copy out of the dictionaries of its flat columns (their largest values)
    least: int = 0  # the least its values decode to (an offset or a fixed width each), however few bytes store them


@dataclass
class _Chunk:
    inflated: int = 0
    dictionary: int = 0  # inflated
    dictionary_stored: int = 0
    largest: int = 0  # the largest data page, inflated ...
    largest_stored: int = 0  # ... and stored
    values: int = 0  # the values of its data pages, as their headers count them (nulls and list elements too)
    largest_value: int = 0  # the largest value of its dictionary (its page's size where not read)


def inflating_page(
    path: Path, metadata: Any, columns: Iterable[str] | None = None, groups: Iterable[int] | None = None
) -> str | None:
    """Why reading the file's pages (of `columns`, by top-level name, in row `groups`; all by default) would take
    far more memory than the file holds (`group_pages`), or None."""
    for group in range(metadata.num_row_groups) if groups is None else groups:
        if why := group_pages(path, metadata, columns, group).why:
            return why
    return None


def group_pages(path: Path, metadata: Any, columns: Iterable[str] | None, group: int) -> GroupPages:
    """The pages of one row group's column chunks (of `columns`, by top-level name; all when None). Its `why`
    names the first page that inflates past MAX_PAGE_BYTES, or past BOMB_BYTES to more than BOMB_RATIO times its
    stored size, or else the pages that decoding a row holds at once (each column's dictionary and largest data
    page) when together they do so: a thousand columns of modest pages are as large as one bomb."""
    wanted = None if columns is None else set(columns)
    meta = metadata.row_group(group)
    st = path.stat()
    inflated = dictionaries = held = held_stored = least = copied = 0
    with path.open("rb") as f:
        for c in range(meta.num_columns):
            chunk = meta.column(c)
            if wanted is not None and chunk.path_in_schema.split(".")[0] not in wanted:
                continue
            flat = metadata.schema.column(c).max_repetition_level == 0
            key = (str(path), st.st_size, st.st_mtime_ns, group, c)
            if key not in _WALKED:
                pages = _Chunk()
                _WALKED[key] = (_chunk(f, chunk, pages, flat), pages)
                while len(_WALKED) > MAX_WALKED:
                    del _WALKED[next(iter(_WALKED))]
            why, pages = _WALKED[key]
            if why:
                return GroupPages(f"row group {group}, column {chunk.path_in_schema!r}: {why}")
            inflated += pages.inflated
            dictionaries += pages.dictionary
            copied += pages.largest_value if flat else 0  # a list's elements are read as indices (parquet_batches)
            least += pages.values * _width(metadata, c, chunk.physical_type) // 8
            held += pages.dictionary + pages.largest
            held_stored += pages.dictionary_stored + pages.largest_stored
    if _bomb(held, held_stored):
        why = f"decoding a row holds {held} bytes of pages at once, inflated from {held_stored}"
        return GroupPages(f"row group {group}: {why}")
    return GroupPages(None, inflated, dictionaries, copied, least)


def _width(metadata: Any, column: int, physical: str) -> int:
    """The least bits a value of a column decodes to (a FIXED_LEN_BYTE_ARRAY's width from the schema)."""
    if physical == "FIXED_LEN_BYTE_ARRAY":
        return max(1, int(metadata.schema.column(column).length or 0) * 8)
    return WIDTHS.get(physical, 1)


def _bomb(inflated: int, stored: int) -> bool:
    return inflated > MAX_PAGE_BYTES or (inflated > BOMB_BYTES and inflated > BOMB_RATIO * stored)


def _chunk(f: IO[bytes], chunk: Any, pages: _Chunk, flat: bool) -> str | None:
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset:
        start = min(start, chunk.dictionary_page_offset)
    end = start + chunk.total_compressed_size
    pos = start
    for _ in range(MAX_PAGES):
        if pos >= end:
            return None
        head = _header(f, pos)
        if head is None:
            return None  # not a page header: damage, for pyarrow to report
        inflated, stored, length, kind, values = head
        if inflated > MAX_PAGE_BYTES:
            return f"a page inflates to {inflated} bytes, more than the {MAX_PAGE_BYTES}-byte limit"
        if _bomb(inflated, stored):
            return f"decompression bomb: a page of {stored} bytes inflates to {inflated}"
        pages.inflated += max(0, inflated)
        if kind == DICTIONARY_PAGE:
            pages.dictionary += max(0, inflated)
            pages.dictionary_stored += max(0, stored)
            largest = inflated
            if flat and chunk.physical_type == "BYTE_ARRAY" and inflated > SMALL_DICTIONARY and values <= MOST_ENTRIES:
                largest = _largest_value(f, pos + length, stored, inflated, chunk.compression) or inflated
            pages.largest_value = max(pages.largest_value, largest)
        else:
            pages.values += max(0, values)
            if inflated > pages.largest:
                pages.largest, pages.largest_stored = inflated, max(0, stored)
        pos += length + max(0, stored)
    return None


def _largest_value(f: IO[bytes], pos: int, stored: int, inflated: int, compression: str) -> int | None:
    """The length of the largest value of a BYTE_ARRAY dictionary page (PLAIN: each value's 4-byte length, then
    its bytes), inflated as pyarrow would; None where it cannot be read here (a codec pyarrow does not offer
    under Parquet's framing, damage): the page's size bounds it then."""
    import pyarrow as pa

    if stored <= 0:
        return None
    f.seek(pos)
    data = f.read(stored)
    try:
        if compression == "LZ4":  # pyarrow names LZ4_RAW so too; else Hadoop's framing of LZ4 blocks
            view = _lz4(data, inflated)
        elif compression != "UNCOMPRESSED":  # an Arrow buffer, not copied out
            view = memoryview(pa.Codec(CODECS[compression]).decompress(data, decompressed_size=inflated))
        else:
            view = memoryview(data)
    except Exception:  # an unknown codec, damage: pyarrow's own errors
        return None
    at = most = 0
    while at + 4 <= len(view):
        n = int.from_bytes(view[at : at + 4], "little")
        most, at = max(most, n), at + 4 + n
    return min(most, inflated)


def _lz4(data: bytes, inflated: int) -> memoryview:
    """A page of Parquet's LZ4: one raw LZ4 block (what pyarrow writes), or Hadoop's frames (a big-endian inflated
    and stored size before each block), which pyarrow reads too."""
    import pyarrow as pa

    raw = pa.Codec("lz4_raw")
    try:
        return memoryview(raw.decompress(data, decompressed_size=inflated))
    except Exception:  # not one raw block: Hadoop's frames
        out, at = bytearray(), 0
        while at + 8 <= len(data) and len(out) < inflated:
            size, stored = int.from_bytes(data[at : at + 4], "big"), int.from_bytes(data[at + 4 : at + 8], "big")
            if size > inflated - len(out):
                raise ValueError("LZ4 frame larger than the page") from None
            out += raw.decompress(data[at + 8 : at + 8 + stored], decompressed_size=size).to_pybytes()
            at += 8 + stored
        return memoryview(out)


def _header(f: IO[bytes], pos: int) -> tuple[int, int, int, int, int] | None:
    """(uncompressed_page_size, compressed_page_size, header length, page type, its values: a data page's, or a
    dictionary page's entries) of the page header at `pos`."""
    size = HEADER_READ
    while size <= MAX_HEADER_BYTES:
        f.seek(pos)
        data = f.read(size)
        reader = _Compact(data)
        try:
            fields = reader.struct_fields()
        except _Short:
            if len(data) < size:  # the file ends inside the header
                return None
            size *= 8
            continue
        except ValueError:
            return None
        if 2 not in fields or 3 not in fields:
            return None
        page = (
            reader.children.get(DATA_PAGE_HEADER)
            or reader.children.get(DATA_PAGE_HEADER_V2)
            or reader.children.get(DICTIONARY_PAGE_HEADER)
            or {}
        )
        return fields[2], fields[3], reader.pos, fields.get(1, -1), page.get(1, 0)
    return None


class _Short(Exception):
    """The bytes in hand end before the header does."""


class _Compact:
    """Just enough of Thrift's compact protocol to read a struct's integer fields and skip the rest."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0
        self.children: dict[int, dict[int, int]] = {}  # the integer fields of the top struct's structs, by id

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Short
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self) -> int:
        value = shift = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip_bytes(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative length")
        if self.pos + n > len(self.data):
            raise _Short
        self.pos += n

    def struct_fields(self, depth: int = 0) -> dict[int, int]:
        """The struct's integer fields by id (others skipped), up to its STOP."""
        if depth > 16:
            raise ValueError("nesting too deep")
        out: dict[int, int] = {}
        field = 0
        while True:
            b = self.byte()
            if b == 0:
                return out
            kind, delta = b & 0x0F, b >> 4
            field = field + delta if delta else self.zigzag()
            if kind in (4, 5, 6):  # i16, i32, i64
                out[field] = self.zigzag()
            elif kind == 12 and depth == 0:
                self.children[field] = self.struct_fields(depth + 1)
            else:
                self.skip(kind, depth)

    def skip(self, kind: int, depth: int) -> None:
        if kind in (1, 2):  # booleans: the value is the type
            return
        if kind == 3:
            self.skip_bytes(1)
        elif kind in (4, 5, 6):
            self.zigzag()
        elif kind == 7:
            self.skip_bytes(8)
        elif kind == 8:
            self.skip_bytes(self.varint())
        elif kind in (9, 10):  # list, set
            head = self.byte()
            count = head >> 4 if head >> 4 != 15 else self.varint()
            for _ in range(count):
                self.skip_element(head & 0x0F, depth)
        elif kind == 11:  # map
            count = self.varint()
            if count:
                types = self.byte()
                for _ in range(count):
                    self.skip_element(types >> 4, depth)
                    self.skip_element(types & 0x0F, depth)
        elif kind == 12:
            self.struct_fields(depth + 1)
        else:
            raise ValueError(f"unknown compact type {kind}")

    def skip_element(self, kind: int, depth: int) -> None:
        if kind in (1, 2):  # a boolean element takes a byte
            self.skip_bytes(1)
        else:
            self.skip(kind, depth)
