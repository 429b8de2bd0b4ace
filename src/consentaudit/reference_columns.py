"""A fingerprint file read by Arrow's JSON reader straight into columns (`ReferenceTable`).

The common large reference set is a hash list: a million lines of `{"path", "sha256", "phash", "dhash",
"phash256"}`. Parsed line by line into Python objects that takes ~12 s; Arrow's multithreaded reader and
vectorised hex decoding take ~2-3 s. Only that plain shape is read here: a file with views or keypoints, a
line without path or URL, or any line that is not well-formed raises `UnusualFile`, and the caller reads
the file line by line, which reports every problem with its line number.
"""

from __future__ import annotations

import binascii
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

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
    if hasattr(pj, "open_json"):  # pyarrow >= 19: a batch at a time
        # the system allocator gives the batches' memory back as they go (measured: 257 MB peak against 420 MB
        # with Arrow's default pool for a 247 MB file)
        batches = iter(pj.open_json(path, read_options=read, parse_options=parse, memory_pool=pa.system_memory_pool()))
    else:
        batches = iter(pj.read_json(path, read_options=read, parse_options=parse).to_batches())
    name, header, parts = set_name or path.stem, {}, []
    for batch in batches:
        found, part = _batch(pa.Table.from_batches([batch]), header_kind, pa, pc)
        if found is not None:
            header = found
            name = set_name or header.get("name") or name
        parts.append(part)
    if not parts:
        raise UnusualFile("an empty file")
    return name, concat(parts).renamed(name), header


def _batch(table: Any, header_kind: str, pa: Any, pc: Any) -> tuple[dict[str, str] | None, ReferenceTable]:
    """(the last header line in it, the entries) of one batch of lines."""
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

    kinds = column("kind")
    is_header = pc.fill_null(pc.equal(kinds, header_kind), False)
    if pc.any(pc.and_(pc.invert(is_header), pc.is_valid(kinds))).as_py():
        raise UnusualFile("a line of another kind")
    header = None
    for k in np.flatnonzero(is_header.to_numpy(zero_copy_only=False)).tolist():
        header = {c: v for c in table.column_names if isinstance(v := table.column(c)[k].as_py(), str)}
    rows = pc.invert(is_header)

    def kept(c: Any) -> Any:
        return c.filter(rows)

    sha, sha_ok = _hex(kept(column("sha256")), 64, pc, pa)
    ph, ph_ok = _hex(kept(column("phash")), 16, pc, pa)
    dh, dh_ok = _hex(kept(column("dhash")), 16, pc, pa)
    p256, p256_ok = _hex(kept(column("phash256")), 64, pc, pa)
    url = pc.utf8_trim_whitespace(kept(column("url")))
    url_ok = pc.fill_null(pc.greater(pc.utf8_length(url), 0), False).to_numpy(zero_copy_only=False)
    has_hash = sha_ok | ph_ok
    if not (has_hash | url_ok).all():
        raise UnusualFile("an entry without sha256, phash or url")
    ids = pc.coalesce(kept(column("path")), kept(column("url")))
    if ids.null_count or not pc.all(pc.greater(pc.utf8_length(ids), 0)).as_py():
        raise UnusualFile("an entry named by neither path nor url")
    url_kept = url_ok & ~has_hash
    detail = np.full(len(sha_ok), NO_DETAIL, dtype=np.int8)
    if "detail" in table.column_names:
        d = kept(table.column("detail").combine_chunks())
        if not pa.types.is_null(d.type):
            values = d.to_numpy(zero_copy_only=False)
            ok = d.is_valid().to_numpy(zero_copy_only=False)
            values = np.where(ok, values, -1).astype(np.int64)
            good = (values >= 0) & (values <= 100)
            detail = np.where(good, values, NO_DETAIL).astype(np.int8)
    out = ReferenceTable(
        set_names=("",),
        set_code=np.zeros(len(sha_ok), dtype=np.int32),
        ref_ids=_strings(ids, np.ones(len(sha_ok), dtype=bool), pa),
        urls=_strings(url, url_kept, pa),
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


def _hex(col: Any, width: int, pc: Any, pa: Any) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """(rows of width/2 bytes, present) of a column of hex codes: a code of another length counts as absent
    (as the line reader does), a code of the right length with a non-hex digit is a problem."""
    n = len(col)
    right = pc.fill_null(pc.equal(pc.utf8_length(col), width), False)
    present = right.to_numpy(zero_copy_only=False)
    out = np.zeros((n, width // 2), dtype=np.uint8)
    if not present.any():
        return out, present
    codes = col.filter(right).cast(pa.large_string())
    offsets = np.frombuffer(codes.buffers()[1], dtype=np.int64)[codes.offset : codes.offset + len(codes) + 1]
    data = np.frombuffer(codes.buffers()[2], dtype=np.uint8)
    chars = data[offsets[0] : offsets[-1]]
    if len(chars) != width * len(codes):
        raise UnusualFile("codes of mixed widths")
    try:
        raw = binascii.unhexlify(chars.tobytes())
    except binascii.Error:
        raise UnusualFile("a code with a non-hex digit") from None
    out[present] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width // 2)
    return out, present


def _strings(col: Any, present: npt.NDArray[np.bool_], pa: Any) -> Strings:
    col = col.cast(pa.large_string()).fill_null("")
    keep = pa.array(present)
    col = col.filter(keep) if not present.all() else col
    lengths = np.zeros(len(present), dtype=np.int64)
    if len(col):
        offs = np.frombuffer(col.buffers()[1], dtype=np.int64)[col.offset : col.offset + len(col) + 1]
        lengths[present] = np.diff(offs)
        data = np.frombuffer(col.buffers()[2], dtype=np.uint8)[offs[0] : offs[-1]].copy()
    else:
        data = np.zeros(0, dtype=np.uint8)
    offsets = np.zeros(len(present) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Strings(data, offsets, present.copy())
