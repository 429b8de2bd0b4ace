"""Hamming distance over 64-bit codes and an exact radius index (multi-index hashing over numpy). Pure.

`HammingIndex.within(q, r)` returns every stored code within distance r of q — exactly what comparing
against every code would return (a property test checks this) — without comparing against every code:
the 64-bit code is cut into 4 chunks of 16 bits; two codes within distance r agree to within r // 4 bits
on at least one chunk (pigeonhole), so probing each chunk's table with every variant of the query chunk
that has at most r // 4 bits flipped finds every candidate, and the exact distance filters them.
Tables are arrays sorted by chunk value with a 65,536-entry offset table per chunk, so a probe is two
array reads and all of a query's candidates (all chunks at once) are gathered and filtered in a few
vectorised numpy operations. Radii up to 15 probe (up to 3 bits flipped per chunk); wider radii scan.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import combinations
from typing import cast

import numpy as np
import numpy.typing as npt

CHUNKS = 4
WIDTH = 16
_MASK = (1 << WIDTH) - 1
BRUTE_FORCE_BELOW = 2048  # below this many codes a vectorised scan is cheaper than probing
SCAN_CELLS = 1 << 22  # query x code distances computed at once by a scanning `within_many` (4 MB)


_HEX64 = re.compile(r"[0-9a-f]{16}")


def parse_hex64(value: str) -> int:
    """Parse a 16-hex-digit code; raises ValueError on anything else (signs, `0x`, underscores, other
    scripts' digits: what `int(text, 16)` alone would let through)."""
    text = value.strip().lower()
    if _HEX64.fullmatch(text) is None:
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


MAX_FLIPS = 3  # probe chunks with up to 3 flipped bits (radius <= 15); wider radii scan every code
_FLIPS = {k: _flip_masks(k).astype(np.int64) for k in range(MAX_FLIPS + 1)}
_SHIFTS = np.arange(CHUNKS, dtype=np.uint64) * np.uint64(WIDTH)
_BASES = np.arange(CHUNKS, dtype=np.int64) << WIDTH


class HammingIndex:
    """An immutable exact radius index over 64-bit codes; positions are the order the codes were given.

    Layout: for each chunk, the codes sorted by that chunk's value, all chunks in one array (`_sorted`,
    with `_pos` their original positions), and one offset table over (chunk, value) pairs, so that every
    probe of every chunk is answered by one gather and the distance is computed on the gathered codes
    without a second indirection."""

    def __init__(self, codes: Iterable[int] | npt.NDArray[np.uint64] = ()) -> None:
        if isinstance(codes, np.ndarray):
            self.codes = codes.astype(np.uint64)
        elif isinstance(codes, array) and codes.typecode == "Q":
            self.codes = np.frombuffer(codes, dtype=np.uint64).copy()
        else:
            self.codes = np.fromiter((int(c) for c in codes), dtype=np.uint64)
        n = len(self.codes)
        self._probing = n >= BRUTE_FORCE_BELOW
        self._sorted = np.empty(0, dtype=np.uint64)
        self._pos = np.empty(0, dtype=np.int64)
        self._start = np.zeros(1, dtype=np.int64)
        if self._probing:
            sorted_parts, pos_parts, starts = [], [], []
            for i in range(CHUNKS):
                # 16-bit keys: numpy's stable sort of them is a radix sort (~4x faster than on int64)
                part = ((self.codes >> np.uint64(i * WIDTH)) & np.uint64(_MASK)).astype(np.uint16)
                order = np.argsort(part, kind="stable")
                counts = np.bincount(part, minlength=1 << WIDTH)
                start = np.zeros(1 << WIDTH, dtype=np.int64)
                np.cumsum(counts[:-1], out=start[1:])
                sorted_parts.append(self.codes[order])
                pos_parts.append(order.astype(np.int32 if n < 2**31 else np.int64))
                starts.append(start + i * n)
            starts.append(np.array([CHUNKS * n], dtype=np.int64))
            self._sorted = np.concatenate(sorted_parts)
            self._pos = np.concatenate(pos_parts)
            self._start = np.concatenate(starts)

    STATE = ("codes", "sorted", "pos", "start")  # the arrays `state()` gives and `from_state` takes

    def state(self) -> dict[str, npt.NDArray[np.generic]]:
        """The index as arrays (to keep, e.g. memory-mapped files): `from_state` rebuilds it without sorting."""
        return {"codes": self.codes, "sorted": self._sorted, "pos": self._pos, "start": self._start}

    @classmethod
    def from_state(cls, state: dict[str, npt.NDArray[np.generic]]) -> HammingIndex:
        """The index `state()` described; ValueError when the arrays do not fit together."""
        codes, ordered, pos, start = (np.asarray(state[k]) for k in cls.STATE)
        n = len(codes)
        probing = n >= BRUTE_FORCE_BELOW
        lengths = (CHUNKS * n, CHUNKS * n, CHUNKS * (1 << WIDTH) + 1) if probing else (0, 0, 1)
        if (len(ordered), len(pos), len(start)) != lengths:
            raise ValueError("index arrays of another shape")
        if (codes.dtype, ordered.dtype, start.dtype, pos.dtype.kind) != (np.uint64, np.uint64, np.int64, "i"):
            raise ValueError("index arrays of another type")
        index = cls.__new__(cls)
        index.codes, index._sorted = cast(npt.NDArray[np.uint64], codes), cast(npt.NDArray[np.uint64], ordered)
        index._pos, index._start = cast(npt.NDArray[np.int64], pos), cast(npt.NDArray[np.int64], start)
        index._probing = probing
        return index

    def __len__(self) -> int:
        return len(self.codes)

    def code(self, pos: int) -> int:
        return int(self.codes[pos])

    def nbytes(self) -> int:
        return int(self.codes.nbytes + self._sorted.nbytes + self._pos.nbytes + self._start.nbytes)

    def _scans(self, radius: int) -> bool:
        """Whether a query of `radius` compares against every code: a small index, or too wide to probe."""
        return not self._probing or radius // CHUNKS > MAX_FLIPS

    @staticmethod
    def _probes(queries: npt.NDArray[np.uint64], radius: int) -> npt.NDArray[np.int64]:
        """The buckets (chunk, value) to probe for each query, one row a query. Pigeonhole with the remainder:
        for radius = 4k + a, two codes within it agree to within k bits on one of the first a + 1 chunks, or
        to within k - 1 bits on one of the others."""
        k, a = divmod(radius, CHUNKS)
        parts = ((queries[:, None] >> _SHIFTS[None, :]) & np.uint64(_MASK)).astype(np.int64)
        n = len(queries)
        probes = ((parts[:, : a + 1, None] ^ _FLIPS[k]) + _BASES[None, : a + 1, None]).reshape(n, -1)
        if a + 1 < CHUNKS and k >= 1:
            rest = ((parts[:, a + 1 :, None] ^ _FLIPS[k - 1]) + _BASES[None, a + 1 :, None]).reshape(n, -1)
            probes = np.concatenate([probes, rest], axis=1)
        return probes

    def _gather(
        self, queries: npt.NDArray[np.uint64], radius: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(offsets into `_sorted`, query index of each offset) of every stored code that can be within
        `radius` of a query (a code may appear once per chunk it agrees on), for a block of queries at once."""
        probes = self._probes(queries, radius)
        offsets, lengths = self._runs(probes.ravel())
        return offsets, np.repeat(np.repeat(np.arange(len(queries)), probes.shape[1]), lengths)

    def _runs(self, probes: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(offsets into `_sorted` of every code in the buckets `probes` name, each bucket's length)."""
        lo = self._start[probes]
        lengths = self._start[probes + 1] - lo
        total = int(lengths.sum())
        return np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total), lengths

    def within(self, query: int, radius: int) -> list[tuple[int, int]]:
        """(position, distance) of every stored code within `radius`, nearest first then by position."""
        if len(self.codes) == 0:
            return []
        q = np.uint64(query)
        if self._scans(radius):
            d = np.bitwise_count(self.codes ^ q)
            pos = np.flatnonzero(d <= radius)
            dist = d[pos].astype(np.int64)
        else:
            offsets = self._runs(self._probes(np.array([query], dtype=np.uint64), radius).ravel())[0]
            d = np.bitwise_count(self._sorted[offsets] ^ q)
            keep = np.flatnonzero(d <= radius)
            if len(keep) == 0:
                return []
            pos = self._pos[offsets[keep]]
            dist = d[keep].astype(np.int64)
            if len(pos) > 1:  # a code agreeing on several chunks was gathered once per chunk
                pos, first = np.unique(pos, return_index=True)
                dist = dist[first]
        if len(pos) == 1:
            return [(int(pos[0]), int(dist[0]))]
        order = np.lexsort((pos, dist))
        return list(zip(pos[order].tolist(), dist[order].tolist(), strict=True))

    def _blocks(
        self, q_all: npt.NDArray[np.uint64], radius: int, block: int
    ) -> Iterator[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]]:
        """(first query index, query index in the block, position, distance) arrays of the hits within
        `radius`, a block of queries at a time; probed blocks may repeat a hit (once per agreeing chunk)."""
        if self._scans(radius):  # every query against every code, in blocks of rows
            rows = max(1, SCAN_CELLS // max(1, len(self.codes)))
            for b in range(0, len(q_all), rows):
                d = np.bitwise_count(q_all[b : b + rows, None] ^ self.codes[None, :])
                qi, pos = np.nonzero(d <= radius)
                yield b, qi.astype(np.int64), pos.astype(np.int64), d[qi, pos]
            return
        for b in range(0, len(q_all), block):
            q = q_all[b : b + block]
            offsets, qi = self._gather(q, radius)
            d = np.bitwise_count(self._sorted[offsets] ^ q[qi])
            keep = np.flatnonzero(d <= radius)
            yield b, qi[keep], self._pos[offsets[keep]].astype(np.int64), d[keep]

    def within_many(self, queries: Sequence[int], radius: int, block: int = 64) -> Iterator[tuple[int, int, int]]:
        """(query index, position, distance) for every query and every stored code within `radius`: the
        same answers as `within` for each query, computed a block of queries at a time."""
        q_all = np.fromiter((int(q) for q in queries), dtype=np.uint64)
        scanning = self._scans(radius)
        for b, qi, pos, d in self._blocks(q_all, radius, block):
            if scanning:
                yield from zip((qi + b).tolist(), pos.tolist(), d.astype(np.int64).tolist(), strict=True)
                continue
            pairs = np.unique(np.stack([qi, pos, d.astype(np.int64)], axis=1), axis=0)
            for a, p, dist in pairs.tolist():
                yield b + a, p, dist

    def hit_blocks(
        self, queries: npt.NDArray[np.uint64], radius: int, block: int = 64
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """(query index, position) arrays of the stored codes within `radius` of each query, a block of
        queries at a time: `within_many`'s pairs without distances or order, a pair possibly repeated — for
        callers that only ask which pairs exist (connected components), at array speed."""
        for b, qi, pos, _ in self._blocks(np.asarray(queries, dtype=np.uint64), radius, block):
            yield qi + b, pos

    def pairs_within(self, radius: int) -> Iterator[tuple[int, int, int]]:
        """Every stored pair (i < j) within `radius`, with its distance."""
        for j in range(len(self.codes)):
            for i, d in self.within(int(self.codes[j]), radius):
                if i < j:
                    yield i, j, d
