"""Tie images to consent records and reference entries by sha256, path or perceptual distance. Pure."""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from consentaudit.hamming import HammingIndex, distance, parse_hex64
from consentaudit.keypoints import Keypoints, inliers
from consentaudit.models import ConsentRecord, Fingerprint, Match, MatchKind, ReferenceEntry

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
# A candidate found through one of an entry's views (crops, rotations) must be this much closer: each view
# is one more chance of a look-alike, and a true cropped or rotated copy sits close to its view.
VIEW_MARGIN = 16
# Entries that carry ORB keypoints (keypoints.py) are held to more: the 256-bit codes alone decide only with
# SURE_SLACK bits to spare; from there down to KEYPOINT_ZONE bits *beyond* radius256 a candidate counts
# when at least MIN_INLIERS of the image's keypoints match the entry's under one similarity transform.
# Chosen with bench/false_matches.py (1M references): no false candidate had a 256-bit slack of 16 or more
# (seeds 3, 4), and of ~3,400 false grey-zone candidates (seeds 4, 5) none had more than 10 inliers, apart
# from one pair of mirror-symmetric sibling tiles of one photo; 15 leaves a margin over 10 for about 1% of
# the true grey-zone candidates (docs/matching.md).
SURE_SLACK = 24
KEYPOINT_ZONE = 40
MIN_INLIERS = 15
NO_KEYPOINTS = -1

# Images with less detail than this (fingerprint.detail_of: flat, near-blank, smooth two-tone pictures) are
# matched by sha256, path, URL or release id only: their perceptual hashes describe a coarse layout that
# thousands of other images share (docs/matching.md). Applies to the dataset image and to reference entries.
MIN_DETAIL = 15

# What decides a perceptual match, in one string: part of a scan's run key, so that a stored audit is not
# reused (resumed or cloned) under other rules.
MATCHER = (
    f"candidates<={CANDIDATE_RADIUS};256-bit<={CONFIRM_256_RADIUS}-2d;views-{VIEW_MARGIN};detail>={MIN_DETAIL};"
    f"keypoints:sure{SURE_SLACK},zone{KEYPOINT_ZONE},inliers>={MIN_INLIERS}"
)


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
        return any(_borderline(self._index, fp, r, margin) for r in {self.threshold, self._radius})


def _borderline(index: HammingIndex, fp: Fingerprint, threshold: int, margin: int) -> bool:
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


