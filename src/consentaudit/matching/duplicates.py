"""Within-dataset duplicate groups: equal sha256 or pHash within the threshold. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from consentaudit.matching.hamming import HammingIndex, parse_hex64


def duplicate_groups(
    items: Sequence[tuple[str, str | None, str | None, str | None]], threshold: int
) -> list[list[str]]:
    """Groups (size ≥ 2) of paths showing the same picture: equal sha256, or pHash (or mirrored pHash)
    within `threshold`. Items are light (path, sha256, phash, phash_mirror) rows; unreadable images have
    no pHash and join a group only through an equal sha256."""
    parent = list(range(len(items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_sha: dict[str, int] = {}
    pos: list[int] = []
    codes: list[int] = []
    for i, (_, sha, phash, _) in enumerate(items):
        if not phash:
            continue
        if sha:
            if sha in by_sha:
                union(by_sha[sha], i)
                continue
            by_sha[sha] = i
        codes.append(parse_hex64(phash))
        pos.append(i)
    index = HammingIndex(codes)
    queries: list[int] = []
    owners: list[int] = []
    for k, i in enumerate(pos):
        for code in filter(None, (items[i][2], items[i][3])):
            queries.append(parse_hex64(code))
            owners.append(k)
    del codes
    for qi, p, _ in index.within_many(queries, threshold):
        if p != owners[qi]:
            union(pos[owners[qi]], pos[p])
    groups: dict[int, list[str]] = defaultdict(list)
    for i, (path, _, phash, _) in enumerate(items):
        if phash:
            groups[find(i)].append(path)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: g[0])
