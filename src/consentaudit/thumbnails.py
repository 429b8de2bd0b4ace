"""What is read off a picture once it is reduced to arrays, without Pillow: the 32x32 thumbnails a
fingerprint's pHashes come from and the 256-bit pHash estimated from them, the box inside a uniform border,
how much detail a thumbnail carries, and the turns of an EXIF Orientation. Pure NumPy; fingerprint.py
decodes and reduces, then hands its arrays here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from consentaudit.phash_dct import dct_rows, hex_bits

PHASH_SIDE = 32  # imagehash.phash(hash_size=8, highfreq_factor=4) resizes to 32 x 32

# How a viewer turns the stored pixels for each EXIF Orientation (2-8) to show the picture upright, as
# Pillow's ImageOps.exif_transpose does, on arrays whose rows are y (a test checks each against Pillow).
TURNS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(np.rot90(a, 2), 0, 1),
    8: lambda a: np.rot90(a, 1),
}


def upright(px: np.ndarray, orientation: int) -> np.ndarray:
    """The array `px` turned as EXIF `orientation` says: the thumbnail of the stored pixels turned is the
    thumbnail of the picture as shown (docs/matching.md: the same pHash on the corpus's orientation
    samples)."""
    return np.ascontiguousarray(TURNS[orientation](px))


def turned(px: np.ndarray, variant: str, orientation: int | None = None) -> np.ndarray:
    """`px` as the 64-bit `variant` sees the picture: as is ("phash"), mirrored ("phash_mirror"), or as
    shown ("phash_upright", turned by the EXIF `orientation`; stored pixels without a turn are upright)."""
    if variant == "phash_mirror":
        return px[:, ::-1]
    if variant == "phash_upright" and orientation in TURNS:
        return upright(px, orientation)
    return px


# The 16 lowest DCT-II frequencies of a 64-sample row, estimated from the same row at 32 samples: for a
# picture that is piecewise constant over pixel pairs, DCT64[u] = 2 cos(pi u / 128) DCT32[u]; the common
# factor 2 does not move the median, the cosine does (up to 7% at u = 15).
_EST256 = dct_rows(PHASH_SIDE, 16) / np.cos(np.pi * np.arange(16) / 128)[:, None]


# Below this many pixels a side, a picture is enlarged to 64x64 for the 256-bit pHash and the 32x32 thumbnail
# says too little about that: no estimate (measured: 48 bits off for a 49x500 photo).
ESTIMATE_MIN_SIDE = 64


@dataclass(frozen=True)
class Thumbnails:
    """The 32x32 grayscale thumbnails a fingerprint's pHashes were computed from: of the picture and of its
    border-trimmed inside (None without a uniform border), with the shorter side of each source."""

    small: np.ndarray
    trimmed: np.ndarray | None = None
    side: int = 0
    trimmed_side: int = 0
    orientation: int | None = None  # EXIF Orientation 2-8: "phash_upright" is the picture turned by it

    def estimate256(self, variant: str) -> str | None:
        """The 256-bit pHash of `variant` (phash, phash_mirror, phash_trim, phash_upright) estimated from the
        thumbnails: the low 16x16 frequencies of the 32x32 picture instead of the 64x64 one imagehash
        transforms. Within matching.perceptual.NEAR256_DRIFT bits of `fingerprint.phash256_variant` on the
        measured photos (bench/fast_hash_drift.py); a flat picture gives the exact code's DC bit, as
        `phash_dct.dct_low_bits` does. None when the source had a side under ESTIMATE_MIN_SIDE pixels."""
        px = self.trimmed if variant == "phash_trim" else turned(self.small, variant, self.orientation)
        side = self.trimmed_side if variant == "phash_trim" else self.side
        if px is None or side < ESTIMATE_MIN_SIDE:
            return None
        level = px.flat[0]
        if px.min() == level and px.max() == level:
            bits = np.zeros((16, 16), dtype=bool)
            bits[0, 0] = level > 0
            return hex_bits(bits)
        low = _EST256 @ px.astype(np.float64) @ _EST256.T
        ranked = np.sort(low, axis=None)
        return hex_bits(low > (ranked[127] + ranked[128]) / 2)


BORDER_TOLERANCE = 12  # grey levels: a border row/column is "uniform" within this of the corner pixel


def trim_box(px: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box inside a uniform border (letterbox, padding, frame) of a grayscale picture, or None when there
    is none."""
    if px.ndim != 2 or min(px.shape) < 16:
        return None
    corner = int(px[0, 0])
    if not (
        abs(int(px[0, -1]) - corner) <= BORDER_TOLERANCE
        and abs(int(px[-1, 0]) - corner) <= BORDER_TOLERANCE
        and abs(int(px[-1, -1]) - corner) <= BORDER_TOLERANCE
    ):
        return None  # most photos: decided by the corners, before any whole-picture work
    content = np.abs(px.astype(np.int16) - corner) > BORDER_TOLERANCE
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    if len(rows) == 0 or len(cols) == 0:
        return None
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    h, w = px.shape
    area = (box[2] - box[0]) * (box[3] - box[1])
    if box == (0, 0, w, h) or area < 0.4 * w * h:
        return None
    return box


DETAIL_STEP = 8  # grey levels


def detail_of(small: np.ndarray) -> int:
    """0-100: the percentage of the 32x32 thumbnail that pHash hashes whose pixels differ from a neighbour
    by at least DETAIL_STEP grey levels. Flat, near-blank and smooth two-tone images score low: their
    perceptual hashes say little more than "dark here, light there" and, against a million references,
    match other such images (docs/matching.md)."""
    s = small.astype(np.int16)
    step = np.maximum(np.abs(np.diff(s, axis=1))[:-1, :], np.abs(np.diff(s, axis=0))[:, :-1])
    return int(100 * np.count_nonzero(step >= DETAIL_STEP) / step.size)
