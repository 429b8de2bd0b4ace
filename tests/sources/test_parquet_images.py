"""A Parquet file is told to hold images by the bytes of its first value, whatever the column is named: a binary
column (img2dataset's parquet output) or a struct with a `bytes` field (Hugging Face datasets' Image feature).
Binary columns of other bytes, and crawl records, are not."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import PHOTOS
from consentaudit.sources.directory import DirectorySource
from consentaudit.sources.parquet_images import embedded_images


def test_a_struct_column_of_image_bytes_is_found_after_null_rows(tmp_path: Path) -> None:
    photo = (PHOTOS / "kodak-dc240.jpg").read_bytes()
    rows = [None] * 20 + [{"bytes": photo, "path": "a.jpg"}]
    table = pa.table({"label": list(range(21)), "picture": rows})
    pq.write_table(table, tmp_path / "train-00000-of-00001.parquet", row_group_size=8)
    found = embedded_images(tmp_path / "train-00000-of-00001.parquet")
    assert found is not None and (found.column, found.rows) == ("picture", 21)


def test_binary_columns_of_other_bytes_and_crawl_records_hold_no_images(tmp_path: Path) -> None:
    pq.write_table(pa.table({"embedding": [b"\x00\x01" * 64] * 3, "url": ["a", "b", "c"]}), tmp_path / "e.parquet")
    pq.write_table(pa.table({"key": ["000000000"], "status": ["success"]}), tmp_path / "crawl.parquet")
    (tmp_path / "not.parquet").write_bytes(b"PAR1 but not parquet")
    for name in ("e.parquet", "crawl.parquet", "not.parquet"):
        assert embedded_images(tmp_path / name) is None
    source = DirectorySource(tmp_path)
    assert list(source.items()) == [] and source.skipped == 3  # passed over and counted, as any data file


def test_a_folder_reports_the_images_parquet_beside_its_images(tmp_path: Path) -> None:
    photo = (PHOTOS / "kodak-dc240.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(photo)
    pq.write_table(pa.table({"png": [photo, photo]}), tmp_path / "more.parquet")
    items = {i.path: i for i in DirectorySource(tmp_path).items()}
    assert items["a.jpg"].problem is None
    assert "holds images in its column 'png' (2 rows)" in (items["more.parquet"].problem or "")
