"""Fingerprints of real photos: imagehash-exact, robust to the edits a copy goes through, and bad input
reported with a clear reason."""

from __future__ import annotations

import io
import itertools
import struct
import zlib

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from conftest import PHOTOS
from consentaudit.defaults import DEFAULT_PHASH_THRESHOLD
from consentaudit.fingerprint import UnreadableImage, fingerprint_bytes
from consentaudit.matching.hamming import distance, parse_hex64

REAL = sorted(p for p in PHOTOS.glob("*.jpg") if "broken" not in p.name)


def _jpeg(im: Image.Image, q: int = 85) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _d(a: str | None, b: str | None) -> int:
    assert a and b
    return distance(parse_hex64(a), parse_hex64(b))


def test_phash_is_imagehash_exact() -> None:
    for p in REAL:
        fp = fingerprint_bytes(p.read_bytes())
        with Image.open(p) as im:
            assert fp.phash == str(imagehash.phash(im))
            assert fp.dhash == str(imagehash.dhash(im))


EDITS = {
    "resize-50": lambda im: _jpeg(im.resize((im.width // 2, im.height // 2), Image.LANCZOS)),
    "jpeg-q30": lambda im: _jpeg(im, 30),
    "png": lambda im: (lambda b: (im.save(b, "PNG"), b.getvalue())[1])(io.BytesIO()),
    "crop-2pct": lambda im: _jpeg(
        im.crop((im.width // 100, im.height // 100, im.width - im.width // 100, im.height - im.height // 100))
    ),
    "brighter": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(1.15)),
    "grayscale": lambda im: _jpeg(im.convert("L")),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_copies_stay_within_the_threshold(edit: str) -> None:
    for p in REAL:
        orig = fingerprint_bytes(p.read_bytes())
        with Image.open(p) as im:
            im.load()
            copy = fingerprint_bytes(EDITS[edit](im))
        assert _d(orig.phash, copy.phash) <= DEFAULT_PHASH_THRESHOLD, p.name


def test_distinct_real_photos_are_never_within_the_threshold() -> None:
    fps = [fingerprint_bytes(p.read_bytes()) for p in REAL]
    closest = min(_d(a.phash, b.phash) for a, b in itertools.combinations(fps, 2))
    assert closest > DEFAULT_PHASH_THRESHOLD


def test_mirror_hash_matches_a_flipped_copy() -> None:
    p = REAL[0]
    orig = fingerprint_bytes(p.read_bytes())
    with Image.open(p) as im:
        flipped = fingerprint_bytes(_jpeg(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    assert _d(orig.phash, flipped.phash) > DEFAULT_PHASH_THRESHOLD
    assert _d(orig.phash_mirror, flipped.phash) <= 2


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"hello, not an image", "not an image"),
        (REAL[0].read_bytes()[:4000], "truncated or corrupt"),
        (_png_claiming(50_000, 50_000), "decompression bomb"),
    ],
)
def test_unreadable_inputs_have_a_clear_reason(data: bytes, message: str) -> None:
    with pytest.raises(UnreadableImage, match=message):
        fingerprint_bytes(data)


def test_pixel_limit_is_configurable() -> None:
    data = REAL[0].read_bytes()
    with pytest.raises(UnreadableImage, match="decompression bomb"):
        fingerprint_bytes(data, max_pixels=1000)


def test_broken_exif_still_fingerprints() -> None:
    fp = fingerprint_bytes((PHOTOS / "broken-exif-image01551.jpg").read_bytes())
    assert fp.phash is not None and fp.width == 61


def test_detail_separates_photos_from_flat_and_two_tone_images() -> None:
    from PIL import ImageFilter

    from consentaudit.matching.perceptual import MIN_DETAIL

    photo = Image.open(REAL[0]).convert("RGB")
    assert (fingerprint_bytes(_jpeg(photo)).detail or 0) >= MIN_DETAIL
    flat = Image.new("RGB", photo.size, (200, 180, 160))
    assert fingerprint_bytes(_jpeg(flat)).detail == 0
    # the same photo reduced to a soft two-tone layout ("dark here, light there"): too little to match on
    gray = photo.convert("L")
    median = int(np.median(np.asarray(gray)))
    two_tone = gray.point(lambda v: 230 if v > median else 40).filter(ImageFilter.GaussianBlur(photo.width / 8))
    assert (fingerprint_bytes(_jpeg(two_tone)).detail or 0) < MIN_DETAIL
