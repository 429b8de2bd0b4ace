"""Images embedded in Parquet: img2dataset's `--output_format parquet` writes each sample's image bytes in a
column named by its encode format (`jpg`, `png`, `webp`), and Hugging Face datasets' Image feature keeps them in
a struct column with a `bytes` field. consentaudit does not read images out of Parquet; a file that holds them
must never pass as a file of crawl records or as data beside the images, so it is told here by the bytes of its
first image: any binary column, or struct column with a binary `bytes` field, whose first value begins as an
image does (`looks_like_image`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consentaudit.sources.item import HEAD_BYTES, looks_like_image

LOOKED_AT = 64  # rows read to find a column's first value that is not null


@dataclass(frozen=True)
class EmbeddedImages:
    column: str
    rows: int  # rows of the file (each may hold an image; a failed download's holds none)

    def problem(self, name: str) -> str:
        """Why the file is a finding (in a folder) or an error (given as the dataset)."""
        return (
            f"Parquet file {name!r} holds images in its column {self.column!r} ({self.rows} rows): images inside "
            "Parquet are not audited; write them out as files or tar shards to audit them (img2dataset "
            "--output_format webdataset or files)"
        )


def embedded_images(path: Path) -> EmbeddedImages | None:
    """The column that holds images in a Parquet file, or None: none does, or the file cannot be read as
    Parquet (a crawl-records parquet that cannot be read is reported where it is read for its rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        for field in pf.schema_arrow:
            kind = field.type
            if pa.types.is_struct(kind):
                sub = kind.get_field_index("bytes")
                if sub < 0 or not _binary(kind.field(sub).type):
                    continue
            elif not _binary(kind):
                continue
            head = _first_value(pf, field.name)
            if head is not None and looks_like_image(head[:HEAD_BYTES]):
                return EmbeddedImages(field.name, pf.metadata.num_rows)
    except Exception:  # not Parquet, damaged, cut short: pyarrow raises several types
        return None
    return None


def _binary(kind: object) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def _first_value(pf: object, column: str) -> bytes | None:
    """The first non-null value of a binary column (or a struct column's `bytes`) among its first rows."""
    seen = 0
    for batch in pf.iter_batches(batch_size=16, columns=[column]):  # type: ignore[attr-defined]
        for value in batch.column(0).to_pylist():
            if isinstance(value, dict):
                value = value.get("bytes")
            if isinstance(value, bytes) and value:
                return value
        seen += batch.num_rows
        if seen >= LOOKED_AT:
            break
    return None
