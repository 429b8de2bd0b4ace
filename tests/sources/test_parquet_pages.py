"""The page-header walk of parquet_pages.py, against what pyarrow writes: every page of every column chunk is
found where pyarrow put it, and their sizes add up to what the footer says, whatever the writer's options."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import FIXTURES, PHOTOS
from consentaudit.sources import parquet_pages


def _walk(path: Path) -> list[tuple[int, int, int, int]]:
    """(end of the walk, end of the chunk, inflated bytes + header bytes, the footer's uncompressed size) of each
    column chunk."""
    meta = pq.ParquetFile(path).metadata
    out = []
    with path.open("rb") as f:
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                chunk = meta.row_group(g).column(c)
                start = chunk.data_page_offset
                if chunk.has_dictionary_page and chunk.dictionary_page_offset:
                    start = min(start, chunk.dictionary_page_offset)
                end, pos, total = start + chunk.total_compressed_size, start, 0
                while pos < end:
                    head = parquet_pages._header(f, pos)
                    assert head is not None, (path, g, c, pos)
                    total += head[0] + head[2]
                    pos += head[2] + head[1]
                out.append((pos, end, total, chunk.total_uncompressed_size))
    return out


@pytest.mark.parametrize(
    ("version", "compression", "extras"),
    list(itertools.product(["1.0", "2.0"], ["snappy", "zstd", "gzip", "none"], [True, False])),
)
def test_every_page_is_found_where_pyarrow_wrote_it(
    tmp_path: Path, version: str, compression: str, extras: bool
) -> None:
    photos = sorted(PHOTOS.glob("*.jpg"))[:6]
    values = [p.read_bytes() for p in photos] * 20
    table = pa.table(
        {
            "key": [f"{i:05d}" for i in range(len(values))],
            "jpg": pa.array(values, pa.large_binary() if extras else pa.binary()),
            "n": list(range(len(values))),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(
        table,
        path,
        data_page_version=version,
        compression=compression,
        write_statistics=extras,  # statistics in the page headers: skipped field by field
        write_page_index=extras,
        use_dictionary=extras,
        row_group_size=50,
        data_page_size=300_000,
    )
    for walked, end, total, footer in _walk(path):
        assert walked == end and total == footer
    meta = pq.ParquetFile(path).metadata
    assert parquet_pages.inflating_page(path, meta) is None
    for g in range(meta.num_row_groups):  # the data pages' values add up to the footer's, column by column
        chunks = [meta.row_group(g).column(c) for c in range(meta.num_columns)]
        want = sum(c.num_values * parquet_pages.WIDTHS[c.physical_type] // 8 for c in chunks)
        assert parquet_pages.group_pages(path, meta, None, g).least == want > 0


def test_the_fixtures_shards_walk_to_their_ends() -> None:
    for path in sorted(FIXTURES.rglob("*.parquet")):
        for walked, end, total, footer in _walk(path):
            assert walked == end and total == footer, path


def test_dictionary_pages_are_told_from_data_pages(tmp_path: Path) -> None:
    """A dictionary page's value is copied into every row that points to it: its inflated size is what a row may
    decode to, whatever the data pages hold (a few bytes of indices)."""
    value = bytes(3 << 20)
    table = pa.table({"jpg": [value] * 10, "key": [f"{i:03d}" for i in range(10)]})
    pq.write_table(table, tmp_path / "dict.parquet", compression="zstd", use_dictionary=["jpg"])
    pq.write_table(table, tmp_path / "plain.parquet", compression="zstd", use_dictionary=False)
    meta = pq.ParquetFile(tmp_path / "dict.parquet").metadata
    pages = parquet_pages.group_pages(tmp_path / "dict.parquet", meta, ["jpg"], 0)
    assert pages.why is None
    assert len(value) <= pages.dictionaries < len(value) + 1024  # the value and its length prefix
    assert pages.inflated < pages.dictionaries + 1024  # the data page: 10 indices
    meta = pq.ParquetFile(tmp_path / "plain.parquet").metadata
    pages = parquet_pages.group_pages(tmp_path / "plain.parquet", meta, ["jpg"], 0)
    assert pages.dictionaries == 0 and pages.inflated >= 10 * len(value)


def test_many_columns_of_modest_pages_held_at_once_are_a_bomb(tmp_path: Path) -> None:
    """No page passes the bound alone, but decoding a row holds a dictionary page of every column at once: forty
    columns of 3 MB of zeros (a few kilobytes stored) are 120 MB of pages for one row."""
    n = 40
    value = bytes(3 << 20)
    table = pa.table({f"c{i}": [value] * 4 for i in range(n)})
    pq.write_table(table, tmp_path / "wide.parquet", compression="zstd")
    meta = pq.ParquetFile(tmp_path / "wide.parquet").metadata
    assert (tmp_path / "wide.parquet").stat().st_size < 1 << 20
    why = parquet_pages.group_pages(tmp_path / "wide.parquet", meta, None, 0).why or ""
    assert "decoding a row holds" in why and n * len(value) <= int(why.split(" holds ")[1].split()[0])
    assert parquet_pages.group_pages(tmp_path / "wide.parquet", meta, ["c0", "c1"], 0).why is None  # 6 MB


@pytest.mark.parametrize("compression", ["snappy", "zstd", "gzip", "brotli", "lz4", "none"])
def test_a_dictionary_of_images_bounds_a_row_by_its_largest_image(tmp_path: Path, compression: str) -> None:
    """pyarrow's writer puts a row group's first 1,024 distinct images in one dictionary page (9 MB for 100 photos,
    89 MB for img2dataset's 10,000-sample shard). A row copies one value out of it, so the page is read for its
    largest value: bounding a row by the whole page read such shards a row at a time (a 3,000-image shard took
    1.5 s to list instead of 0.25 s)."""
    from consentaudit.sources.parquet_batches import READ_ROWS, batch_rows

    photos = sorted(PHOTOS.glob("*.jpg"))
    values = [photos[i % len(photos)].read_bytes() + i.to_bytes(4, "little") for i in range(60)]
    path = tmp_path / "images.parquet"
    pq.write_table(pa.table({"key": [f"{i:03d}" for i in range(60)], "jpg": values}), path, compression=compression)
    meta = pq.ParquetFile(path).metadata
    pages = parquet_pages.group_pages(path, meta, None, 0)
    assert pages.dictionaries >= sum(map(len, values)) > parquet_pages.SMALL_DICTIONARY
    # the largest image, and the key column's small dictionary page (its whole size, not read for its values)
    assert max(map(len, values)) <= pages.copied <= max(map(len, values)) + 1024
    assert batch_rows(meta.num_rows, pages) == READ_ROWS


def test_lz4_pages_are_inflated_raw_or_in_hadoop_frames() -> None:
    """Parquet's LZ4 is one raw LZ4 block as pyarrow writes it, or Hadoop's frames (a big-endian inflated and
    stored size before each block) as older Java writers did; pyarrow reads both, and so does the page walk."""
    raw = pa.Codec("lz4_raw")
    parts = [bytes(range(256)) * 40, b"values " * 3000]
    framed = b""
    for part in parts:
        block = raw.compress(part).to_pybytes()
        framed += len(part).to_bytes(4, "big") + len(block).to_bytes(4, "big") + block
    whole = b"".join(parts)
    assert bytes(parquet_pages._lz4(framed, len(whole))) == whole
    assert bytes(parquet_pages._lz4(raw.compress(whole).to_pybytes(), len(whole))) == whole
