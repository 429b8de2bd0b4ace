"""The costlier codes of a dataset image, computed while it is matched and only when a candidate needs them:
its 256-bit pHash and ORB keypoints per variant, and the estimate of the former from its fingerprint's
thumbnails. Decoding stays in fingerprint.py (the one home of Pillow); this module holds what was computed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np

from consentaudit import fingerprint  # every decode through the module: one place to observe it
from consentaudit.defaults import DEFAULT_MAX_PIXELS
from consentaudit.fingerprint import Gray
from consentaudit.matching.keypoints import FEATURE_SIDE, Keypoints
from consentaudit.matching.perceptual import keypoint_side
from consentaudit.thumbnails import Thumbnails


class ImageProbe:
    """The costlier codes of one dataset image, computed only when a candidate needs them: its 256-bit pHash
    per variant (`phash256`) and its ORB keypoints per variant (`keypoints`). The bytes are read once and
    decoded once for each (at >= 256 and >= FEATURE_SIDE pixels); None when the image cannot be read.
    `near256` estimates the 256-bit pHash from the fingerprint's thumbnails, for candidates a bound decides."""

    def __init__(
        self,
        read: Callable[[], bytes],
        max_pixels: int = DEFAULT_MAX_PIXELS,
        known: Sequence[tuple[str, str]] = (),
        thumbs: Thumbnails | None = None,
        orientation: int | None = None,
    ) -> None:
        """`known`: codes an earlier probe of the same bytes computed (Fingerprint.probed): not computed again.
        `thumbs`: the thumbnails of the image's fingerprint, which `near256` estimates the 256-bit pHash
        from without decoding again. `orientation`: its EXIF Orientation, which "phash_upright" turns by."""
        self._read, self._max_pixels = read, max_pixels
        self._orientation = orientation
        self._data: bytes | None = None
        self._gray: dict[int, Gray | None] = {}
        self._codes: dict[str, str | None] = {}
        self._near: dict[str, str | None] = {}
        self._thumbs = thumbs
        self._points: dict[str, Keypoints | None] = {}
        self._new: dict[str, str] = {}
        self._px64: np.ndarray | None = None  # the picture at 64x64, shared by all variants but "phash_trim"
        for name, value in known:
            kind, _, variant = name.partition(":")
            if kind == "phash256":
                self._codes[variant] = value
            elif kind == "near256":
                self._near[variant] = value
            elif kind == "keypoints":
                with contextlib.suppress(ValueError):
                    self._points[variant] = Keypoints.decode(value)

    def computed(self) -> tuple[tuple[str, str], ...]:
        """The codes this probe computed (not given as known), to keep with the image."""
        return tuple(sorted(self._new.items()))

    def _decoded(self, side: int) -> Gray | None:
        if side not in self._gray:
            if self._data is None:
                try:
                    self._data = self._read()
                except OSError:
                    self._data = b""
            self._gray[side] = fingerprint.gray256(self._data, self._max_pixels, side) if self._data else None
        return self._gray[side]

    def phash256(self, variant: str) -> str | None:
        if variant not in self._codes:
            gray = self._decoded(256)
            if gray is not None and self._px64 is None and variant != "phash_trim":
                self._px64 = fingerprint.pixels64(gray)
            code = None if gray is None else fingerprint.phash256_variant(gray, variant, self._px64, self._orientation)
            self._codes[variant] = code
            if code is not None:
                self._new[f"phash256:{variant}"] = code
        return self._codes[variant]

    def near256(self, variant: str) -> str | None:
        """The 256-bit pHash of `variant` estimated from the fingerprint's thumbnails
        (`Thumbnails.estimate256`): enough to rule out a candidate far beyond the radius without a second
        decode. The exact code when it is already known; None without thumbnails."""
        if self._codes.get(variant) is not None:
            return self._codes[variant]
        if variant not in self._near:
            code = self._thumbs.estimate256(variant) if self._thumbs is not None else None
            if code is not None:
                self._new[f"near256:{variant}"] = code
            self._near[variant] = code
        return self._near[variant]

    def keypoints(self, variant: str) -> Keypoints | None:
        """Keypoints of the picture as is, of its mirror image for "phash_mirror", or as shown for
        "phash_upright" (a border-trimmed candidate needs no trim: the transform the check fits absorbs the
        shift)."""
        key = keypoint_side(variant)
        if key not in self._points:
            gray = self._decoded(FEATURE_SIDE)
            if gray is not None and key == "mirror":
                gray = fingerprint.mirrored(gray)
            elif gray is not None and key == "upright":
                gray = fingerprint.upright_image(gray, self._orientation)
            self._points[key] = points = None if gray is None else fingerprint.keypoints_of(gray)
            if points is not None:
                self._new[f"keypoints:{key}"] = points.encode()
        return self._points[key]
