"""Hamming distance over 64-bit codes and an exact radius index (multi-index hashing over numpy). Pure.

`HammingIndex.within(q, r)` returns every stored code within distance r of q — exactly what comparing
against every code would return (a property test checks this) — without comparing against every code:
the 64-bit code is cut into 4 chunks of 16 bits; two codes within distance r agree to within r // 4 bits
on at least one chunk (pigeonhole), so probing each chunk's table with every variant of the query chunk
that has at most r // 4 bits flipped finds every candidate, and the exact distance filters them.
Tables are arrays sorted by chunk value with a 65,536-entry offset table, so a probe is two array reads
and all of a query's candidates are gathered and filtered in a few vectorised numpy operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import combinations

import numpy as np
import numpy.typing as npt

HEX64_LEN = 16
CHUNKS = 4
WIDTH = 16
_MASK = (1 << WIDTH) - 1
BRUTE_FORCE_BELOW = 2048  # below this many codes a vectorised scan is cheaper than probing


def parse_hex64(value: str) -> int:
    """Parse a 16-hex-digit code; raises ValueError on anything else."""
    text = value.strip().lower()
    if len(text) != HEX64_LEN or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"expected 16 hex digits, got {value!r}")
    return int(text, 16)


def format_hex64(code: int) -> str:
    return f"{code:016x}"


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _flip_masks(max_bits: int) -> npt.NDArray[np.uint16]:
    masks = [0]
    for k in range(1, max_bits + 1):
        for bits in combinations(range(WIDTH), k):
            m = 0
            for b in bits:
                m |= 1 << b
            masks.append(m)
    return np.array(masks, dtype=np.uint16)


_FLIPS = {k: _flip_masks(k) for k in range(3)}


class HammingIndex:
    """An immutable exact radius index over 64-bit codes; positions are the order the codes were given."""

    def __init__(self, codes: Iterable[int] = ()) -> None:
        self.codes = np.fromiter((int(c) for c in codes), dtype=np.uint64)
        n = len(self.codes)
        self._order: list[npt.NDArray[np.int64]] = []
        self._start: list[npt.NDArray[np.int64]] = []
        if n >= BRUTE_FORCE_BELOW:
            for i in range(CHUNKS):
                part = ((self.codes >> np.uint64(i * WIDTH)) & np.uint64(_MASK)).astype(np.int64)
                order = np.argsort(part, kind="stable")
                counts = np.bincount(part, minlength=1 << WIDTH)
                start = np.zeros((1 << WIDTH) + 1, dtype=np.int64)
                np.cumsum(counts, out=start[1:])
                self._order.append(order)
                self._start.append(start)

    def __len__(self) -> int:
        return len(self.codes)

    def code(self, pos: int) -> int:
        return int(self.codes[pos])

    def nbytes(self) -> int:
        return int(self.codes.nbytes + sum(o.nbytes + s.nbytes for o, s in zip(self._order, self._start, strict=True)))

    def _candidates(self, query: int, per_chunk: int) -> npt.NDArray[np.int64]:
        flips = _FLIPS[per_chunk].astype(np.int64)
        gathered = []
        for i in range(CHUNKS):
            part = (query >> (i * WIDTH)) & _MASK
            probes = part ^ flips
            lo = self._start[i][probes]
            hi = self._start[i][probes + 1]
            lengths = hi - lo
            total = int(lengths.sum())
            if total == 0:
                continue
            offsets = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
            gathered.append(self._order[i][offsets])
        if not gathered:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(gathered)  # may repeat a position: deduplicated after the distance filter

    def within(self, query: int, radius: int) -> list[tuple[int, int]]:
        """(position, distance) of every stored code within `radius`, nearest first then by position."""
        if len(self.codes) == 0:
            return []
        per_chunk = radius // CHUNKS
        if not self._order or per_chunk > 2:
            cand = np.arange(len(self.codes))
        else:
            cand = self._candidates(query, per_chunk)
            if len(cand) == 0:
                return []
        d = np.bitwise_count(self.codes[cand] ^ np.uint64(query))
        keep = d <= radius
        pos, first = np.unique(cand[keep], return_index=True)
        dist = d[keep][first].astype(np.int64)
        order = np.lexsort((pos, dist))
        return [(int(p), int(x)) for p, x in zip(pos[order], dist[order], strict=True)]

    def within_many(self, queries: Sequence[int], radius: int, block: int = 64) -> Iterator[tuple[int, int, int]]:
        """(query index, position, distance) for every query and every stored code within `radius`: the
        same answers as `within` for each query, computed a block of queries at a time."""
        q_all = np.fromiter((int(q) for q in queries), dtype=np.uint64)
        per_chunk = radius // CHUNKS
        for b in range(0, len(q_all), block):
            q = q_all[b : b + block]
            if not self._order or per_chunk > 2:
                for k, qv in enumerate(q):
                    for p, d in self.within(int(qv), radius):
                        yield b + k, p, d
                continue
            flips = _FLIPS[per_chunk].astype(np.int64)
            qi_parts, pos_parts = [], []
            for i in range(CHUNKS):
                part = ((q >> np.uint64(i * WIDTH)) & np.uint64(_MASK)).astype(np.int64)
                probes = (part[:, None] ^ flips[None, :]).ravel()
                lo = self._start[i][probes]
                lengths = self._start[i][probes + 1] - lo
                total = int(lengths.sum())
                if total == 0:
                    continue
                offsets = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
                pos_parts.append(self._order[i][offsets])
                qi_parts.append(np.repeat(np.repeat(np.arange(len(q)), len(flips)), lengths))
            if not pos_parts:
                continue
            pos = np.concatenate(pos_parts)
            qi = np.concatenate(qi_parts)
            d = np.bitwise_count(self.codes[pos] ^ q[qi])
            keep = d <= radius
            pairs = np.unique(np.stack([qi[keep], pos[keep], d[keep].astype(np.int64)], axis=1), axis=0)
            for a, p, dist in pairs:
                yield b + int(a), int(p), int(dist)

    def pairs_within(self, radius: int) -> Iterator[tuple[int, int, int]]:
        """Every stored pair (i < j) within `radius`, with its distance."""
        for j in range(len(self.codes)):
            for i, d in self.within(int(self.codes[j]), radius):
                if i < j:
                    yield i, j, d
