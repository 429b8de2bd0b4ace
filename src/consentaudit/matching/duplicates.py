"""Within-dataset duplicate groups: equal sha256 or pHash within the threshold. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from consentaudit.matching.hamming import HammingIndex, parse_hex64


def duplicate_groups(
    items: Sequence[tuple[str, str | None, str | None, str | None]], threshold: int
) -> list[list[str]]:
    """Groups (size ≥ 2) of paths showing the same picture: equal sha256, or pHash (or mirrored pHash)
    within `threshold`. Items are light (path, sha256, phash, phash_mirror) rows; an image without a pHash
    (unreadable) is in no group.

    Linear in the images plus the pairs within `threshold`, at array speed: copies with equal bytes are one
    node, equal pHashes one code, and the pairs an index query finds are joined a block at a time
    (`_join`) — a cluster of thousands of re-encoded copies of one picture costs no Python per pair."""
    node_of = np.full(len(items), -1, dtype=np.int64)  # item -> node: the first item with its bytes
    by_sha: dict[str, int] = {}
    phashes: list[int] = []
    mirrors: list[tuple[int, int]] = []  # (node, its mirrored pHash)
    for i, (_, sha, phash, mirror) in enumerate(items):
        if not phash:
            continue
        if sha:
            if sha in by_sha:
                node_of[i] = node_of[by_sha[sha]]
                continue
            by_sha[sha] = i
        node_of[i] = len(phashes)
        phashes.append(parse_hex64(phash))
        if mirror:
            mirrors.append((len(phashes) - 1, parse_hex64(mirror)))
    if not phashes:
        return []
    codes, code_of = np.unique(np.array(phashes, dtype=np.uint64), return_inverse=True)  # node -> its code
    roots = np.arange(len(codes), dtype=np.int64)  # union-find over the distinct codes
    index = HammingIndex(codes)
    for qi, pos in index.hit_blocks(codes, threshold):
        _join(roots, qi, pos)
    if mirrors:
        pairs = np.unique(np.array([(int(code_of[n]), m) for n, m in mirrors], dtype=np.uint64), axis=0)
        owners = pairs[:, 0].astype(np.int64)
        for qi, pos in index.hit_blocks(pairs[:, 1], threshold):
            _join(roots, owners[qi], pos)
    group_of = _roots_of(roots, code_of)  # node -> its group
    groups: dict[int, list[str]] = defaultdict(list)
    for (path, *_), node in zip(items, node_of.tolist(), strict=True):
        if node >= 0:
            groups[int(group_of[node])].append(path)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _roots_of(roots: npt.NDArray[np.int64], x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    r = roots[x]
    while True:
        up = roots[r]
        if np.array_equal(up, r):
            return r
        r = up


def _join(roots: npt.NDArray[np.int64], a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> None:
    """Union-find over `roots` (each entry points to a smaller or equal one; a root points to itself): join
    the pairs (a[k], b[k]). The pairs' roots are found as arrays; only the distinct pairs of different roots
    are joined one by one, so a block inside one known cluster costs a few array operations."""
    if len(a) == 0:
        return
    ra, rb = _roots_of(roots, a), _roots_of(roots, b)
    roots[a], roots[b] = ra, rb  # path compression of what was visited
    apart = ra != rb
    if not apart.any():
        return
    n = len(roots)
    lo, hi = np.minimum(ra[apart], rb[apart]), np.maximum(ra[apart], rb[apart])
    for key in np.unique(lo * n + hi).tolist():
        x, y = divmod(key, n)
        while roots[x] != x:
            x = int(roots[x])
        while roots[y] != y:
            y = int(roots[y])
        if x != y:
            roots[max(x, y)] = min(x, y)
