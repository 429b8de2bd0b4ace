"""A fingerprint file read by Arrow's JSON reader straight into columns (`ReferenceTable`).

The common large reference set is a hash list: a million lines of `{"path", "sha256", "phash", "dhash",
"phash256"}`. Parsed line by line into Python objects that takes ~12 s; Arrow's multithreaded reader and
vectorised hex decoding on NumPy views of its buffers take ~1.3 s. Only that plain shape is read here: a
file with views or keypoints, a line without path or URL, or any line that is not well-formed raises
`UnusualFile`, and the caller reads the file line by line, which reports every problem with its line number.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from consentaudit.heap import give_back_free_memory
from consentaudit.matching.reference_table import NO_DETAIL, ReferenceTable, Strings, concat


class UnusualFile(Exception):
    """Not a plain hash list this reader takes; read the file line by line."""


FIELDS = {"kind", "schema_version", "name", "description", "license", "algorithm", "path", "url", "sha256",
          "phash", "dhash", "phash256", "detail"}  # fmt: skip


def read_columns(
    path: Path, set_name: str | None = None, header_kind: str = "consentaudit-fingerprints"
) -> tuple[str, ReferenceTable, dict[str, str]]:
    """(name, entries, header) of a plain hash list; raises UnusualFile for anything else."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pj
    except ImportError:
        raise UnusualFile("pyarrow is not installed") from None
    try:
        return _read(path, set_name, header_kind, pa, pc, pj)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UnusualFile(str(exc)) from None


BLOCK = 4 << 20  # bytes of JSON per batch: a 1M-line file is read in ~60 pieces, not held whole


def _read(
    path: Path, set_name: str | None, header_kind: str, pa: Any, pc: Any, pj: Any
) -> tuple[str, ReferenceTable, dict[str, str]]:
    parse = pj.ParseOptions(newlines_in_values=False)
    read = pj.ReadOptions(block_size=BLOCK)
    # Arrow's default pool (mimalloc) keeps what it frees; the system allocator gives each batch's memory
    # back (`give_back_free_memory` after every batch): a 247 MB file peaks at ~320 MB, not ~420
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        if hasattr(pj, "open_json"):  # pyarrow >= 19: a batch at a time
            batches = iter(pj.open_json(path, read_options=read, parse_options=parse))
        else:
            batches = iter(pj.read_json(path, read_options=read, parse_options=parse).to_batches())
        name, header, parts = set_name or path.stem, {}, []
        for batch in batches:
            found, part = _batch(pa.Table.from_batches([batch]), header_kind, pa, pc)
            del batch
            give_back_free_memory()
            if found is not None:
                header = found
                name = set_name or header.get("name") or name
            parts.append(part)
    finally:
        pa.set_memory_pool(pool)
    if not parts:
        raise UnusualFile("an empty file")
    table = concat(parts).renamed(name)
    del parts
    give_back_free_memory()
    return name, table, header


def _batch(table: Any, header_kind: str, pa: Any, pc: Any) -> tuple[dict[str, str] | None, ReferenceTable]:
    """(the last header line in it, the entries) of one batch of lines. The columns are read as NumPy views
    of Arrow's buffers: converting Arrow values to Python or NumPy objects (`to_numpy`, a Python scalar in a
    compute call) makes pyarrow import pandas, 0.7 s of a first use."""
    if not FIELDS.issuperset(table.column_names):
        raise UnusualFile(f"fields this reader does not take: {sorted(set(table.column_names) - FIELDS)}")
    for col in table.column_names:
        kind = table.schema.field(col).type
        if not (pa.types.is_string(kind) or pa.types.is_null(kind) or (col == "detail" and pa.types.is_integer(kind))):
            raise UnusualFile(f"{col}: {kind}")

    def column(name: str) -> Any:
        if name not in table.column_names:
            return pa.nulls(table.num_rows, pa.string())
        c = table.column(name).combine_chunks()
        return c.cast(pa.string()) if pa.types.is_null(c.type) else c

    kinds = _Text.of(column("kind"), pa)
    is_header = kinds.equals(header_kind)
    if (kinds.valid & ~is_header).any():
        raise UnusualFile("a line of another kind")
    header = None
    for k in np.flatnonzero(is_header).tolist():
        header = {c: v for c in table.column_names if isinstance(v := table.column(c)[k].as_py(), str)}
    rows = ~is_header

    sha, sha_ok = _hex(_Text.of(column("sha256"), pa), rows, 64)
    ph, ph_ok = _hex(_Text.of(column("phash"), pa), rows, 16)
    dh, dh_ok = _hex(_Text.of(column("dhash"), pa), rows, 16)
    p256, p256_ok = _hex(_Text.of(column("phash256"), pa), rows, 64)
    url = _Text.of(pc.utf8_trim_whitespace(column("url")), pa)
    url_ok = (url.valid & (url.lengths() > 0))[rows]
    has_hash = sha_ok | ph_ok
    if not (has_hash | url_ok).all():
        raise UnusualFile("an entry without sha256, phash or url")
    ids = _Text.of(pc.coalesce(column("path"), column("url")), pa)
    if not (ids.valid & (ids.lengths() > 0))[rows].all():
        raise UnusualFile("an entry named by neither path nor url")
    detail = np.full(len(sha_ok), NO_DETAIL, dtype=np.int8)
    if "detail" in table.column_names:
        d = table.column("detail").combine_chunks()
        if pa.types.is_string(d.type):  # "50" is no detail to the line reader; let it decide
            raise UnusualFile("detail: a string")
        if not pa.types.is_null(d.type):
            values, ok = _ints(d.cast(pa.int64()))
            good = ok & (values >= 0) & (values <= 100)
            detail = np.where(good, values, NO_DETAIL).astype(np.int8)[rows]
    n = len(sha_ok)
    out = ReferenceTable(
        set_names=("",),
        set_code=np.zeros(n, dtype=np.int32),
        ref_ids=ids.strings(rows, np.ones(n, dtype=bool)),
        urls=url.strings(rows, url_ok & ~has_hash),
        sha256=sha,
        has_sha256=sha_ok,
        phash=ph.view(">u8").ravel().astype(np.uint64),
        has_phash=ph_ok,
        dhash=dh.view(">u8").ravel().astype(np.uint64),
        has_dhash=dh_ok,
        phash256=p256,
        has_phash256=p256_ok,
        detail=detail,
    )
    return header, out


