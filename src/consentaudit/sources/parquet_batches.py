"""A Parquet file's rows decoded a batch at a time, within bounds on memory and on the file's decoded bytes.

A row decodes to far more than the file stores where its values point into a dictionary: each row gets its own
copy of the value. The batch size is set from the row group's pages as their headers give them (parquet_pages.py)
rather than from the footer's claims, and the bytes decoded from one file are counted (`DecodedBudget`): past
DECODED_FLOOR and DECODED_RATIO times the file's size, the rest of it is not read (`ParquetBomb`). Images barely
compress, so a file of images decodes to about its size; the bound is far above that.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consentaudit.sources.parquet_pages import GroupPages, group_pages

READ_ROWS = 32  # rows of images decoded at a time, at most
RECORD_ROWS = 4096  # ... of crawl records or URLs
BATCH_BYTES = 32 << 20  # ... and about this many bytes of them: a file of large images is read fewer rows at once
DECODED_FLOOR = 1 << 30  # a file's rows may decode to this many bytes, whatever its size ...
DECODED_RATIO = 64  # ... or to this many times its size: past both, the rest of it is not read


class ParquetBomb(Exception):
    """Reading on would take far more memory or time than the file holds."""


def batch_rows(rows: int, pages: GroupPages, most: int = READ_ROWS) -> int:
    """How many of a row group's `rows` to decode at a time: `most`, fewer where a row decodes to much (its share
    of the group's inflated pages, or a value of each dictionary), so that a batch holds about BATCH_BYTES
    whatever the images' size."""
    per_row = max(pages.inflated // max(1, rows), pages.dictionaries)
    return max(1, min(most, BATCH_BYTES // max(1, per_row)))


@dataclass
class DecodedBudget:
    """The bytes that one file's rows may decode to, counted batch by batch."""

    limit: int
    used: int = 0

    @classmethod
    def of(cls, path: Path) -> DecodedBudget:
        return cls(max(DECODED_FLOOR, DECODED_RATIO * path.stat().st_size))

    def spend(self, batch: Any) -> None:
        self.used += decoded_bytes(batch)
        if self.used > self.limit:
            raise ParquetBomb(
                f"its rows decode to more than {self.limit} bytes (values repeated from a dictionary?): "
                f"the rest is not read"
            )


def group_batches(
    pf: Any,
    path: Path,
    group: int,
    columns: Sequence[str] | None,
    budget: DecodedBudget | None,
    most: int = READ_ROWS,
) -> Iterator[Any]:
    """The rows of one row group (of `columns`; all when None) as record batches of `batch_rows` rows (at most
    `most`), each counted against `budget`. ParquetBomb, at once, when its pages would inflate far past what the
    file holds, and while reading when the budget is spent; pyarrow's own errors for damage."""
    pages = group_pages(path, pf.metadata, columns, group)
    if pages.why:
        raise ParquetBomb(pages.why)
    rows = batch_rows(pf.metadata.row_group(group).num_rows, pages, most)
    batches = pf.iter_batches(batch_size=rows, row_groups=[group], columns=columns, use_threads=False)
    return batches if budget is None else _counted(batches, budget)


def _counted(batches: Iterator[Any], budget: DecodedBudget) -> Iterator[Any]:
    for batch in batches:
        budget.spend(batch)
        yield batch


def records(batch: Any, names: Sequence[str], most: int) -> list[dict[str, Any] | None]:
    """Each row of a batch as a dict of the columns `names`, or None for a row whose text and bytes come to more
    than `most` (a crawl record past the size of a sidecar that is read: such a row is not copied out)."""
    import numpy as np
    import pyarrow as pa

    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for name in names:
        if (found := lengths(batch.column(name))) is not None:
            sizes += found
    kept = sizes <= most
    chosen = batch.select(list(names))
    if kept.all():
        return list(chosen.to_pylist())
    out: list[dict[str, Any] | None] = [None] * batch.num_rows
    for k, row in zip(np.flatnonzero(kept), chosen.filter(pa.array(kept)).to_pylist(), strict=True):
        out[int(k)] = row
    return out


def decoded_bytes(batch: Any) -> int:
    """What a batch's values come to once copied out: a dictionary-encoded column of text or bytes counts each
    row's value, not the dictionary once."""
    total = 0
    for column in batch.columns:
        found = lengths(column) if _dictionary(column.type) else None
        total += int(column.nbytes) if found is None else int(found.sum()) + int(column.indices.nbytes)
    return total


def lengths(column: Any) -> Any:
    """Each row's byte length (0 for a null) of a column of text or bytes, dictionary-encoded or not, as a NumPy
    array, without copying a value out; None for a column of another type."""
    import numpy as np
    import pyarrow.compute as pc

    if _dictionary(column.type):
        if not text(column.type.value_type):
            return None
        found = pc.binary_length(column.dictionary).take(column.indices)
    elif text(column.type):
        found = pc.binary_length(column)
    else:
        return None
    return found.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)


def text(kind: Any) -> bool:
    """Whether an Arrow type holds text or bytes, a value per row."""
    import pyarrow as pa

    return bool(
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
    )


def _dictionary(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_dictionary(kind))
