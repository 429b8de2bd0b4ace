"""Tie images to consent records by sha256, path, release id or perceptual distance; the perceptual rules
shared with reference sets (reference_index.py); within-dataset duplicate groups. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from consentaudit.hamming import HammingIndex, distance, parse_hex64
from consentaudit.models import ConsentRecord, Fingerprint, Match, MatchKind

# Chosen from bench/robustness.py on the real photos (docs/matching.md): no distinct pair of real photos is
# within pHash distance 13; 9 finds 100% of resized/re-encoded/PNG/grayscale copies, 99% of 2% crops and
# ~91% of 5% crops while keeping the false-match rate of a 1M-entry reference set well under one per query.
DEFAULT_PHASH_THRESHOLD = 9
# When both sides carry a dHash, a wider pHash radius is confirmed by the dHash: no distinct pair of the
# benchmarked photos is within both (smallest max(phash, dhash) over distinct pairs: 18).
CONFIRM_PHASH_RADIUS = 16
CONFIRM_DHASH_RADIUS = 12
# Reference entries carry a 256-bit pHash (imagehash phash, hash_size=16). Against them every 64-bit
# candidate within CANDIDATE_RADIUS is decided by the 256-bit codes: within radius256(d64). Chosen with
# bench/false_matches.py (1,000 real photos and tiles against 1M reference codes: edited copies plus crops
# of ~3,000 real images) as the widest schedule with no false match on two filler sets; a flat radius of
# 80 gave ~200, because at that scale two pictures with the same coarse layout are common (docs/matching.md).
CANDIDATE_RADIUS = 14
CONFIRM_256_RADIUS = 76
# Images with less detail than this (fingerprint.detail_of: flat, near-blank, smooth two-tone pictures) are
# matched by sha256, path, URL or release id only: their perceptual hashes describe a coarse layout that
# thousands of other images share (docs/matching.md). Applies to the dataset image and to reference entries.
MIN_DETAIL = 15


def matchable(fp: Fingerprint) -> bool:
    """Whether the image has enough detail for perceptual matching (detail unknown: yes)."""
    return bool(fp.phash) and (fp.detail is None or fp.detail >= MIN_DETAIL)


def radius256(d64: int) -> int:
    """How far apart two 256-bit pHashes may be for a 64-bit candidate at distance `d64` to be a copy:
    CONFIRM_256_RADIUS for identical 64-bit codes, 2 bits less per bit of 64-bit distance (48 at 14)."""
    return CONFIRM_256_RADIUS - 2 * d64


def cached256(image256: Callable[[str], str | None] | None) -> Callable[[str], str | None]:
    """`image256` computed at most once per variant (None when there is no image to compute it from)."""
    codes: dict[str, str | None] = {}

    def get(variant: str) -> str | None:
        if image256 is None:
            return None
        if variant not in codes:
            codes[variant] = image256(variant)
        return codes[variant]

    return get


def close256(mine: str | None, theirs: str | None, d64: int, margin: int = 0) -> bool | None:
    """Whether two 256-bit pHashes say "same picture" for a 64-bit candidate at distance `d64` (within
    radius256(d64) - margin); None when either side has no 256-bit code and the 64-bit rules decide."""
    if mine is None or theirs is None:
        return None
    return hamming256(mine, theirs) <= radius256(d64) - margin


def hamming256(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass(frozen=True)
class RecordMatch:
    record: ConsentRecord
    match: Match


@dataclass(frozen=True)
class PathConflict:
    """A record names this path but its content identifiers say the file is a different image."""

    record: ConsentRecord
    detail: str


class ConsentIndex:
    """Every consent record, indexed by sha256, path and pHash."""

    def __init__(self, records: Iterable[ConsentRecord], phash_threshold: int = DEFAULT_PHASH_THRESHOLD):
        self.threshold = phash_threshold
        self.records = list(records)
        self._by_sha: dict[str, list[int]] = defaultdict(list)
        self._by_path: dict[str, list[int]] = defaultdict(list)
        self._by_release: dict[str, list[int]] = defaultdict(list)
        self._phash_pos: list[int] = []
        codes: list[int] = []
        for i, r in enumerate(self.records):
            if r.sha256:
                self._by_sha[r.sha256].append(i)
            if r.path:
                self._by_path[r.path].append(i)
            for rid in {r.record_id, r.evidence}:
                if rid:
                    self._by_release[rid.strip().lower()].append(i)
            if r.phash:
                codes.append(parse_hex64(r.phash))
                self._phash_pos.append(i)
        self._index = HammingIndex(codes)
        self._radius = CANDIDATE_RADIUS if any(r.phash256 for r in self.records) else self.threshold

    def lookup(
        self,
        path: str,
        fp: Fingerprint | None,
        sha256: str | None = None,
        release_ids: Sequence[str] = (),
        image256: Callable[[str], str | None] | None = None,
    ) -> tuple[list[RecordMatch], list[PathConflict]]:
        """Records covering the image, best first (sha256, then path, then nearest pHash). A record with a
        `phash256` is matched perceptually as reference entries are: its 64-bit candidates (within
        CANDIDATE_RADIUS) are decided by the 256-bit codes (`image256(variant)` computes the image's)."""
        digest = fp.sha256 if fp else sha256
        found: dict[int, Match] = {}
        if digest:
            for i in self._by_sha.get(digest, ()):
                found[i] = Match(self.records[i].record_id, MatchKind.SHA256)
        perceptual: dict[int, tuple[int, str]] = {}
        if fp and matchable(fp):
            for code, variant in ((fp.phash, "phash"), (fp.phash_trim, "phash_trim")):
                if not code:
                    continue
                for pos, d in self._index.within(parse_hex64(code), self._radius):
                    i = self._phash_pos[pos]
                    how = self._decide(self.records[i], d, variant, image256)
                    if how and (i not in perceptual or d < perceptual[i][0]):
                        perceptual[i] = (d, how)
        conflicts: list[PathConflict] = []
        for i in self._by_path.get(path, ()):
            if i in found:
                continue
            r = self.records[i]
            if r.phash and fp and fp.phash and matchable(fp) and i not in perceptual:
                d = distance(parse_hex64(r.phash), parse_hex64(fp.phash))
                conflicts.append(
                    PathConflict(
                        r, f"record {r.record_id} names this path but its phash is {d} bits away: a different image"
                    )
                )
                continue
            found[i] = Match(r.record_id, MatchKind.PATH)
        for i, (d, how) in perceptual.items():
            if i not in found:
                found[i] = Match(self.records[i].record_id, MatchKind.PERCEPTUAL, d, how)
        for rid in release_ids:
            for i in self._by_release.get(rid.strip().lower(), ()):
                if i not in found:
                    found[i] = Match(self.records[i].record_id, MatchKind.RELEASE_ID)
        order = {MatchKind.SHA256: 0, MatchKind.PATH: 1, MatchKind.PERCEPTUAL: 2, MatchKind.RELEASE_ID: 3}
        ranked = sorted(found.items(), key=lambda t: (order[t[1].kind], t[1].distance or 0, t[0]))
        return [RecordMatch(self.records[i], m) for i, m in ranked], conflicts

    def _decide(
        self, r: ConsentRecord, d: int, variant: str, image256: Callable[[str], str | None] | None
    ) -> str | None:
        """Whether a record whose pHash is `d` bits away covers the image: by its 256-bit code when both
        sides have one, else by the threshold on the 64-bit code."""
        close = close256(image256(variant) if r.phash256 and image256 else None, r.phash256, d)
        if close is not None:
            return "phash+phash256" if close else None
        return "phash" if d <= self.threshold else None

    def borderline(self, fp: Fingerprint, margin: int) -> bool:
        """Some record's pHash is within `margin` bits of the threshold or, with 256-bit records, of the
        candidate radius (either side) from this image's."""
        return any(near_threshold(self._index, fp, r, margin) for r in {self.threshold, self._radius})


def near_threshold(index: HammingIndex, fp: Fingerprint, threshold: int, margin: int) -> bool:
    for code in filter(None, (fp.phash, fp.phash_mirror, fp.phash_trim)):
        for _, d in index.within(parse_hex64(code), threshold + margin):
            if d > threshold - margin:
                return True
    return False


def perceptual_match(
    a: Fingerprint, b_phash: str | None, b_dhash: str | None, threshold: int
) -> tuple[int, str] | None:
    """(distance, hash name) when image `a` shows the same picture as (b_phash, b_dhash), else None.

    pHash within `threshold`, or the mirrored pHash within `threshold` (a flipped copy), or, when both
    sides carry a dHash, pHash within CONFIRM_PHASH_RADIUS confirmed by dHash within CONFIRM_DHASH_RADIUS.
    """
    if not (a.phash and b_phash):
        return None
    bp = parse_hex64(b_phash)
    d = distance(parse_hex64(a.phash), bp)
    if d <= threshold:
        return d, "phash"
    if a.phash_mirror:
        dm = distance(parse_hex64(a.phash_mirror), bp)
        if dm <= threshold:
            return dm, "phash_mirror"
    if a.dhash and b_dhash and d <= CONFIRM_PHASH_RADIUS:
        dd = distance(parse_hex64(a.dhash), parse_hex64(b_dhash))
        if dd <= CONFIRM_DHASH_RADIUS:
            return d, "phash+dhash"
    return None


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
