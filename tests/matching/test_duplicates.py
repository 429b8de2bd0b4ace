"""Duplicate groups equal the connected components of "same bytes, or pHash / mirrored pHash within the
threshold of a pHash, an image's upright pHash counting as one of its pHashes", computed here by comparing
every pair."""

from __future__ import annotations

import random

import numpy as np
import pytest

from consentaudit.matching.duplicates import _unique_rows, duplicate_groups
from consentaudit.matching.hamming import BRUTE_FORCE_BELOW

Row = tuple[str, str | None, str | None, str | None, str | None]


def _rows(rng: random.Random, clusters: int, per_cluster: int, spread: int) -> list[Row]:
    """Clusters of codes a few flipped bits from a centre; some copies share bytes (same sha256 and
    hashes), some images are unreadable (no pHash), some mirrored pHashes land near another cluster, and some
    images carry an upright pHash (an EXIF-turned picture), near their own cluster or another."""
    rows: list[Row] = []
    centres = [rng.getrandbits(64) for _ in range(clusters)]
    for c, centre in enumerate(centres):
        for k in range(per_cluster):
            code = centre
            for bit in rng.sample(range(64), rng.randint(0, spread)):
                code ^= 1 << bit
            mirror = rng.getrandbits(64)
            if rng.random() < 0.05:  # a mirrored picture: its mirror code is near another centre
                mirror = centres[rng.randrange(clusters)] ^ (1 << rng.randrange(64))
            name = f"c{c:04d}/{k:04d}.jpg"
            upright = None
            if rng.random() < 0.08:  # a turned picture: its upright code near a centre, its pHash anywhere
                upright = f"{centres[rng.randrange(clusters)] ^ (1 << rng.randrange(64)):016x}"
                code = rng.getrandbits(64)
            if rng.random() < 0.03:
                rows.append((name, f"sha-{c}-{k}", None, None, None))
                continue
            phash, mirror_hex = f"{code:016x}", (f"{mirror:016x}" if rng.random() < 0.9 else None)
            rows.append((name, f"sha-{c}-{k}", phash, mirror_hex, upright))
            if rng.random() < 0.05:  # the same bytes under another name
                rows.append((name.replace(".jpg", "-copy.jpg"), f"sha-{c}-{k}", phash, mirror_hex, upright))
    rng.shuffle(rows)
    return rows


def _by_every_pair(rows: list[Row], threshold: int) -> list[list[str]]:
    hashed = [r for r in rows if r[2]]
    n = len(hashed)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        parent[max(find(a), find(b))] = min(find(a), find(b))

    ph = np.array([int(r[2], 16) for r in hashed], dtype=np.uint64)  # type: ignore[arg-type]
    mi = np.array([int(r[3], 16) if r[3] else 0 for r in hashed], dtype=np.uint64)
    up = np.array([int(r[4], 16) if r[4] else 0 for r in hashed], dtype=np.uint64)
    has_mirror = np.array([r[3] is not None for r in hashed])
    has_up = np.array([r[4] is not None for r in hashed])
    near = np.zeros((n, n), dtype=bool)
    for mine, have in ((ph, np.ones(n, dtype=bool)), (up, has_up), (mi, has_mirror)):  # from each code ...
        for theirs, they_have in ((ph, np.ones(n, dtype=bool)), (up, has_up)):  # ... to each pHash
            near |= (np.bitwise_count(mine[:, None] ^ theirs[None, :]) <= threshold) & have[:, None] & they_have
    assert has_up.any()
    for a, b in zip(*np.nonzero(near), strict=True):
        union(int(a), int(b))
    shas: dict[str, int] = {}
    for i, r in enumerate(hashed):
        if r[1] in shas:
            union(shas[r[1]], i)
        shas.setdefault(r[1], i)  # type: ignore[arg-type]
    groups: dict[int, list[str]] = {}
    for i, r in enumerate(hashed):
        groups.setdefault(find(i), []).append(r[0])
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


@pytest.mark.parametrize(
    ("clusters", "per_cluster", "spread", "threshold"),
    [
        (60, 8, 6, 9),  # a few hundred codes: the index scans
        (300, 9, 7, 9),  # over BRUTE_FORCE_BELOW codes: the index probes chunks
        (40, 60, 8, 9),  # dense clusters: many pairs per query
        (200, 12, 10, 18),  # a radius too wide to probe: scanned in blocks
    ],
)
def test_groups_are_the_components_of_every_pair(clusters: int, per_cluster: int, spread: int, threshold: int) -> None:
    rng = random.Random(clusters * 1000 + threshold)
    rows = _rows(rng, clusters, per_cluster, spread)
    want = _by_every_pair(rows, threshold)
    assert duplicate_groups(rows, threshold) == want
    assert any(len(g) > 2 for g in want)  # the case has real clusters, not only pairs


def test_the_probing_case_is_large_enough_to_probe() -> None:
    rows = _rows(random.Random(300 * 1000 + 9), 300, 9, 7)
    assert len({r[2] for r in rows if r[2]}) >= BRUTE_FORCE_BELOW


def test_thousands_of_copies_of_one_picture_are_one_group() -> None:
    """Re-encoded copies: 3,000 distinct codes within a few bits of one picture's, each near many others."""
    rng = random.Random(5)
    centre = rng.getrandbits(64)
    rows: list[Row] = []
    for k in range(3000):
        code = centre
        for bit in rng.sample(range(64), rng.randint(0, 4)):
            code ^= 1 << bit
        rows.append((f"copy-{k:05d}.jpg", f"sha-{k}", f"{code:016x}", None, None))
    rows.append(("other.jpg", "sha-other", f"{centre ^ ((1 << 64) - 1):016x}", None, None))
    groups = duplicate_groups(rows, 9)
    assert groups == [sorted(r[0] for r in rows if r[0] != "other.jpg")]


def test_no_hashes_no_groups() -> None:
    assert duplicate_groups([("a.jpg", "x", None, None, None), ("b.jpg", "x", None, None, None)], 9) == []
    assert duplicate_groups([], 9) == []


def test_unique_rows_are_numpys_unique_rows() -> None:
    """The mirrored-code pairs are made distinct without np.unique(axis=0) (it loads NumPy's masked arrays
    on a scan's serial merge): the same rows, in the same order, with codes using all 64 bits."""
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 500):
        pairs = rng.integers(0, 6, (n, 2)).astype(np.uint64)
        pairs[:, 1] |= rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63)
        assert np.array_equal(_unique_rows(pairs), np.unique(pairs, axis=0))