def normalise_url(url: str) -> str:
    """Scheme and host lower-cased, 'www.' and the fragment dropped: the same image URL compares equal."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower().removeprefix("www.")
    return f"{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")


class ReferenceIndex:
    """Entries of known scraped collections, for 'is this image in a scraped set?'."""

    def __init__(
        self,
        entries: Sequence[ReferenceEntry],
        phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
        keypoints_of: Callable[[ReferenceEntry], str | None] | None = None,
    ):
        """`keypoints_of` reads an entry's keypoints when they were left out of `entries` (a stored set's
        are read from the store only for the candidates that need them)."""
        self.entries = list(entries)
        self.threshold = phash_threshold
        self._keypoints_of = keypoints_of
        self._by_sha: dict[str, int] = {}
        pos = array("l")  # index position -> entry
        view = array("b")  # index position -> the entry's view (-1: the whole picture)
        self._by_url: dict[str, int] = {}
        self._by_domain: dict[str, int] = {}
        codes = array("Q")
        for i, e in enumerate(self.entries):
            if e.url:
                if "/" in e.url:
                    self._by_url.setdefault(normalise_url(e.url), i)
                else:
                    self._by_domain.setdefault(e.url.lower().removeprefix("www."), i)
            if e.sha256:
                self._by_sha.setdefault(e.sha256, i)
            if e.phash and (e.detail is None or e.detail >= MIN_DETAIL):
                codes.append(parse_hex64(e.phash))
                pos.append(i)
                view.append(-1)
                for k, (_, view_phash, _) in enumerate(e.views):
                    codes.append(parse_hex64(view_phash))
                    pos.append(i)
                    view.append(k)
        self._pos, self._view = pos, view  # compact arrays: 9 bytes per code
        self._index = HammingIndex(codes)

    def __len__(self) -> int:
        return len(self.entries)

    def borderline(self, fp: Fingerprint, margin: int) -> bool:
        return _borderline(self._index, fp, self.threshold, margin)

    def lookup(
        self,
        fp: Fingerprint | None,
        sha256: str | None = None,
        url: str | None = None,
        image256: Callable[[str], str | None] | None = None,
        image_keypoints: Callable[[str], Keypoints | None] | None = None,
    ) -> tuple[ReferenceEntry, Match] | None:
        """The reference entry this image is a copy of: by sha256, source URL/domain, or perceptually (the
        nearest of `perceptual_hits`; `image256(variant)` and `image_keypoints(variant)` compute the image's
        256-bit pHash and ORB keypoints on demand)."""
        digest = fp.sha256 if fp else sha256
        if digest and digest in self._by_sha:
            e = self.entries[self._by_sha[digest]]
            return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.SHA256)
        if url and (self._by_url or self._by_domain):
            i = self._by_url.get(normalise_url(url))
            if i is not None:
                e = self.entries[i]
                return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.URL)
            host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
            parts = host.split(".")
            for k in range(len(parts) - 1):
                i = self._by_domain.get(".".join(parts[k:]))
                if i is not None:
                    e = self.entries[i]
                    return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.DOMAIN)
        if fp is None:
            return None
        hits = self.perceptual_hits(fp, image256, image_keypoints)
        if not hits:
            return None
        i, d, how = hits[0]
        e = self.entries[i]
        return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.PERCEPTUAL, d, how)

    def perceptual_hits(
        self,
        fp: Fingerprint,
        image256: Callable[[str], str | None] | None = None,
        image_keypoints: Callable[[str], Keypoints | None] | None = None,
    ) -> list[tuple[int, int, str]]:
        """Every entry this image is perceptually a copy of, as (entry index, 64-bit distance, how),
        nearest first. Candidates come from the radius index (pHash, mirrored pHash, border-trimmed pHash
        within CANDIDATE_RADIUS) of its own codes and of its views'; `confirm` decides which count. An image
        without enough detail has none."""
        if not matchable(fp):
            return []
        queries = [
            (c, name)
            for c, name in ((fp.phash, "phash"), (fp.phash_mirror, "phash_mirror"), (fp.phash_trim, "phash_trim"))
            if c
        ]
        candidates: list[tuple[int, int, str, int]] = []  # (distance, entry, variant, view)
        for code, name in queries:
            for pos, d in self._index.within(parse_hex64(code), CANDIDATE_RADIUS):
                candidates.append((d, self._pos[pos], name, self._view[pos]))
        mine = cached256(image256)
        hits: dict[int, tuple[int, str]] = {}
        checked: dict[tuple[str, str, bool], int | None] = {}  # an entry's keypoint check, once per image side
        for d, i, name, view in sorted(candidates, key=lambda c: (c[0], c[1], c[3])):
            if i not in hits:
                how = self.confirm(fp, self.entries[i], d, name, mine, view, image_keypoints, checked)
                if how:
                    hits[i] = (d, how)
        return sorted(((i, d, how) for i, (d, how) in hits.items()), key=lambda h: (h[1], h[0]))

    def confirm(
        self,
        fp: Fingerprint,
        e: ReferenceEntry,
        d: int,
        name: str,
        mine: Callable[[str], str | None],
        view: int = -1,
        image_keypoints: Callable[[str], Keypoints | None] | None = None,
        checked: dict[tuple[str, str, bool], int | None] | None = None,
    ) -> str | None:
        """Whether a 64-bit candidate at distance `d` (found through `name`) is a copy, and how it was
        confirmed. With a 256-bit code on the entry (and the image's own, computed on demand for the same
        variant: mirrored or border-trimmed) it decides: within radius256(d); a candidate found through one
        of the entry's views (`view` >= 0) by that view's 256-bit code, VIEW_MARGIN closer. An entry with
        keypoints needs SURE_SLACK bits to spare for that, else (down to KEYPOINT_ZONE bits beyond) at
        least MIN_INLIERS matching keypoints (`image_keypoints(variant)` computes the image's). Without a
        256-bit code: the 64-bit code within the threshold, or the dHash rule (`perceptual_match`). `checked`
        keeps the keypoint checks already made (another view of the same entry asks the same question)."""
        view_name, theirs, margin = ("", e.phash256, 0) if view < 0 else (*e.views[view][::2], VIEW_MARGIN)
        at = f"@{view_name}" if view_name else ""
        ours = mine(name) if theirs else None
        if ours is not None and theirs is not None:
            slack = radius256(d) - margin - hamming256(ours, theirs)
            if slack >= SURE_SLACK:
                return f"{name}+phash256{at}"
            if slack < -KEYPOINT_ZONE:
                return None
            key = (e.set_name, e.ref_id, name == "phash_mirror")
            memo = {} if checked is None else checked
            if key not in memo:
                memo[key] = self._keypoint_check(e, name, image_keypoints)
            found = memo[key]
            if found == NO_KEYPOINTS:  # an entry built before keypoints, or from a foreign file
                return f"{name}+phash256{at}" if slack >= 0 else None
            return f"{name}+keypoints({found}){at}" if found is not None and found >= MIN_INLIERS else None
        if view >= 0:
            return None
        if d <= self.threshold:
            return name
        if name == "phash":
            hit = perceptual_match(fp, e.phash, e.dhash, self.threshold)
            return hit[1] if hit else None
        return None

    def _keypoint_check(
        self, e: ReferenceEntry, name: str, image_keypoints: Callable[[str], Keypoints | None] | None
    ) -> int | None:
        """The inliers of the image (its keypoints for variant `name`) against the entry's; NO_KEYPOINTS when
        the entry has none, None when the image's cannot be computed or the entry's cannot be decoded."""
        stored = e.keypoints or (self._keypoints_of(e) if self._keypoints_of else None)
        if not stored:
            return NO_KEYPOINTS
        image = image_keypoints(name) if image_keypoints else None
        try:
            return None if image is None else inliers(image, Keypoints.decode(stored))
        except ValueError:
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