def _bits(buffer: Any, offset: int, n: int) -> npt.NDArray[np.bool_]:
    """An Arrow validity bitmap (least significant bit first) as booleans; all True where there is none."""
    if buffer is None:
        return np.ones(n, dtype=bool)
    return np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")[offset : offset + n].astype(bool)


def _ints(col: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """(values, present) of an int64 Arrow array."""
    n = len(col)
    validity, values = col.buffers()[:2]
    if values is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    return np.frombuffer(values, dtype=np.int64)[col.offset : col.offset + n], _bits(validity, col.offset, n)


@dataclass(frozen=True)
class _Text:
    """A string column as NumPy views of Arrow's buffers: value i is data[offsets[i]:offsets[i + 1]]."""

    offsets: npt.NDArray[np.int64]  # n + 1
    data: npt.NDArray[np.uint8]
    valid: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, col: Any, pa: Any) -> _Text:
        col = col.cast(pa.large_string())
        n = len(col)
        validity, offsets, data = col.buffers()
        valid = _bits(validity, col.offset, n) if col.null_count else np.ones(n, dtype=bool)
        if offsets is None:
            return cls(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8), valid)
        chars = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
        return cls(np.frombuffer(offsets, dtype=np.int64)[col.offset : col.offset + n + 1], chars, valid)

    def lengths(self) -> npt.NDArray[np.int64]:
        """Bytes of each value (0 for a null)."""
        return np.where(self.valid, np.diff(self.offsets), 0)

    def matrix(self, at: npt.NDArray[np.bool_], width: int) -> npt.NDArray[np.uint8]:
        """The values at `at`, each `width` bytes long, as rows of a matrix."""
        starts = self.offsets[:-1][at]
        if len(starts) and bool((np.diff(starts) == width).all()):  # one run of the buffer (the usual case)
            run: npt.NDArray[np.uint8] = self.data[starts[0] : starts[0] + width * len(starts)]
            return run.reshape(-1, width)
        rows: npt.NDArray[np.uint8] = self.data[starts[:, None] + np.arange(width)]
        return rows

    def equals(self, text: str) -> npt.NDArray[np.bool_]:
        raw = np.frombuffer(text.encode(), dtype=np.uint8)
        same: npt.NDArray[np.bool_] = self.valid & (self.lengths() == len(raw))
        if same.any():
            same[same] = (self.matrix(same, len(raw)) == raw).all(axis=1)
        return same

    def ascii(self) -> bool:
        span = self.data[self.offsets[0] : self.offsets[-1]]
        return not len(span) or int(span.max()) < 0x80

    def strings(self, rows: npt.NDArray[np.bool_], present: npt.NDArray[np.bool_]) -> Strings:
        """The values of `rows` as Strings, those where `present` (over the rows) is False left out."""
        starts = self.offsets[:-1][rows]
        lengths = np.where(present, self.lengths()[rows], 0)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if len(lengths) and bool(present.all()) and np.array_equal(starts[1:], starts[:-1] + lengths[:-1]):
            data = self.data[starts[0] : starts[0] + offsets[-1]].copy()  # one run of the buffer
        else:
            data = self.data[np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]))]
        return Strings(data, offsets, present.copy())


def _hex(col: _Text, rows: npt.NDArray[np.bool_], width: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """(rows of width/2 bytes, present) of a column of hex codes, over `rows`: a code of another length
    counts as absent (as the line reader does), a code of the right length with a non-hex digit is a
    problem. Lengths are in characters for the line reader; a code column with a non-ASCII byte is left to it."""
    if not col.ascii():
        raise UnusualFile("a code with a non-ASCII character")
    right = col.valid & (col.lengths() == width)
    present = right[rows]
    out = np.zeros((len(present), width // 2), dtype=np.uint8)
    if not present.any():
        return out, present
    try:
        raw = binascii.unhexlify(col.matrix(right & rows, width).tobytes())
    except binascii.Error:
        raise UnusualFile("a code with a non-hex digit") from None
    out[present] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width // 2)
    return out, present
