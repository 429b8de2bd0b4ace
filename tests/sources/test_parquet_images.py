"""Parquet shards: a Parquet file is told to hold images by the bytes of its first value, whatever the column is
named: a binary column (img2dataset's parquet output) or a struct with a `bytes` field (Hugging Face datasets'
Image feature). Each row that holds an image is audited; binary columns of other bytes, and crawl records, are
not images."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import FIXTURES, PHOTOS
from consentaudit.audit import run_audit
from consentaudit.request import AuditRequest
from consentaudit.sources import read_item
from consentaudit.sources.archive_reader import ArchiveReader
from consentaudit.sources.directory import DirectorySource
from consentaudit.sources.parquet_images import ParquetUnreadable, embedded_images
from consentaudit.store import ScanStore
from consentaudit.vocab import Verdict


def _hf_shard(path: Path, photos: list[Path], nulls_every: int = 4) -> dict[str, str]:
    """A Hugging Face style shard (`image` struct of bytes and path, a label), a null image every few rows,
    written in row groups of 5 rows; returns the sha256 of each photo by its row's file name."""
    images, labels, want = [], [], {}
    for row in range(len(photos) * 2):
        if row % nulls_every == 1:
            images.append(None)
        else:
            photo = photos[row % len(photos)]
            data = photo.read_bytes()
            images.append({"bytes": data, "path": photo.name})
            want[f"{row:09d}{photo.suffix}"] = hashlib.sha256(data).hexdigest()
        labels.append(row % 3)
    pq.write_table(pa.table({"image": images, "label": labels}), path, row_group_size=5)
    return want


def test_a_struct_column_of_image_bytes_is_found_after_null_rows(tmp_path: Path) -> None:
    photo = (PHOTOS / "kodak-dc240.jpg").read_bytes()
    rows = [None] * 20 + [{"bytes": photo, "path": "a.jpg"}]
    table = pa.table({"label": list(range(21)), "picture": rows})
    pq.write_table(table, tmp_path / "train-00000-of-00001.parquet", row_group_size=8)
    found = embedded_images(tmp_path / "train-00000-of-00001.parquet")
    assert found is not None and (found.column, found.rows, found.struct) == ("picture", 21, True)


def test_binary_columns_of_other_bytes_and_crawl_records_hold_no_images(tmp_path: Path) -> None:
    pq.write_table(pa.table({"embedding": [b"\x00\x01" * 64] * 3, "url": ["a", "b", "c"]}), tmp_path / "e.parquet")
    pq.write_table(pa.table({"key": ["000000000"], "status": ["success"]}), tmp_path / "crawl.parquet")
    (tmp_path / "not.parquet").write_bytes(b"PAR1 but not parquet")
    for name in ("e.parquet", "crawl.parquet"):
        assert embedded_images(tmp_path / name) is None
    with pytest.raises(ParquetUnreadable, match="not readable as Parquet"):
        embedded_images(tmp_path / "not.parquet")
    source = DirectorySource(tmp_path)
    assert list(source.items()) == [] and source.skipped == 3  # passed over and counted, as any data file
    assert [w.split(":")[0] for w in source.warnings] == ["not.parquet"]  # ...and the one not read, said


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_row_with_an_image_is_audited_from_its_own_bytes(tmp_path: Path, jobs: int) -> None:
    """Rows across row groups, in units that start and end inside them, on one or two processes: each finding
    has the sha256 of the bytes in its row, and the rows with no image are not images."""
    photos = sorted(PHOTOS.glob("*.jpg"))[:9]
    dataset = tmp_path / "ds"
    dataset.mkdir()
    want = _hf_shard(dataset / "train-00000-of-00001.parquet", photos)
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    report = run_audit(AuditRequest(dataset=dataset, jobs=jobs, batch_size=3), store)
    got = {f.path.split("/", 1)[1]: f.sha256 for f in report.findings}
    assert got == want and report.summary.images == len(want)
    assert all(f.path.startswith("train-00000-of-00001.parquet/") for f in report.findings)
    assert Verdict.UNREADABLE.value not in {f.verdict.value for f in report.findings if f.phash}


