"""The radius index returns exactly what brute force returns."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentaudit.matching.hamming import HammingIndex, distance, format_hex64, parse_hex64

codes = st.integers(min_value=0, max_value=(1 << 64) - 1)


def brute(stored: list[int], q: int, r: int) -> list[tuple[int, int]]:
    return sorted(
        ((i, distance(c, q)) for i, c in enumerate(stored) if distance(c, q) <= r), key=lambda t: (t[1], t[0])
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(codes, max_size=3000), codes, st.integers(min_value=0, max_value=20), st.randoms())
def test_index_equals_brute_force(stored: list[int], query: int, radius: int, rnd: random.Random) -> None:
    # plant near neighbours so that small radii are exercised, not only empty answers
    planted = [query ^ (1 << rnd.randrange(64)) ^ (1 << rnd.randrange(64)) for _ in range(5)]
    stored = stored + planted
    idx = HammingIndex(stored)
    assert idx.within(query, radius) == brute(stored, query, radius)


def test_large_index_probes_and_agrees() -> None:
    rnd = random.Random(7)
    stored = [rnd.getrandbits(64) for _ in range(20000)]
    assert HammingIndex(stored)._probing  # the probing path, not the small-index scan
    stored += [stored[i] ^ (1 << (i % 64)) ^ (1 << ((i * 7) % 64)) for i in range(200)]
    idx = HammingIndex(stored)
    for q in stored[:50]:
        for r in (0, 3, 7, 10, 14):
            assert idx.within(q, r) == brute(stored, q, r)


def test_every_split_of_the_radius_over_the_chunks_is_found() -> None:
    """A code at exactly the radius, its differing bits spread over the four 16-bit chunks in every possible
    way: the probes (k flips on the first a + 1 chunks, k - 1 on the others) must find each one."""
    rnd = random.Random(11)
    q = rnd.getrandbits(64)
    for r in (5, 7, 10, 13, 14, 15):
        planted = []
        for split in itertools.product(range(min(r, 16) + 1), repeat=4):
            if sum(split) != r:
                continue
            code = q
            for chunk, bits in enumerate(split):
                for b in rnd.sample(range(16), bits):
                    code ^= 1 << (16 * chunk + b)
            planted.append(code)
        stored = [rnd.getrandbits(64) for _ in range(5000)] + planted
        idx = HammingIndex(stored)
        assert idx._probing
        found = {p for p, d in idx.within(q, r) if d == r}
        assert found == {5000 + i for i in range(len(planted))}, r


def test_within_many_equals_within() -> None:
    rnd = random.Random(3)
    stored = [rnd.getrandbits(64) for _ in range(5000)]
    stored += [c ^ (1 << (i % 64)) ^ (1 << ((i * 5) % 64)) for i, c in enumerate(stored[:500])]
    idx = HammingIndex(stored)
    queries = stored[:300] + [rnd.getrandbits(64) for _ in range(50)]
    for r in (2, 9, 13, 16):
        got = sorted(idx.within_many(queries, r, block=64))
        want = sorted((qi, p, d) for qi, q in enumerate(queries) for p, d in brute(stored, q, r))
        assert got == want
    codes = stored[:500] + stored[5000:]  # codes and their 2-bit neighbours, below BRUTE_FORCE_BELOW: scanned
    small = HammingIndex(codes)
    assert not small._probing
    for r in (0, 2, 9, 20):
        got = sorted(small.within_many(queries, r))
        assert got == sorted((qi, p, d) for qi, q in enumerate(queries) for p, d in brute(codes, q, r))
        assert {d for _, _, d in got} >= ({0, 2} if r else {0})


def test_pairs_within() -> None:
    idx = HammingIndex([0, 1, 3, 0xFFFF << 40])
    assert sorted(idx.pairs_within(2)) == [(0, 1, 1), (0, 2, 2), (1, 2, 1)]


def test_only_sixteen_hex_digits_parse() -> None:
    assert parse_hex64(" 9131830FFE1BF807\n") == 0x9131830FFE1BF807
    for bad in ("0x131830ffe1bf80", "9131830ffe1bf8_7", "+131830ffe1bf807", "9131830ffe1bf80", "\uff19131830ffe1bf807"):
        with pytest.raises(ValueError, match="16 hex digits"):
            parse_hex64(bad)


@given(codes)
def test_hex_round_trip(c: int) -> None:
    assert parse_hex64(format_hex64(c)) == c


def test_hit_blocks_find_exactly_the_pairs_within_every_radius() -> None:
    """Every radius the index probes (0-15: the chunks' flips split by pigeonhole with its remainder) and
    one it scans, on clustered codes: the pairs equal comparing every query with every code."""
    rnd = random.Random(8)
    centres = [rnd.getrandbits(64) for _ in range(400)]
    stored = [c ^ sum(1 << b for b in rnd.sample(range(64), rnd.randint(0, 9))) for c in centres for _ in range(6)]
    idx = HammingIndex(stored)
    assert idx._probing
    queries = np.array(stored[:600] + [rnd.getrandbits(64) for _ in range(40)], dtype=np.uint64)
    codes = np.array(stored, dtype=np.uint64)
    for r in (*range(16), 17):
        got = set()
        for qi, pos in idx.hit_blocks(queries, r, block=97):
            got |= set(zip(qi.tolist(), pos.tolist(), strict=True))
        qi, pos = np.nonzero(np.bitwise_count(queries[:, None] ^ codes[None, :]) <= r)
        assert got == set(zip(qi.tolist(), pos.tolist(), strict=True)), r
