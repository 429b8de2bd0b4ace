"""Within-dataset duplicate groups: equal sha256 or pHash within the threshold. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from consentaudit.matching.hamming import HammingIndex, parse_hex64
from consentaudit.models import LightRow


def duplicate_groups(items: Sequence[LightRow], threshold: int) -> list[list[str]]:
    """Groups (size ≥ 2) of paths showing the same picture: equal sha256, or pHash (or mirrored pHash)
    within `threshold`, the pHash of a picture as shown (EXIF orientation applied) counting as one of its
    codes. Items are light (path, sha256, phash, phash_mirror, phash_upright) rows; an image without a pHash
    (unreadable) is in no group.

    Linear in the images plus the pairs within `threshold`, at array speed: copies with equal bytes are one
    node, equal pHashes one code, and the pairs the index finds are buffered and joined as arrays (`_join`)
    — a cluster of thousands of re-encoded copies of one picture costs no Python per pair."""
    node_of = np.full(len(items), -1, dtype=np.int64)  # item -> node: the first item with its bytes
    by_sha: dict[str, int] = {}
    phashes: list[int] = []
    mirrors: list[tuple[int, int]] = []  # (node, its mirrored pHash)
    shown: list[tuple[int, int]] = []  # (node, the pHash of its picture as shown)
    for i, (_, sha, phash, mirror, upright) in enumerate(items):
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
        if upright:
            shown.append((len(phashes) - 1, parse_hex64(upright)))
    if not phashes:
        return []
    every = np.array(phashes + [c for _, c in shown], dtype=np.uint64)
    codes, code_at = np.unique(every, return_inverse=True)  # each pHash, then each upright code -> its code
    code_of = code_at[: len(phashes)]  # node -> its code
    roots = np.arange(len(codes), dtype=np.int64)  # union-find over the distinct codes
    index = HammingIndex(codes)
    edges = _Edges(roots)
    if shown:  # an image's stored and upright pictures are one picture
        edges.add(code_of[np.array([n for n, _ in shown], dtype=np.int64)], code_at[len(phashes) :].astype(np.int64))
    for qi, pos in index.hit_blocks(codes, threshold):
        edges.add(qi, pos)
    if mirrors:
        pairs = _unique_rows(np.array([(int(code_of[n]), m) for n, m in mirrors], dtype=np.uint64))
        owners = pairs[:, 0].astype(np.int64)
        for qi, pos in index.hit_blocks(pairs[:, 1], threshold):
            edges.add(owners[qi], pos)
    edges.join()
    group_of = roots[code_of]  # node -> its group
    groups: dict[int, list[str]] = defaultdict(list)
    for (path, *_), node in zip(items, node_of.tolist(), strict=True):
        if node >= 0:
            groups[int(group_of[node])].append(path)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _unique_rows(pairs: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The distinct rows of a two-column array, sorted: `np.unique(pairs, axis=0)`, which also loads NumPy's
    masked-array module (~10 ms of a scan's serial merge, at first use)."""
    s = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    keep = np.ones(len(s), dtype=bool)
    keep[1:] = (s[1:] != s[:-1]).any(axis=1)
    return s[keep]


JOIN_EDGES = 1 << 22  # index hits buffered before they are joined (at most 64 MB of pairs)


class _Edges:
    """Pairs of distinct codes to join, buffered and joined JOIN_EDGES at a time into `roots`."""

    def __init__(self, roots: npt.NDArray[np.int64]) -> None:
        self.roots = roots
        self.parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        self.size = 0

    def add(self, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> None:
        keep = a != b
        self.parts.append((a[keep], b[keep]))
        self.size += int(keep.sum())
        if self.size >= JOIN_EDGES:
            self.join()

    def join(self) -> None:
        if self.parts:
            _join(self.roots, np.concatenate([a for a, _ in self.parts]), np.concatenate([b for _, b in self.parts]))
        self.parts, self.size = [], 0


def _join(roots: npt.NDArray[np.int64], a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> None:
    """Union-find as arrays: each entry of `roots` points to a smaller or equal one and, between calls,
    straight at its root (a root points to itself). Joins the pairs (a[k], b[k]) in rounds: every root
    paired with a smaller root is hooked to the smallest such, then every entry is pointed at its root
    again (pointer doubling); the pairs whose ends now share a root drop out. A round is a few array
    operations over the pairs and the codes, and there are few rounds: no Python per pair."""
    while len(a):
        a, b = roots[a], roots[b]
        apart = a != b
        a, b = a[apart], b[apart]
        if len(a) == 0:
            return
        np.minimum.at(roots, np.maximum(a, b), np.minimum(a, b))
        while True:
            up = roots[roots]
            if np.array_equal(up, roots):
                break
            roots[:] = up
