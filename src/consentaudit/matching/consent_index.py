"""Tie images to consent records by sha256, path, release id or perceptual distance. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from consentaudit.defaults import DEFAULT_PHASH_THRESHOLD
from consentaudit.matching.hamming import HammingIndex, distance, parse_hex64
from consentaudit.matching.perceptual import (
    CANDIDATE_RADIUS,
    cached256,
    close256,
    hamming256,
    least256,
    matchable,
    near_threshold,
    radius256,
    variants,
)
from consentaudit.models import ConsentRecord, Fingerprint, Match
from consentaudit.vocab import REBUILT_JPEG, ConsentStatus, MatchKind


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
        self._phash_pos: list[int] = []  # index position -> record
        self._upright: list[bool] = []  # index position -> the record's upright code (its picture as shown)
        codes: list[int] = []
        for i, r in enumerate(self.records):
            if r.sha256:
                self._by_sha[r.sha256].append(i)
            if r.path:
                self._by_path[r.path].append(i)
            for rid in {r.record_id, r.evidence}:
                if rid:
                    self._by_release[rid.strip().lower()].append(i)
            for code, upright in ((r.phash, False), (r.phash_upright, True)):
                if code:
                    codes.append(parse_hex64(code))
                    self._phash_pos.append(i)
                    self._upright.append(upright)
        self._index = HammingIndex(codes)
        self.any256 = any(r.phash256 for r in self.records)  # some record is decided by 256-bit codes
        self._radius = CANDIDATE_RADIUS if self.any256 else self.threshold
        # A record found besides the one an image's sha256 ties it to can only add a revocation (verdicts.judge):
        # for a tied image, only records that can revoke need a perceptual decision.
        self._can_revoke = [r.status == ConsentStatus.REVOKED or r.revoked_at is not None for r in self.records]

    def lookup(
        self,
        path: str,
        fp: Fingerprint | None,
        sha256: str | None = None,
        release_ids: Sequence[str] = (),
        image256: Callable[[str], str | None] | None = None,
        near256: Callable[[str], str | None] | None = None,
        rebuilt_sha256: str | None = None,
    ) -> tuple[list[RecordMatch], list[PathConflict]]:
        """Records covering the image, best first (sha256, then path, then nearest pHash). A record with a
        `phash256` is matched perceptually as reference entries are: its 64-bit candidates (within
        CANDIDATE_RADIUS) are decided by the 256-bit codes (`image256(variant)` computes the image's), unless
        the estimate `near256(variant)` already puts the record out of reach. `rebuilt_sha256`: the sha256 of
        the JPEG a losslessly recompressed JPEG XL file rebuilds bit for bit, which ties as its own would."""
        digest = fp.sha256 if fp else sha256
        found: dict[int, Match] = {}
        if digest:
            for i in self._by_sha.get(digest, ()):
                found[i] = Match(self.records[i].record_id, MatchKind.SHA256)
        if rebuilt_sha256:
            for i in self._by_sha.get(rebuilt_sha256, ()):
                found.setdefault(i, Match(self.records[i].record_id, MatchKind.SHA256, None, REBUILT_JPEG))
        tied = bool(found)
        perceptual: dict[int, tuple[int, str]] = {}
        if fp and matchable(fp):
            for code, variant in (
                (fp.phash, "phash"),
                (fp.phash_trim, "phash_trim"),
                (fp.phash_upright, "phash_upright"),
            ):
                if not code:
                    continue
                for pos, d in self._index.within(parse_hex64(code), self._radius):
                    i = self._phash_pos[pos]
                    if i in found or (tied and not self._can_revoke[i]):
                        continue  # already tied by sha256, or cannot change the verdict of a tied image
                    if self._upright[pos]:  # the record's picture as shown: its 256-bit code is of the stored one
                        how = f"{variant}@upright" if d <= self.threshold else None
                    else:
                        how = self._decide(self.records[i], d, variant, image256, near256)
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
        self,
        r: ConsentRecord,
        d: int,
        variant: str,
        image256: Callable[[str], str | None] | None,
        near256: Callable[[str], str | None] | None = None,
    ) -> str | None:
        """Whether a record whose pHash is `d` bits away covers the image: by its 256-bit code when both
        sides have one, else by the threshold on the 64-bit code. A record whose 256-bit code is beyond
        radius256(d) even NEAR256_DRIFT bits closer than the image's estimated code does not, and the image's
        own code is not computed for it."""
        estimate = near256(variant) if r.phash256 and near256 else None
        if estimate is not None and r.phash256 and not _covers(d, least256(estimate, r.phash256)):
            return None
        close = close256(image256(variant) if r.phash256 and image256 else None, r.phash256, d)
        if close is not None:
            return "phash+phash256" if close else None
        return "phash" if d <= self.threshold else None

    def borderline(
        self,
        fp: Fingerprint,
        margin: int,
        image256: Callable[[str], str | None] | None = None,
        near256: Callable[[str], str | None] | None = None,
    ) -> bool:
        """Whether the exact pHash (within `margin` bits of this fast one) could change which records cover
        the image -- among the records whose decision could change the verdict: for an image its sha256 ties
        to a record, only records that can revoke. A record without a 256-bit code: its pHash within `margin`
        of the threshold. A record with one (decided as `_decide` does): only when moving the 64-bit distance
        by `margin` either way moves it in or out of the candidate radius or of radius256, judged by the
        image's 256-bit code (`image256`) -- not computed when the estimate (`near256`, within NEAR256_DRIFT
        bits) keeps the record out of reach at the nearest distance."""
        tied = bool(self._by_sha.get(fp.sha256))
        if not self.any256:
            relevant = (lambda pos: self._can_revoke[self._phash_pos[pos]]) if tied else None
            return near_threshold(self._index, fp, (self.threshold, self._radius), margin, relevant)
        mine, near = cached256(image256), cached256(near256)
        for code, variant in variants(fp):
            for pos, d in self._index.within(code, max(self.threshold, self._radius) + margin):
                i = self._phash_pos[pos]
                if tied and not self._can_revoke[i]:
                    continue
                theirs = None if self._upright[pos] else self.records[i].phash256
                if theirs is None:
                    if self.threshold - margin < d <= self.threshold + margin:
                        return True
                    continue
                nearest = max(0, d - margin)
                estimate = near(variant)
                if estimate is not None and not _covers(nearest, least256(estimate, theirs)):
                    continue  # out of reach at every distance in the band, whatever the exact code
                ours = mine(variant)
                if ours is None:
                    return True  # no 256-bit code to judge by: the band decides, as before
                h = hamming256(ours, theirs)
                if _covers(nearest, h) != _covers(d + margin, h):
                    return True
        return False


def _covers(d: int, h: int) -> bool:
    """A record with a 256-bit code covers an image at 64-bit distance `d` and 256-bit distance `h`
    (`ConsentIndex._decide` on a candidate of the radius query); false as either grows."""
    return d <= CANDIDATE_RADIUS and h <= radius256(d)