def test_rows_are_read_in_any_order(tmp_path: Path) -> None:
    photos = sorted(PHOTOS.glob("*.jpg"))[:9]
    path = tmp_path / "shard.parquet"
    _hf_shard(path, photos)
    items = [i for i in DirectorySource(tmp_path).items()]
    assert len(items) > 10
    order = [*items[::-1], *items[::3], *items]  # backwards, skipping, forwards: across row groups each way
    with ArchiveReader() as reader:
        read = [hashlib.sha256(read_item(i, archives=reader)).digest() for i in order]
    alone = [hashlib.sha256(read_item(i)).digest() for i in order]
    assert read == alone
    assert len(set(read)) == len(photos)


def test_a_parquet_shard_cut_short_or_damaged_keeps_the_scan_going(tmp_path: Path) -> None:
    """A `.parquet` cut short (its footer gone) cannot be told to hold images: it is counted as skipped and the
    report says it was not read. A shard damaged from its first row is an unreadable finding; one damaged
    further on keeps the rows of the row groups before the damage, and the shard itself is a finding that names
    the rows not listed. The other images are audited. A row that is not there, or holds no image, is an
    OSError that says so."""
    photos = sorted(PHOTOS.glob("*.jpg"))[:4]
    dataset = tmp_path / "ds"
    dataset.mkdir()
    _hf_shard(dataset / "a.parquet", photos)
    data = (dataset / "a.parquet").read_bytes()
    (dataset / "cut.parquet").write_bytes(data[: len(data) // 2])
    (dataset / "loose.jpg").write_bytes(photos[0].read_bytes())
    source = DirectorySource(dataset)
    items = list(source.items())
    assert source.skipped == 1 and {i.path.split("/")[0] for i in items} == {"a.parquet", "loose.jpg"}
    assert len(source.warnings) == 1 and source.warnings[0].startswith("cut.parquet: not readable as Parquet")
    rows = [i for i in items if i.offset is not None]
    with pytest.raises(OSError, match="row 1 holds no image"):
        read_item(replace(rows[0], offset=1))
    with pytest.raises(OSError, match="row 999 not found"):
        read_item(replace(rows[0], offset=999))

    groups = pq.ParquetFile(dataset / "a.parquet").metadata
    second = groups.row_group(1).column(0).data_page_offset  # where the second row group's images start
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    for start, expect in ((4, "whole"), (second, "after")):
        damaged = bytearray(data)
        for at in range(start, footer, 61):  # bytes all through the pages from `start`; the footer stays
            damaged[at] ^= 0xFF
        (dataset / "a.parquet").write_bytes(bytes(damaged))
        listed = {i.path: i for i in DirectorySource(dataset).items()}
        report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / (expect + '.db')}"))
        verdicts = {f.path: f.verdict for f in report.findings}
        assert verdicts.pop("loose.jpg") != Verdict.UNREADABLE
        assert verdicts.pop("a.parquet") == Verdict.UNREADABLE
        if expect == "whole":
            assert "cannot be read" in (listed["a.parquet"].problem or "") and not verdicts
        else:
            assert f"rows 5-{groups.num_rows - 1} not read" in (listed["a.parquet"].problem or "")
            assert set(verdicts) == {i.path for i in rows if i.offset is not None and i.offset < 5}


def test_a_hugging_face_datasets_shard_is_audited_image_by_image(tmp_path: Path) -> None:
    """fixtures/huggingface: what `datasets` writes (its Image column embedded, as `push_to_hub` does). Each
    row is audited from its own bytes, which are the photo its `path` names."""
    shard = FIXTURES / "huggingface" / "train-00000-of-00001.parquet"
    rows = pq.read_table(shard, columns=["image"]).column("image").to_pylist()
    report = run_audit(AuditRequest(dataset=shard.parent, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    got = {f.path: f.sha256 for f in report.findings if f.phash}
    want = {
        f"{shard.name}/{row:09d}.jpg": hashlib.sha256((PHOTOS / r["path"]).read_bytes()).hexdigest()
        for row, r in enumerate(rows)
    }
    assert got == want and len(want) == 4


def test_rows_of_large_images_are_decoded_a_few_at_a_time(tmp_path: Path) -> None:
    """The rows decoded at once hold about BATCH_BYTES, whatever the images' size: a row group of large
    images is read a row or two at a time, one of small images READ_ROWS at a time."""
    from consentaudit.sources.parquet_batches import BATCH_BYTES, READ_ROWS, batch_rows
    from consentaudit.sources.parquet_pages import group_pages

    big = [os.urandom(BATCH_BYTES // 2) for _ in range(6)]  # distinct, as images are
    small = [os.urandom(1000) for _ in range(100)]
    pq.write_table(pa.table({"jpg": big, "key": list("abcdef")}), tmp_path / "big.parquet", compression="none")
    pq.write_table(pa.table({"jpg": small}), tmp_path / "small.parquet", compression="none")
    for name, want in (("big", (1, 2)), ("small", (READ_ROWS,))):
        meta = pq.ParquetFile(tmp_path / f"{name}.parquet").metadata
        assert batch_rows(meta.num_rows, group_pages(tmp_path / f"{name}.parquet", meta, None, 0)) in want


def test_a_shard_gone_or_rewritten_after_it_was_told_to_hold_images_is_a_finding(tmp_path: Path) -> None:
    from consentaudit.sources.crawl_records import ListingLog
    from consentaudit.sources.parquet_images import list_parquet

    photos = sorted(PHOTOS.glob("*.jpg"))[:2]
    shard = tmp_path / "a.parquet"
    _hf_shard(shard, photos)
    embedded = embedded_images(shard)
    assert embedded is not None
    shard.write_bytes(b"not parquet any more")
    (item,) = list_parquet(shard, "a.parquet", embedded, ListingLog())
    assert item.path == "a.parquet" and (item.problem or "").startswith("Parquet shard unreadable")
    shard.unlink()
    (item,) = list_parquet(shard, "a.parquet", embedded, ListingLog())
    assert "FileNotFoundError" in (item.problem or "")


def _bomb_value(photo: Path) -> bytes:
    """A JPEG followed by zeros past parquet_pages.BOMB_BYTES: a real image to a decoder, a few kilobytes stored."""
    from consentaudit.sources.parquet_pages import BOMB_BYTES

    return photo.read_bytes() + bytes(BOMB_BYTES + (8 << 20))


def test_a_row_group_whose_pages_inflate_to_gigabytes_is_not_read(tmp_path: Path) -> None:
    """pyarrow allocates each page at the size its header gives: a 270 KB zstd shard of eight such rows took 3 GB
    to list. Its page headers are read first, and a row group whose pages inflate past BOMB_BYTES to more than
    BOMB_RATIO times their stored size is passed as a damaged one is: the rows before it are audited, the shard
    is a finding naming the rows not read. A shard whose first row group is one cannot be told to hold images:
    it is an unreadable finding, never a data file passed over. Nothing of either bomb is decoded."""
    from consentaudit.sources.parquet_pages import inflating_page

    photos = sorted(PHOTOS.glob("*.jpg"))[:3]
    dataset = tmp_path / "ds"
    dataset.mkdir()
    values = [p.read_bytes() for p in photos] + [_bomb_value(photos[0])]
    table = pa.table({"key": [f"{i:03d}" for i in range(len(values))], "jpg": pa.array(values, pa.binary())})
    pq.write_table(table, dataset / "late.parquet", compression="zstd", row_group_size=3)
    pq.write_table(table.slice(3), dataset / "first.parquet", compression="zstd")
    (dataset / "loose.jpg").write_bytes(photos[1].read_bytes())
    assert (dataset / "late.parquet").stat().st_size < 2 << 20
    meta = pq.ParquetFile(dataset / "late.parquet").metadata
    assert inflating_page(dataset / "late.parquet", meta, groups=[0]) is None
    assert "decompression bomb" in (inflating_page(dataset / "late.parquet", meta, groups=[1]) or "")

    decoded: list[int] = []
    real = pq.ParquetFile.iter_batches

    def counting(self: pq.ParquetFile, *a: object, **kw: object) -> object:
        decoded.extend(kw.get("row_groups") or [])  # type: ignore[arg-type]
        return real(self, *a, **kw)  # type: ignore[arg-type]

    mp = pytest.MonkeyPatch()
    mp.setattr(pq.ParquetFile, "iter_batches", counting)
    try:
        report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    finally:
        mp.undo()
    found = {f.path: f for f in report.findings}
    assert set(found) == {
        "late.parquet",
        "late.parquet/000.jpg",
        "late.parquet/001.jpg",
        "late.parquet/002.jpg",
        "first.parquet",
        "loose.jpg",
    }
    assert found["late.parquet"].verdict == found["first.parquet"].verdict == Verdict.UNREADABLE
    assert "rows 3-3 not read" in found["late.parquet"].reasons[0].detail
    assert "decompression bomb" in found["late.parquet"].reasons[0].detail
    assert "decompression bomb" in found["first.parquet"].reasons[0].detail
    assert all(found[f"late.parquet/00{i}.jpg"].verdict != Verdict.UNREADABLE for i in range(3))
    assert decoded and 1 not in decoded  # late.parquet's second group, first.parquet's only one: never decoded
    # the rows read before are the photos' own bytes
    assert found["late.parquet/001.jpg"].sha256 == hashlib.sha256(values[1]).hexdigest()


def test_crawl_records_and_url_lists_whose_pages_inflate_to_gigabytes_are_not_read(tmp_path: Path) -> None:
    """The same bound on img2dataset's crawl-record parquet beside a shard (a warning in the report: opt-outs
    may be in it) and on the column a Parquet URL list is read from (an input error naming it)."""
    from consentaudit.errors import InputError
    from consentaudit.reference_files import read_url_list
    from consentaudit.sources.parquet_pages import BOMB_BYTES

    records = pa.table(
        {"key": ["000000000"], "url": ["https://example.org/a.jpg"], "caption": ["x" * (BOMB_BYTES + 1)]}
    )
    pq.write_table(records, tmp_path / "urls.parquet", compression="zstd")  # only its url column is read
    assert [e.url for e in read_url_list(tmp_path / "urls.parquet", "urls")] == ["https://example.org/a.jpg"]
    big = pa.table({"key": ["000000000"], "url": ["x" * (BOMB_BYTES + 1)]})
    pq.write_table(big, tmp_path / "big-url.parquet", compression="zstd")
    with pytest.raises(InputError, match="decompression bomb"):
        read_url_list(tmp_path / "big-url.parquet", "urls")

    shards = FIXTURES / "img2dataset" / "webdataset"
    dataset = tmp_path / "shards"
    shutil.copytree(shards, dataset)
    crawl = pq.read_table(dataset / "00000.parquet")
    caption = pa.array(["x" * (BOMB_BYTES + 1)] + [None] * (crawl.num_rows - 1), pa.string())
    pq.write_table(
        crawl.set_column(crawl.schema.get_field_index("caption"), "caption", caption),
        dataset / "00000.parquet",
        compression="zstd",
    )
    report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    assert any(
        "crawl records in 00000.parquet not read" in e and "decompression bomb" in e for e in report.header.errors
    )


def _dictionary_shard(path: Path, photo: Path, rows: int, pad: int, keep_type: bool) -> bytes:
    """A shard of `rows` + 1 rows whose rows after the first all point to one dictionary value, a real JPEG followed
    by `pad` zero bytes: a few kilobytes stored, `rows` copies of the value decoded. `keep_type` stores the Arrow
    schema, so that pyarrow reads the column back as a dictionary; without it, as plain bytes (each row a copy)."""
    value = photo.read_bytes() + bytes(pad)
    dictionary = pa.array([photo.read_bytes(), value], pa.binary())
    column = pa.DictionaryArray.from_arrays(pa.array([0] + [1] * rows, pa.int32()), dictionary)
    table = pa.table({"key": [f"{i:03d}" for i in range(rows + 1)], "jpg": column})
    pq.write_table(table, path, compression="zstd", store_schema=keep_type)
    return value


def _scan_with_floor(dataset: Path, db: Path, floor: int) -> tuple[Any, list[int]]:
    """The report of a one-job scan with parquet_batches.DECODED_FLOOR lowered to `floor` (so that a bound of a
    gigabyte is tested with megabytes), and the bytes each record batch pyarrow gave held."""
    from consentaudit.sources import parquet_batches

    held: list[int] = []
    real = pq.ParquetFile.iter_batches

    def measured(self: pq.ParquetFile, *a: object, **kw: object) -> object:
        for batch in real(self, *a, **kw):  # type: ignore[arg-type]
            held.append(batch.nbytes)
            yield batch

    mp = pytest.MonkeyPatch()
    mp.setattr(pq.ParquetFile, "iter_batches", measured)
    mp.setattr(parquet_batches, "DECODED_FLOOR", floor)
    try:
        return run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{db}")), held
    finally:
        mp.undo()


@pytest.mark.parametrize("keep_type", [False, True])
def test_rows_repeating_a_dictionary_value_are_decoded_a_few_at_a_time_and_not_past_a_bound(
    tmp_path: Path, keep_type: bool
) -> None:
    """A 133 KB shard of 2,001 rows pointing to one 60 MB value took 745 s and 6.4 GB to scan: the footer gave
    ~31 KB a row, so 32 rows were decoded at once, each a copy of the value, and every copy was hashed. Now a
    batch holds about BATCH_BYTES of rows, each counted at the dictionary's largest value, and a file's rows
    decode to DECODED_FLOOR (here lowered to 48 MB) or DECODED_RATIO times its size at most: the rows within it
    are audited, the rest is a finding naming them. A table written from Arrow
    keeps the dictionary's type: such a column of images is audited too (it passed as a non-image file)."""
    from consentaudit.sources import parquet_batches

    dataset = tmp_path / "ds"
    dataset.mkdir()
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    pad, rows = 4 << 20, 60
    value = _dictionary_shard(dataset / "d.parquet", photo, rows, pad, keep_type)
    assert (dataset / "d.parquet").stat().st_size < 256 << 10

    report, held = _scan_with_floor(dataset, tmp_path / "db", 48 << 20)
    assert held and max(held) <= parquet_batches.BATCH_BYTES + len(value)  # not 32 copies of the value
    found = {f.path: f for f in report.findings}
    shard = found.pop("d.parquet")
    assert shard.verdict == Verdict.UNREADABLE
    detail = shard.reasons[0].detail
    assert "decode to more than" in detail
    read = len(found)
    assert f"rows {read}-{rows} not read" in detail
    decoded = len(photo.read_bytes()) + (read - 1) * len(value)  # the rows audited: as many as the bound holds
    assert decoded <= 48 << 20 < decoded + len(value)
    assert found["d.parquet/000.jpg"].sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert {found[f"d.parquet/{i:03d}.jpg"].sha256 for i in range(1, read)} == {hashlib.sha256(value).hexdigest()}


def test_a_crawl_record_past_the_sidecar_limit_is_not_copied_out(tmp_path: Path) -> None:
    """A row's other columns are its crawl record, read as a tar's `<key>.json` is: one past MAX_SIDECAR_BYTES is
    not read (a 20 MB caption that 500 rows point to was 500 copies in memory, 15 GB with the images), the row
    keeps its key and is audited, and the report says how many records were left."""
    from consentaudit.sources.item import MAX_SIDECAR_BYTES

    dataset = tmp_path / "ds"
    dataset.mkdir()
    photos = sorted(PHOTOS.glob("*.jpg"))[:4]
    caption = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 0, 0], pa.int32()), pa.array(["a photo", "x" * (MAX_SIDECAR_BYTES + 1)])
    )
    table = pa.table(
        {
            "key": [f"k{i}" for i in range(4)],
            "url": [f"https://example.org/{i}.jpg" for i in range(4)],
            "caption": caption,
            "jpg": [p.read_bytes() for p in photos],
        }
    )
    pq.write_table(table, dataset / "c.parquet", compression="zstd", store_schema=False)
    report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    found = {f.path: f for f in report.findings}
    assert set(found) == {f"c.parquet/k{i}.jpg" for i in range(4)}
    urls = {i: dict(found[f"c.parquet/k{i}.jpg"].metadata).get("crawl.url") for i in range(4)}
    assert urls == {
        0: "https://example.org/0.jpg",
        1: None,
        2: "https://example.org/2.jpg",
        3: "https://example.org/3.jpg",
    }
    assert any("1 row(s) whose crawl record" in e and "c.parquet" in e for e in report.header.errors)
    assert found["c.parquet/k1.jpg"].sha256 == hashlib.sha256(photos[1].read_bytes()).hexdigest()


def test_crawl_records_and_url_lists_past_their_bounds_are_reported(tmp_path: Path) -> None:
    """img2dataset's crawl-record parquet beside a shard and a Parquet URL list are read a bounded batch at a time:
    a record past MAX_SIDECAR_BYTES is left with a warning, a URL past MAX_URL_BYTES is an input error naming its
    row, and a file whose rows decode past the bound (a caption or URL that every row points to) is not read."""
    from consentaudit.errors import InputError
    from consentaudit.reference_files import MAX_URL_BYTES, read_url_list
    from consentaudit.sources import parquet_batches
    from consentaudit.sources.crawl_records import parquet_rows
    from consentaudit.sources.item import MAX_SIDECAR_BYTES

    long_url = "https://example.org/" + "x" * MAX_URL_BYTES
    pq.write_table(pa.table({"url": ["https://example.org/a.jpg", long_url]}), tmp_path / "long.parquet")
    with pytest.raises(InputError, match="row 2: a url of over"):
        read_url_list(tmp_path / "long.parquet", "urls")
    url = pa.DictionaryArray.from_arrays(pa.array([0] * 200, pa.int32()), pa.array(["https://e.org/" + "y" * 500_000]))
    pq.write_table(pa.table({"url": url}), tmp_path / "same.parquet", compression="zstd", store_schema=False)
    mp = pytest.MonkeyPatch()
    mp.setattr(parquet_batches, "DECODED_FLOOR", 16 << 20)
    try:
        with pytest.raises(InputError, match="decode to more than"):
            read_url_list(tmp_path / "same.parquet", "urls")
    finally:
        mp.undo()

    dataset = tmp_path / "shards"
    shutil.copytree(FIXTURES / "img2dataset" / "webdataset", dataset)
    crawl = pq.read_table(dataset / "00000.parquet")
    at, n = crawl.schema.get_field_index("caption"), crawl.num_rows
    keys = [str(k) for k in crawl.column("key").to_pylist()]

    def records_with(caption: pa.Array) -> tuple[list[str], dict[str, str]]:
        pq.write_table(crawl.set_column(at, "caption", caption), dataset / "00000.parquet", compression="zstd")
        warnings: list[str] = []
        return warnings, parquet_rows(dataset / "00000.tar", warnings.append)

    warnings, rows = records_with(crawl.column("caption").combine_chunks())
    assert not warnings and sorted(rows) == sorted(keys)
    long: list[str | None] = [None] * n
    long[3] = "x" * (MAX_SIDECAR_BYTES + 1)
    warnings, rows = records_with(pa.array(long, pa.string()))
    assert warnings == [f"crawl records in 00000.parquet: 1 row(s) over {MAX_SIDECAR_BYTES} bytes not read"]
    assert sorted(rows) == sorted(keys[:3] + keys[4:])
    shared = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array(["z" * 900_000]))
    mp = pytest.MonkeyPatch()
    mp.setattr(parquet_batches, "DECODED_FLOOR", 1 << 20)
    try:
        warnings, rows = records_with(shared)
    finally:
        mp.undo()
    assert not rows and len(warnings) == 1
    assert "crawl records in 00000.parquet not read" in warnings[0] and "decode to more than" in warnings[0]


def test_list_elements_pointing_to_one_dictionary_value_are_not_copied_out(tmp_path: Path) -> None:
    """A list column whose elements all point to one 1 MB dictionary value decodes to 100 MB a row however few
    rows a batch holds (a 129 KB shard of 20 such rows took 7.4 GB and 18 s to scan; of 1,000 elements a row,
    10.6 GB before pyarrow ran out of memory). Such elements are read as the dictionary indices they are stored
    as, each row's size is counted from them, and the rows past the bound are a finding; no batch holds the
    copies. A run of twenty million null elements (a few bytes stored) is not decoded at all: its page headers
    count the values."""

    dataset = tmp_path / "ds"
    dataset.mkdir()
    photos = sorted(PHOTOS.glob("*.jpg"))[:6]
    n, per = len(photos), 100
    values = pa.DictionaryArray.from_arrays(pa.array([0] * (n * per), pa.int32()), pa.array(["x" * (1 << 20)]))
    tags = pa.ListArray.from_arrays(pa.array([i * per for i in range(n + 1)], pa.int32()), values)
    table = pa.table({"key": [f"{i:03d}" for i in range(n)], "tags": tags, "jpg": [p.read_bytes() for p in photos]})
    pq.write_table(table, dataset / "tags.parquet", compression="zstd", store_schema=False)
    nulls = pa.ListArray.from_arrays(pa.array([0, 20_000_000], pa.int32()), pa.nulls(20_000_000, pa.int32()))
    table = pa.table({"key": ["000"], "mask": nulls, "jpg": [photos[0].read_bytes()]})
    pq.write_table(table, dataset / "nulls.parquet", compression="zstd")
    assert (dataset / "tags.parquet").stat().st_size < 1 << 20 and (dataset / "nulls.parquet").stat().st_size < 1 << 20

    report, held = _scan_with_floor(dataset, tmp_path / "db", 64 << 20)
    found = {f.path: f for f in report.findings}
    assert found["tags.parquet"].verdict == found["nulls.parquet"].verdict == Verdict.UNREADABLE
    assert "rows 0-5 not read" in found["tags.parquet"].reasons[0].detail
    assert "decode to more than" in found["tags.parquet"].reasons[0].detail
    assert "would decode to more than" in found["nulls.parquet"].reasons[0].detail
    assert held and max(held) < 16 << 20  # each batch: the 1 MB dictionary and indices, never 100 MB a row


def test_a_parquet_shard_is_scanned_without_importing_pandas(tmp_path: Path) -> None:
    """Sizing a shard's rows reads Arrow's buffers: pyarrow's conversions to NumPy (`to_numpy`, `fill_null`)
    import pandas, 0.3 s of a 1,000-image scan. The shard has every kind of column sizing reads: a Hugging Face
    image struct, a list of text, a dictionary-encoded caption, and a run of nulls."""
    import subprocess
    import sys

    if importlib.util.find_spec("pandas") is None:
        pytest.skip("pandas is not installed: nothing could import it")
    dataset = tmp_path / "ds"
    dataset.mkdir()
    photos = sorted(PHOTOS.glob("*.jpg"))[:4]
    table = pa.table(
        {
            "image": [{"bytes": p.read_bytes(), "path": p.name} for p in photos] + [None],
            "tags": [["a", "b"], None, [], ["c"], ["d"]],
            "caption": ["same"] * 5,
            "url": [f"https://example.org/{i}.jpg" for i in range(5)],
        }
    )
    pq.write_table(table, dataset / "train.parquet", row_group_size=2)
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('pandas' in sys.modules))\n"
        "from consentaudit.cli.app import main\n"
        f"sys.argv = ['consentaudit', 'scan', {str(dataset)!r}, '--db', 'sqlite:///{tmp_path / 'a.db'}', '-q',\n"
        f"    '--fail-on', 'none', '-o', {str(tmp_path / 'a.json')!r}]\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out[-1:] == ["False"], out
    report = json.loads((tmp_path / "a.json").read_text())
    assert sorted(f["path"] for f in report["findings"]) == [f"train.parquet/{i:09d}.jpg" for i in range(4)]
