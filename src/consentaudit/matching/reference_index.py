"""Tie images to entries of known-scraped reference sets: by sha256, source URL or domain, or perceptually
(64-bit candidates decided by the 256-bit pHash and, in its grey zone, by keypoints). Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import numpy as np

from consentaudit.defaults import DEFAULT_PHASH_THRESHOLD
from consentaudit.matching.hamming import HammingIndex, parse_hex64
from consentaudit.matching.keypoints import Keypoints, inliers
from consentaudit.matching.perceptual import (
    CANDIDATE_RADIUS,
    CONFIRM_256_RADIUS,
    MIN_DETAIL,
    cached256,
    hamming256,
    keypoint_side,
    least256,
    matchable,
    perceptual_match,
    radius256,
    variants,
)
from consentaudit.matching.reference_table import NO_DETAIL, table_of
from consentaudit.models import Fingerprint, Match, ReferenceEntry
from consentaudit.vocab import REBUILT_JPEG, MatchKind

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

# What decides a perceptual match, in one string: part of a scan's run key, so that a stored audit is not
# reused (resumed or cloned) under other rules.
MATCHER = (
    f"candidates<={CANDIDATE_RADIUS};256-bit<={CONFIRM_256_RADIUS}-2d;views-{VIEW_MARGIN};detail>={MIN_DETAIL};"
    f"keypoints:sure{SURE_SLACK},zone{KEYPOINT_ZONE},inliers>={MIN_INLIERS}"
)


def normalise_url(url: str) -> str:
    """Scheme and host lower-cased, 'www.' and the fragment dropped: the same image URL compares equal."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower().removeprefix("www.")
    return f"{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _host(url: str) -> str:
    """The lower-cased host of a URL without 'www.'; '' when it has none or cannot be parsed (a crawl record's
    URL is the crawled site's text: `http://[::1` makes urlsplit raise)."""
    try:
        return (urlsplit(url.strip()).hostname or "").lower().removeprefix("www.")
    except ValueError:
        return ""


def _zone(d: int, h: int, view_margin: int, keypoints: bool = True) -> int:
    """Which way `confirm` decides a 256-bit candidate at 64-bit distance `d` and 256-bit distance `h`:
    3 sure, 2 at least even (what an entry without keypoints needs), 1 keypoint zone, 0 no match (also: not
    a candidate). Without `keypoints` (the entry has none) the keypoint zone is no match. Falls as `d` and
    `h` grow, so a candidate is decided alike over a range of `d` (or `h`) when its ends are."""
    if d > CANDIDATE_RADIUS:
        return 0
    slack = radius256(d) - view_margin - h
    zone = 3 if slack >= SURE_SLACK else 2 if slack >= 0 else 1 if slack >= -KEYPOINT_ZONE else 0
    return zone if keypoints or zone != 1 else 0


