"""A Parquet file's rows decoded a batch at a time, within bounds on memory and on the file's decoded bytes.

A row decodes to far more than the file stores where its values point into a dictionary (pyarrow copies the value
into every row and list element that points to it) or come from a run-length encoded run (a billion null list
elements are a few bytes). So: a batch's rows are set from the row group's pages as their headers give them
(parquet_pages.py: a row's share, and the largest value of each dictionary), not from the footer's claims
(`batch_rows`); list elements of dictionary-encoded text are read as the indices they are stored as
(`open_parquet`), as a row may hold any number of them; each row's decoded size is
read from Arrow's buffers (`row_bytes`), and the bytes one file's rows decode to are counted (`DecodedBudget`):
past DECODED_FLOOR and DECODED_RATIO times the file's size, the rest of it is not read (`ParquetBomb`), nor is a
row group whose values alone would pass it. Images barely compress, so a file of images decodes to about its
size; the bound is far above that.
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
    """How many of a row group's `rows` to decode at a time: `most`, fewer where a row decodes to much, so that a
    batch holds about BATCH_BYTES whatever the images' size: a row's share of the group's pages or of its values'
    least size, and the largest value of each dictionary, which pyarrow copies into every row that points to it
    (a list's elements are read as indices: `open_parquet`)."""
    per_row = max(max(pages.inflated, pages.least) // max(1, rows), pages.copied)
    return max(1, min(most, BATCH_BYTES // max(1, per_row)))


@dataclass
class DecodedBudget:
    """The bytes that one file's rows may decode to, counted batch by batch."""

    limit: int
    used: int = 0

    @classmethod
    def of(cls, path: Path) -> DecodedBudget:
        return cls(max(DECODED_FLOOR, DECODED_RATIO * path.stat().st_size))

    def spend(self, batch: Any) -> int:
        """How many of the batch's first rows fit in what is left of the budget (all of them, or the budget is
        spent), counted spent."""
        import numpy as np

        within = np.cumsum(decoded_rows(batch)) + self.used
        fit = int(np.searchsorted(within, self.limit, side="right"))
        self.used = int(within[-1]) if len(within) else self.used
        return fit

    def spent(self) -> ParquetBomb:
        return ParquetBomb(
            f"its rows decode to more than {self.limit} bytes (values repeated from a dictionary?): "
            f"the rest is not read"
        )

    def expect(self, pages: GroupPages) -> None:
        """ParquetBomb, before a row group is decoded, when its values alone (a run-length encoded run of a
        billion list elements is a few bytes) would spend the budget."""
        if self.used + pages.least > self.limit:
            self.used = self.limit + 1  # spent: nothing after is read either
            raise ParquetBomb(
                f"its rows would decode to more than {self.limit} bytes ({pages.least} bytes of values in a row "
                f"group): the rest is not read"
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
    `most`), each counted against `budget`. ParquetBomb, at once, when its
    pages would inflate far past what the file holds, and while reading when the budget is spent (after a batch
    of the rows that fit); pyarrow's own errors for damage."""
    pages = group_pages(path, pf.metadata, columns, group)
    if pages.why:
        raise ParquetBomb(pages.why)
    if budget is not None:
        budget.expect(pages)
    rows = batch_rows(pf.metadata.row_group(group).num_rows, pages, most)
    batches = pf.iter_batches(batch_size=rows, row_groups=[group], columns=columns, use_threads=False)
    return batches if budget is None else _counted(batches, budget)


def _counted(batches: Iterator[Any], budget: DecodedBudget) -> Iterator[Any]:
    for batch in batches:
        fit = budget.spend(batch)
        if fit < batch.num_rows:
            if fit:
                yield batch.slice(0, fit)
            raise budget.spent()
        yield batch


def open_parquet(path: Path) -> Any:
    """A ParquetFile whose dictionary-encoded list and map elements of text or bytes are read as the dictionary
    indices they are stored as: pyarrow would copy the value out for every element that points to it, and a row
    of a thousand references to one megabyte is a gigabyte, however few rows a batch holds. A flat column's copies
    are bounded by `batch_rows` (a row copies one value of it), and it is read plain: read as indices, a column
    that fell back to plain pages is hashed into a dictionary, and the dictionary comes again with every batch
    (a 3,000-image shard took 2.9 s to list instead of 0.25 s)."""
    import pyarrow.parquet as pq

    plain = pq.ParquetFile(path)
    meta, schema = plain.metadata, plain.schema
    repeated = [
        c
        for c in range(len(schema))
        if schema.column(c).physical_type == "BYTE_ARRAY" and schema.column(c).max_repetition_level > 0
    ]
    leaves = [
        schema.column(c).path
        for c in repeated  # only these: a file of many row groups has many chunks to look at
        if any(meta.row_group(g).column(c).has_dictionary_page for g in range(meta.num_row_groups))
    ]
    if not leaves:
        return plain
    plain.close()
    return pq.ParquetFile(path, read_dictionary=leaves)


def record_rows(path: Path, columns: Sequence[str] | None, most: int) -> Iterator[dict[str, Any] | None]:
    """Each row of a Parquet file (of `columns`; all when None) as `records` gives it, a bounded batch at a time
    and the bytes the file's rows decode to counted: ParquetBomb, after the rows that fit, past them."""
    pf = open_parquet(path)
    budget = DecodedBudget.of(path)
    names = list(columns) if columns is not None else pf.schema_arrow.names
    for group in range(pf.metadata.num_row_groups):
        for batch in group_batches(pf, path, group, columns, budget, RECORD_ROWS):
            yield from records(batch, names, most)


def records(batch: Any, names: Sequence[str], most: int) -> list[dict[str, Any] | None]:
    """Each row of a batch as a dict of the columns `names`, or None for a row whose values come to more than
    `most` bytes (a crawl record past the size of a sidecar that is read: such a row is not copied out)."""
    import numpy as np

    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for name in names:
        sizes += row_bytes(batch.column(name))
    chosen = batch.select(list(names))
    if (sizes <= most).all():
        return list(chosen.to_pylist())
    return [chosen.slice(k, 1).to_pylist()[0] if size <= most else None for k, size in enumerate(sizes)]


def decoded_rows(batch: Any) -> Any:
    """What each row of a batch comes to once copied out (NumPy int64): a value of a dictionary counts for every
    row (and list element) that points to it, not once."""
    import numpy as np

    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        sizes += row_bytes(column)
    return sizes


def lengths(column: Any) -> Any:
    """Each row's byte length (0 for a null) of a column of text or bytes, dictionary-encoded or not, as a NumPy
    array, without copying a value out; None for a column of another type."""
    import pyarrow.compute as pc

    if _dictionary(column.type):
        if not _text(column.type.value_type):
            return None
        found = pc.binary_length(column.dictionary).take(column.indices)
    elif _text(column.type):
        found = pc.binary_length(column)
    else:
        return None
    return _integers(found)


def row_bytes(column: Any) -> Any:
    """Each row's size once its values are copied out, as a NumPy array of int64: text and bytes by their length
    (a dictionary's value for each row that points to it), lists and maps by their elements, structs by their
    fields, other values by their width."""
    import numpy as np
    import pyarrow as pa

    kind = column.type
    if (found := lengths(column)) is not None:
        return found
    if _dictionary(kind):
        each = np.append(row_bytes(column.dictionary), 0)  # a null index: the 0 at the end
        return each[_integers(column.indices, null=-1)]
    if pa.types.is_struct(kind):
        out = np.zeros(len(column), dtype=np.int64)
        for child in column.flatten():
            out += row_bytes(child)
        return out
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        ends = _integers(column.offsets)  # into the whole child, whatever the slice
        within = _cumulative(row_bytes(column.values) + 4)  # each element's offset or slot too
        return (within[ends[1:]] - within[ends[:-1]]).astype(np.int64)
    if pa.types.is_fixed_size_list(kind):
        size = kind.list_size
        starts = (column.offset + np.arange(len(column), dtype=np.int64)) * size
        within = _cumulative(row_bytes(column.values) + 4)
        return (within[starts + size] - within[starts]).astype(np.int64)
    width = getattr(kind, "bit_width", 8) if pa.types.is_primitive(kind) else 8
    return np.full(len(column), max(1, width // 8), dtype=np.int64)


def _integers(array: Any, null: int = 0) -> Any:
    """An Arrow array of integers as NumPy int64, a null as `null`, read from its buffers: pyarrow's own
    conversion (`to_numpy(zero_copy_only=False)`, `fill_null`) imports pandas, 0.3 s of a scan."""
    import numpy as np
    import pyarrow as pa

    n = len(array)
    if not n:
        return np.zeros(0, dtype=np.int64)
    width = array.type.bit_width // 8
    kind = np.dtype(f"<{'u' if pa.types.is_unsigned_integer(array.type) else 'i'}{width}")
    out = np.frombuffer(array.buffers()[1], dtype=kind, count=n, offset=array.offset * width).astype(np.int64)
    if array.null_count:
        bits = np.unpackbits(np.frombuffer(array.buffers()[0], dtype=np.uint8), bitorder="little")
        out[bits[array.offset : array.offset + n] == 0] = null
    return out


def _cumulative(sizes: Any) -> Any:
    import numpy as np

    return np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))


def _text(kind: Any) -> bool:
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
