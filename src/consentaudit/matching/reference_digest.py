"""The entries digest of a reference table, from its columns. Pure.

`digest.entries_digest` is the sha256 of a set's sorted text lines (sha256, pHash, dHash, URL, 256-bit
pHash per entry, "-" where absent), so that two copies of a set share it however they were read. A 1M-line
set's lines are neither built nor held: their order is found on the columns and they are formatted as byte
matrices a block at a time.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from consentaudit.digest import entries_digest

if TYPE_CHECKING:
    from consentaudit.matching.reference_table import ReferenceTable

DIGEST_BLOCK = 65536  # lines formatted at once
# a byte's two hex digits as one little-endian uint16 (one gather a byte, viewed back as two characters)
_HEX_PAIRS = np.frombuffer(b"".join(f"{b:02x}".encode() for b in range(256)), dtype="<u2")


def streamed_digest(t: ReferenceTable) -> str:
    """`digest.entries_digest` without holding a million lines: the lines' sort order is found on the
    columns (a hex field is fixed-width and "-" sorts before any hex digit, so comparing lines is comparing
    the fields in turn; a URL field by the rank of "URL\t" among them), then the lines are hashed in
    that order, a block at a time: a run of lines with the same fields present and no URL (a hash list is
    one run) is formatted as one byte matrix, a line with a URL on its own."""
    n = len(t)
    if n == 0:
        return entries_digest(())
    keys: list[npt.NDArray[Any]] = []  # least significant first, for np.lexsort

    def hex_field(values: npt.NDArray[Any], present: npt.NDArray[np.bool_]) -> list[npt.NDArray[Any]]:
        words = np.ascontiguousarray(values).view(">u8") if values.ndim == 2 else values[:, None]
        return [present, *(words[:, k].astype(np.uint64) for k in range(words.shape[1]))]

    urls = [t.urls.get(i) for i in np.flatnonzero(t.urls.present).tolist()]
    rank = {u: r for r, u in enumerate(sorted({*(f"{u}\t" for u in urls), "-\t"}))}
    url_rank = np.full(n, rank["-\t"], dtype=np.int64)
    url_rank[np.asarray(t.urls.present)] = [rank[f"{u}\t"] for u in urls]
    fields = [
        hex_field(t.sha256, t.has_sha256),
        hex_field(t.phash, t.has_phash),
        hex_field(t.dhash, t.has_dhash),
        [url_rank],
        hex_field(t.phash256, t.has_phash256),
    ]
    for parts in reversed(fields):
        keys.extend(reversed(parts))
    order = _lexsort(keys, n)
    del keys, fields
    has = np.stack([t.has_sha256, t.has_phash, t.has_dhash, t.has_phash256], axis=1)
    url_present = np.asarray(t.urls.present)
    h = hashlib.sha256()
    for start in range(0, n, DIGEST_BLOCK):  # a block of lines at a time: memory stays flat
        rows = order[start : start + DIGEST_BLOCK]
        # runs of lines with the same fields present and no URL are formatted as one byte matrix
        shape = has[rows] @ np.array([1, 2, 4, 8]) + 16 * url_present[rows]
        cuts = [0, *(np.flatnonzero(shape[1:] != shape[:-1]) + 1).tolist(), len(rows)]
        for a, b in itertools.pairwise(cuts):
            run = rows[a:b]
            if url_present[run[0]]:
                _hash_lines(t, h, run.tolist(), start + a == 0)
            else:
                data = _line_matrix(t, run, has[run[0]]).tobytes()
                h.update(data[1:] if start + a == 0 else data)  # "\n" before every line but the first
    return h.hexdigest()


def _line_matrix(t: ReferenceTable, rows: npt.NDArray[np.int64], has: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """The lines of `rows` (no URL, the same fields present), each after a "\n", as one uint8 matrix:
    the hex digits looked up a byte at a time."""
    m = len(rows)

    def col(char: bytes) -> npt.NDArray[np.uint8]:
        return np.full((m, 1), char[0], dtype=np.uint8)

    def hexed(raw: npt.NDArray[np.uint8], present: bool) -> npt.NDArray[np.uint8]:
        return _HEX_PAIRS[raw].view(np.uint8).reshape(m, -1) if present else col(b"-")

    def code(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
        return values[rows].astype(">u8").view(np.uint8).reshape(m, 8)

    tab = col(b"\t")
    parts = [
        col(b"\n"),
        hexed(t.sha256[rows], bool(has[0])), tab,
        hexed(code(t.phash), bool(has[1])), tab,
        hexed(code(t.dhash), bool(has[2])), tab,
        col(b"-"), tab,
        hexed(t.phash256[rows], bool(has[3])),
    ]  # fmt: skip
    return np.concatenate(parts, axis=1)


def _hash_lines(t: ReferenceTable, h: Any, rows: list[int], first: bool) -> None:
    """The lines of `rows` one at a time (a line with a URL)."""
    for j, i in enumerate(rows):
        line = "\t".join(
            (
                t.sha256[i].tobytes().hex() if t.has_sha256[i] else "-",
                f"{int(t.phash[i]):016x}" if t.has_phash[i] else "-",
                f"{int(t.dhash[i]):016x}" if t.has_dhash[i] else "-",
                t.urls.get(i) or "-",
                t.phash256[i].tobytes().hex() if t.has_phash256[i] else "-",
            )
        )
        h.update((f"\n{line}" if j or not first else line).encode("utf-8"))


def _lexsort(keys: list[npt.NDArray[Any]], n: int) -> npt.NDArray[np.int64]:
    """np.lexsort(keys) (least significant first) up to the order of rows equal on every key: a key that is
    constant sorts nothing and is left out, and the rows are sorted on the most significant key that varies,
    then only the runs it leaves tied are sorted on all of them (a hash list's first sha256 word ties almost
    never: one argsort, not one pass per key)."""
    varying = [k for k in keys if k[0] != k[-1] or np.any(k != k[0])]
    if not varying:
        return np.arange(n)
    first = varying[-1]
    order = np.argsort(first, kind="stable")
    if len(varying) == 1:
        return order
    ranked = first[order]
    tie = np.flatnonzero(ranked[1:] == ranked[:-1])
    if len(tie):
        tied = np.zeros(n, dtype=bool)
        tied[tie] = tied[tie + 1] = True
        at = np.flatnonzero(tied)  # the tied runs' places, in order: they keep them, sorted within
        rows = order[at]
        order[at] = rows[np.lexsort([k[rows] for k in varying])]
    return order
