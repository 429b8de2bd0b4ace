"""Local features (OpenCV ORB) that confirm a perceptual candidate is the same photograph.

Two pictures with the same coarse layout (a pier at dusk, two cups on a table) can have 256-bit pHashes
as close as a cropped copy's: at a million references such pairs exist (docs/matching.md). A copy of the
same photograph shares hundreds of local details at consistent positions; a look-alike does not. So a
reference entry stores the ORB keypoints of its picture (their positions and 256-bit descriptors), and a
candidate in the grey zone of the 256-bit rule counts only when enough of the dataset image's keypoints
match the entry's under one similarity transform (scale, rotation, shift: what resizing, cropping and
small rotations do), found by RANSAC. Positions are relative to the picture's longer side, so the check
does not depend on the copy's resolution.

The one home of OpenCV: detection (`detect_keypoints`, on pixels fingerprint.keypoints_of hands it), the
stored form, and the check. These are
features of an image, not of a person: nothing here detects or describes faces.
"""

from __future__ import annotations

import base64
import functools
import struct
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt

FEATURE_SIDE = 512  # keypoints are found on a copy at most this many pixels a side
STORED = 128  # a reference entry keeps its strongest keypoints (4.6 KB)
QUERIED = 500  # a dataset image is described by up to this many
MIN_KEYPOINTS = 8  # fewer on either side: the check cannot say (None)
RATIO = 0.75  # Lowe's ratio test: a match must be clearly better than the second best
MAX_DESCRIPTOR_DISTANCE = 64  # of 256 bits
RANSAC_TOLERANCE = 0.01  # of the longer side: how far an inlier may land from where the transform puts it
MIN_SCALE, MAX_SCALE = 0.4, 2.5  # a copy is not shrunk or enlarged beyond this relative to the reference
_MAGIC = b"ORB1"
_HEAD = struct.Struct("<4sH")


@dataclass(frozen=True)
class Keypoints:
    """Positions (n x 2, float32, 0..1 of the longer side) and ORB descriptors (n x 32 bytes)."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    def encode(self) -> str:
        """base64 of: b"ORB1", count (uint16), positions (uint16 pairs, 1/65535 of the longer side),
        descriptors."""
        pos = np.clip(np.round(self.points * 65535), 0, 65535).astype("<u2")
        raw = _HEAD.pack(_MAGIC, len(self)) + pos.tobytes() + self.descriptors.astype(np.uint8).tobytes()
        return base64.b64encode(raw).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Keypoints:
        """The inverse of `encode`; ValueError when `text` is not an encoding of keypoints."""
        try:
            raw = base64.b64decode(text, validate=True)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"keypoints are not base64: {exc}") from None
        if len(raw) < _HEAD.size:
            raise ValueError("keypoints: too short")
        magic, n = _HEAD.unpack_from(raw)
        if magic != _MAGIC or len(raw) != _HEAD.size + n * 36:
            raise ValueError("keypoints: not an ORB1 record of the stated length")
        pos = np.frombuffer(raw, "<u2", 2 * n, _HEAD.size).reshape(n, 2).astype(np.float32) / 65535
        des = np.frombuffer(raw, np.uint8, 32 * n, _HEAD.size + 4 * n).reshape(n, 32)
        return cls(pos, des)


@functools.cache
def _opencv() -> ModuleType:
    """OpenCV, told to run every function on the calling thread. Its own pool (pthreads in the PyPI wheels)
    would be one more set of threads in each of --jobs processes, and a pool started before a fork breaks the
    forked workers: a worker whose ORB call waits on the pool's state inherited from the fork can block forever
    (opencv/opencv#5150). The likely cause of a CI run that hung once: a two-job reference fingerprint run in
    the test process, which had found and matched keypoints itself, waited forever on one unit. Sequential
    OpenCV finds the same keypoints (the fixture photos' encodings, and the bench's fingerprint files, are
    byte-identical)."""
    import cv2

    cv2.setNumThreads(0)
    return cv2


def detect_keypoints(pixels: npt.NDArray[np.uint8], limit: int) -> Keypoints:
    """The strongest `limit` ORB keypoints of a grayscale pixel array, positions relative to its longer side."""
    cv2 = _opencv()

    empty = Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    if min(pixels.shape) < 32:
        return empty
    orb = cv2.ORB.create(nfeatures=limit, edgeThreshold=15, patchSize=15, fastThreshold=10)
    found, des = orb.detectAndCompute(pixels, None)
    if des is None or not found:
        return empty
    side = float(max(pixels.shape))
    points = np.array([k.pt for k in found], np.float32) / side
    return Keypoints(points, des)


def inliers(image: Keypoints, reference: Keypoints) -> int | None:
    """How many of the image's keypoints match the reference's under one similarity transform (RANSAC);
    None when either side has fewer than MIN_KEYPOINTS (a near-blank picture: the check cannot say)."""
    cv2 = _opencv()

    if len(image) < MIN_KEYPOINTS or len(reference) < MIN_KEYPOINTS:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(image.descriptors, reference.descriptors, k=2)
    good = [
        p[0]
        for p in pairs
        if len(p) == 2 and p[0].distance < RATIO * p[1].distance and p[0].distance <= MAX_DESCRIPTOR_DISTANCE
    ]
    if len(good) < 3:
        return len(good)
    src = image.points[[m.queryIdx for m in good]]
    dst = reference.points[[m.trainIdx for m in good]]
    model, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_TOLERANCE, maxIters=2000, confidence=0.995
    )
    if model is None or mask is None:
        return 0
    scale = float(np.hypot(model[0, 0], model[1, 0]))
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return 0
    return int(mask.sum())
