"""The perceptual rules shared by consent records and reference sets: the pHash threshold, the dHash
confirmation, the detail gate and the 256-bit radius. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from consentaudit.matching.hamming import HammingIndex, distance, parse_hex64
from consentaudit.models import Fingerprint

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
# How far an estimate of an image's 256-bit pHash may be from it and still rule a candidate out: the
# estimate from the fingerprint's 32x32 thumbnails (thumbnails.Thumbnails) was measured at most 20 bits from
# the code of the >= 256 px decode over 1,000 real JPEGs, the photos in fixtures/ and ../shared/corpus, and
# those re-encoded at 256-1,100 px as JPEG and PNG (bench/fast_hash_drift.py); the bound leaves room above.
NEAR256_DRIFT = 32
# Images with less detail than this (thumbnails.detail_of: flat, near-blank, smooth two-tone pictures) are
# matched by sha256, path, URL or release id only: their perceptual hashes describe a coarse layout that
# thousands of other images share (docs/matching.md). Applies to the dataset image and to reference entries.
MIN_DETAIL = 15


def matchable(fp: Fingerprint) -> bool:
    """Whether the image has enough detail for perceptual matching (detail unknown: yes)."""
    return bool(fp.phash) and (fp.detail is None or fp.detail >= MIN_DETAIL)


def variants(fp: Fingerprint) -> list[tuple[int, str]]:
    """The image's 64-bit codes a candidate can be found through, with their names: pHash, mirrored pHash,
    border-trimmed pHash, pHash of the picture as shown (EXIF orientation applied) -- those it has."""
    named = (
        (fp.phash, "phash"),
        (fp.phash_mirror, "phash_mirror"),
        (fp.phash_trim, "phash_trim"),
        (fp.phash_upright, "phash_upright"),
    )
    return [(parse_hex64(c), name) for c, name in named if c]


def keypoint_side(variant: str) -> str:
    """Which picture a candidate found through `variant` compares keypoints of: the image "as is", its
    "mirror" image, or "upright" (as shown, its EXIF orientation applied)."""
    return {"phash_mirror": "mirror", "phash_upright": "upright"}.get(variant, "as is")


def least256(estimate: str, theirs: str) -> int:
    """The least 256-bit distance from the image's code to `theirs`, given an estimate of the image's code
    within NEAR256_DRIFT bits of it."""
    return max(0, hamming256(estimate, theirs) - NEAR256_DRIFT)


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


def near_threshold(
    index: HammingIndex,
    fp: Fingerprint,
    thresholds: int | Iterable[int],
    margin: int,
    relevant: Callable[[int], bool] | None = None,
) -> bool:
    """Some indexed code (one that is `relevant`, by index position) lies within `margin` bits of one of
    `thresholds` from one of the image's codes: an exact re-hash could move it across. One radius query
    per code, however many thresholds."""
    bounds = sorted({thresholds} if isinstance(thresholds, int) else set(thresholds))
    for code, _ in variants(fp):
        for pos, d in index.within(code, bounds[-1] + margin):
            if any(t - margin < d <= t + margin for t in bounds) and (relevant is None or relevant(pos)):
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
