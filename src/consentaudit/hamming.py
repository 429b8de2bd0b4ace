"""Hamming distance over 64-bit codes and an exact radius index (multi-index hashing). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import combinations

HEX64_LEN = 16


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


def _flips(width: int, max_bits: int) -> list[int]:
    """Every mask of `width` bits with at most `max_bits` bits set, fewest bits first."""
    masks = [0]
    for k in range(1, max_bits + 1):
        for bits in combinations(range(width), k):
            m = 0
            for b in bits:
                m |= 1 << b
            masks.append(m)
    return masks


class HammingIndex:
    """All stored codes within a Hamming radius of a query, without comparing against every code.

    Multi-index hashing (Norouzi et al.): the 64-bit code is cut into `chunks` disjoint parts; two codes
    within distance r agree to within floor(r / chunks) bits on at least one part (pigeonhole), so probing
    each part's table with every variant of that many flipped bits finds every candidate, and the exact
    distance then filters them. The answer is exact, the same as brute force.
    """

    def __init__(self, codes: Iterable[int] = (), chunks: int = 4) -> None:
        if 64 % chunks:
            raise ValueError("chunks must divide 64")
        self.chunks = chunks
        self.width = 64 // chunks
        self._mask = (1 << self.width) - 1
        self._codes: list[int] = []
        self._tables: list[defaultdict[int, list[int]]] = [defaultdict(list) for _ in range(chunks)]
        self._flip_cache: dict[int, list[int]] = {}
        for code in codes:
            self.add(code)

    def __len__(self) -> int:
        return len(self._codes)

    def add(self, code: int) -> int:
        """Store a code; returns its position."""
        pos = len(self._codes)
        self._codes.append(code)
        for i, table in enumerate(self._tables):
            table[(code >> (i * self.width)) & self._mask].append(pos)
        return pos

    def code(self, pos: int) -> int:
        return self._codes[pos]

    def within(self, query: int, radius: int) -> list[tuple[int, int]]:
        """(position, distance) of every stored code within `radius`, nearest first then by position."""
        per_chunk = radius // self.chunks
        flips = self._flip_cache.get(per_chunk)
        if flips is None and per_chunk <= 4:
            flips = self._flip_cache[per_chunk] = _flips(self.width, per_chunk)
        if flips is None or len(flips) * self.chunks * 4 > len(self._codes):  # a scan is cheaper
            hits = ((p, (c ^ query).bit_count()) for p, c in enumerate(self._codes))
            return sorted(((p, d) for p, d in hits if d <= radius), key=lambda t: (t[1], t[0]))
        seen: set[int] = set()
        out: list[tuple[int, int]] = []
        codes = self._codes
        for i, table in enumerate(self._tables):
            part = (query >> (i * self.width)) & self._mask
            for m in flips:
                bucket = table.get(part ^ m)
                if not bucket:
                    continue
                for pos in bucket:
                    if pos in seen:
                        continue
                    seen.add(pos)
                    d = (codes[pos] ^ query).bit_count()
                    if d <= radius:
                        out.append((pos, d))
        out.sort(key=lambda t: (t[1], t[0]))
        return out

    def pairs_within(self, radius: int) -> Iterator[tuple[int, int, int]]:
        """Every stored pair (i < j) within `radius`, with its distance."""
        for j, code in enumerate(self._codes):
            for i, d in self.within(code, radius):
                if i < j:
                    yield i, j, d