class ReferenceIndex:
    """Entries of known scraped collections, for 'is this image in a scraped set?'."""

    def __init__(
        self,
        entries: Sequence[ReferenceEntry],
        phash_threshold: int = DEFAULT_PHASH_THRESHOLD,
        keypoints_of: Callable[[ReferenceEntry], str | None] | None = None,
        make_index: Callable[[np.ndarray], HammingIndex] = HammingIndex,
    ):
        """`entries`: a ReferenceTable (or entries, made into one). `keypoints_of` reads an entry's keypoints
        when they were left out of `entries` (a stored set's are read from the store only for the candidates
        that need them). `make_index` builds the radius index over the codes (the audit's keeps a large
        set's index in the reference cache)."""
        self.entries = table = table_of(entries)
        self.threshold = phash_threshold
        self._keypoints_of = keypoints_of
        # the sets whose keypoints `keypoints_of` reads (StoredKeypoints.names); None: any set's
        self._keypoint_sets: frozenset[str] | None = getattr(keypoints_of, "names", None)
        self._by_url: dict[str, int] = {}
        self._by_domain: dict[str, int] = {}
        for i, url in table.url_rows():
            if "/" in url:
                self._by_url.setdefault(normalise_url(url), i)
            else:
                self._by_domain.setdefault(url.lower().removeprefix("www."), i)
        # index position -> entry and view (-1: the whole picture): every entry's own code, then the views
        indexed = table.has_phash & ((table.detail == NO_DETAIL) | (table.detail >= MIN_DETAIL))
        own = np.flatnonzero(indexed)
        view_rows = [
            (i, k, parse_hex64(v[1])) for i in sorted(table.views) if indexed[i] for k, v in enumerate(table.views[i])
        ]
        self._pos = np.concatenate([own, np.array([r[0] for r in view_rows], dtype=np.int64)]).astype(np.int64)
        self._view = np.concatenate([np.full(len(own), -1, np.int8), np.array([r[1] for r in view_rows], np.int8)])
        codes = np.concatenate([table.phash[own], np.array([r[2] for r in view_rows], dtype=np.uint64)])
        self._index = make_index(codes)
        self._recent: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def borderline(
        self,
        fp: Fingerprint,
        margin: int,
        image256: Callable[[str], str | None] | None = None,
        near256: Callable[[str], str | None] | None = None,
    ) -> bool:
        """Whether the exact pHash (within `margin` bits of this fast one) could change what this image
        matches. An entry decided by 64-bit codes: its code within `margin` of the threshold. An entry decided
        by 256-bit codes (`image256(variant)` gives the image's): only when moving the 64-bit distance by
        `margin` either way moves the candidate across a boundary of `confirm` (sure, keypoint zone, none, or
        out of the candidate radius); a far 256-bit code decides the same at any 64-bit distance. Where the
        estimate `near256(variant)` (within NEAR256_DRIFT bits of the image's code) already puts a candidate
        out of reach at the nearest 64-bit distance, the image's code is not computed for it."""
        table, th = self.entries, self.threshold
        mine, near = cached256(image256), cached256(near256)
        for code, name in variants(fp):
            for pos, d in self._within(code, max(th + margin, CANDIDATE_RADIUS)):
                i, view = int(self._pos[pos]), int(self._view[pos])
                theirs = table.views[i][view][2] if view >= 0 else table.phash256_hex(i)
                vm = VIEW_MARGIN if view >= 0 else 0
                kp = self._may_have_keypoints(i)
                if theirs and self._out_of_reach(near(name), theirs, max(0, d - margin), vm, kp):
                    continue
                ours = mine(name) if theirs else None
                if ours is None or theirs is None:
                    if view < 0 and th - margin < d <= th + margin:
                        return True
                    continue
                h = hamming256(ours, theirs)
                if _zone(max(0, d - margin), h, vm, kp) != _zone(d + margin, h, vm, kp):
                    return True
        return False

    @staticmethod
    def _out_of_reach(estimate: str | None, theirs: str, d: int, view_margin: int, keypoints: bool) -> bool:
        """Whether a candidate at 64-bit distance `d` is no match whatever the image's 256-bit code is, given
        an estimate of it within NEAR256_DRIFT bits (`_zone` falls as the 256-bit distance grows)."""
        return estimate is not None and _zone(d, least256(estimate, theirs), view_margin, keypoints) == 0

    def _may_have_keypoints(self, i: int) -> bool:
        """Whether entry `i` may carry keypoints: held in the table, or readable through `keypoints_of` for
        its set. An entry without them is decided by the 256-bit codes alone (`confirm`)."""
        if i in self.entries.keypoints:
            return True
        if self._keypoints_of is None:
            return False
        sets = self._keypoint_sets
        return sets is None or self.entries.set_names[int(self.entries.set_code[i])] in sets

    def _within(self, code: int, radius: int) -> list[tuple[int, int]]:
        """`HammingIndex.within`, remembered for the last few queries: `borderline` and `perceptual_hits`
        ask of the same image's codes, the latter within a smaller radius, answered from the wider query
        (the answers are nearest first: the narrower ones are a prefix of them)."""
        key = (code, radius)
        hit = self._recent.get(key)
        if hit is None:
            wider = min((r for c, r in self._recent if c == code and r > radius), default=None)
            if wider is not None:
                hit = [pd for pd in self._recent[(code, wider)] if pd[1] <= radius]
            else:
                hit = self._index.within(code, radius)
            if len(self._recent) >= 16:
                self._recent.clear()
            self._recent[key] = hit
        return hit

    def lookup(
        self,
        fp: Fingerprint | None,
        sha256: str | None = None,
        url: str | None = None,
        image256: Callable[[str], str | None] | None = None,
        image_keypoints: Callable[[str], Keypoints | None] | None = None,
        near256: Callable[[str], str | None] | None = None,
        crawl_sha256: str | None = None,
        rebuilt_sha256: str | None = None,
    ) -> tuple[ReferenceEntry, Match] | None:
        """The reference entry this image is a copy of: by sha256, by the sha256 its crawl record gives for
        the bytes downloaded (`crawl_sha256`: img2dataset hashes the original before it resizes it), source
        URL/domain, or perceptually (the nearest of `perceptual_hits`; `image256(variant)` and
        `image_keypoints(variant)` compute the image's 256-bit pHash and ORB keypoints on demand,
        `near256(variant)` estimates the former). The crawl record's claims (its sha256, its URL) only ever
        tie an image to a known-scraped entry, against the interest of whoever wrote them; they never tie it
        to a consent record. `rebuilt_sha256`: the sha256 of the JPEG a losslessly recompressed JPEG XL file
        rebuilds bit for bit, a sha256 match too."""
        digest = fp.sha256 if fp else sha256
        at = self.entries.find_sha256(digest) if digest else None
        if at is not None:
            e = self.entries[at]
            return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.SHA256)
        at = self.entries.find_sha256(rebuilt_sha256) if rebuilt_sha256 else None
        if at is not None:
            e = self.entries[at]
            return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.SHA256, None, REBUILT_JPEG)
        at = self.entries.find_sha256(crawl_sha256) if crawl_sha256 and crawl_sha256 != digest else None
        if at is not None:
            e = self.entries[at]
            return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.CRAWL_SHA256)
        if url and (self._by_url or self._by_domain):
            i = self._by_url.get(normalise_url(url))
            if i is not None:
                e = self.entries[i]
                return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.URL)
            parts = _host(url).split(".")
            for k in range(len(parts) - 1):
                i = self._by_domain.get(".".join(parts[k:]))
                if i is not None:
                    e = self.entries[i]
                    return e, Match(f"{e.set_name}:{e.ref_id}", MatchKind.DOMAIN)
        if fp is None:
            return None
        hits = self.perceptual_hits(fp, image256, image_keypoints, near256, nearest=True)
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
        near256: Callable[[str], str | None] | None = None,
        nearest: bool = False,
    ) -> list[tuple[int, int, str]]:
        """Every entry this image is perceptually a copy of, as (entry index, 64-bit distance, how),
        nearest first. Candidates come from the radius index (pHash, mirrored pHash, border-trimmed pHash
        within CANDIDATE_RADIUS) of its own codes and of its views'; `confirm` decides which count, but a
        candidate that the estimate `near256` puts out of reach is dropped first. An image without enough
        detail has none. `nearest`: only the first of them (what `lookup` reports) — candidates are confirmed
        in the order the hits are sorted in, so the first confirmed is it, and the rest (each maybe a keypoint
        check: ~7 ms to compute the image's) need not be."""
        if not matchable(fp):
            return []
        candidates: list[tuple[int, int, str, int]] = []  # (distance, entry, variant, view)
        for code, name in variants(fp):
            for pos, d in self._within(code, CANDIDATE_RADIUS):
                candidates.append((d, int(self._pos[pos]), name, int(self._view[pos])))
        mine, near = cached256(image256), cached256(near256)
        hits: dict[int, tuple[int, str]] = {}
        checked: dict[tuple[str, str, str], int | None] = {}  # an entry's keypoint check, once per image side
        for d, i, name, view in sorted(candidates, key=lambda c: (c[0], c[1], c[3])):
            if i not in hits:
                theirs = self.entries.views[i][view][2] if view >= 0 else self.entries.phash256_hex(i)
                vm = VIEW_MARGIN if view >= 0 else 0
                if theirs and self._out_of_reach(near(name), theirs, d, vm, self._may_have_keypoints(i)):
                    continue
                how = self.confirm(fp, self.entries[i], d, name, mine, view, image_keypoints, checked)
                if how:
                    if nearest:
                        return [(i, d, how)]
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
        checked: dict[tuple[str, str, str], int | None] | None = None,
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
            key = (e.set_name, e.ref_id, keypoint_side(name))
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
