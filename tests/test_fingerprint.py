"""Fingerprints of real photos: imagehash-exact, robust to the edits a copy goes through, and bad input
reported with a clear reason."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from typing import Any

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


@pytest.mark.parametrize("fast", [True, False])
def test_a_jpeg_decoded_in_one_piece_reads_as_pillow_feeds_it(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """fingerprint's JPEG open hands the decoder every byte in one call; the pixels are Pillow's own, fed 64 KB
    at a time, and a file cut anywhere is still reported truncated."""
    from consentaudit.fingerprint import _open

    calls: list[int] = []
    make = Image._getdecoder

    class Counted:
        def __init__(self, decoder: Any) -> None:
            self._decoder = decoder

        def decode(self, buffer: bytes) -> object:
            calls.append(len(buffer))
            return self._decoder.decode(buffer)

        def __getattr__(self, name: str) -> object:
            return getattr(self._decoder, name)

    monkeypatch.setattr(Image, "_getdecoder", lambda *a, **k: Counted(make(*a, **k)))
    larger = [p for p in REAL if p.stat().st_size > 65536]  # more than one of Pillow's 64 KB blocks
    assert len(larger) >= 4
    for path in larger[:6]:
        data = path.read_bytes()
        ours, plain = _open(data), Image.open(io.BytesIO(data))
        for im in (ours, plain):
            if fast:
                im.draft("L", (128, 128))
        calls.clear()
        ours.load()
        assert len(calls) == 1, (path, calls)  # Pillow alone: one call per 64 KB
        assert np.array_equal(np.asarray(ours), np.asarray(plain)), path
        for cut in (len(data) // 3, len(data) - 100):
            with pytest.raises(UnreadableImage, match="truncated or corrupt"):
                fingerprint_bytes(data[:cut], fast=fast)


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


def _variants(rng_seed: int = 3) -> list[Image.Image]:
    """Real photos (fixtures/photos, plus ../shared/corpus when present) and crops, resizes, rotations and
    flat or two-tone pictures of them: the inputs pHash meets in a dataset."""
    import random
    from pathlib import Path

    rng = random.Random(rng_seed)
    corpus = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    paths = [*REAL, *sorted(corpus.rglob("*.jpg"))[:60]]
    out: list[Image.Image] = []
    for p in paths:
        try:
            with Image.open(p) as im:
                g = im.convert("L")
        except (OSError, ValueError):
            continue
        out.append(g)
        for _ in range(8):
            w, h = g.size
            k = rng.uniform(0.4, 1.0)
            cw, ch = max(8, int(w * k)), max(8, int(h * k))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            v = g.crop((x, y, x + cw, y + ch))
            v = v.resize((max(8, int(cw * rng.uniform(0.2, 1.3))), max(8, int(ch * rng.uniform(0.2, 1.3)))))
            out.append(v.rotate(rng.choice([0, 90, 180, 270]), expand=True))
    out += [Image.new("L", (300, 200), c) for c in (0, 128, 255)]  # flat: every AC coefficient ties
    two = Image.new("L", (300, 200), 30)
    two.paste(220, (0, 0, 150, 200))
    out.append(two)
    return out


def test_matrix_dct_phash_is_bit_identical_to_imagehash_scipy() -> None:
    """The DCT as two small matrix products (no scipy at start-up) gives imagehash's exact bits, 64-bit and
    256-bit, over real photos and their variants, flat pictures (float-noise ties) included."""
    from consentaudit.phash_dct import DCT as _DCT
    from consentaudit.phash_dct import dct_low_bits as _dct_low_bits
    from consentaudit.phash_dct import hex_bits as _hex

    checked = 0
    for g in _variants():
        assert _hex(_dct_low_bits(np.asarray(g.resize((32, 32), Image.Resampling.LANCZOS)))) == str(imagehash.phash(g))
        assert _hex(_dct_low_bits(np.asarray(g.resize((64, 64), Image.Resampling.LANCZOS)))) == str(
            imagehash.phash(g, hash_size=16)
        )
        checked += 1
    assert checked >= 100
    # the matrix is what it claims: it reproduces scipy's unnormalised DCT-II on random data
    import scipy.fftpack

    x = np.random.default_rng(0).integers(0, 256, (32, 32)).astype(np.float64)
    full = scipy.fftpack.dct(scipy.fftpack.dct(x, axis=0), axis=1)[:8, :8]
    assert np.allclose(_DCT[32] @ x @ _DCT[32].T, full, rtol=1e-12, atol=1e-6)


def test_flat_pictures_hash_as_imagehash_at_every_grey_level() -> None:
    """A one-level picture is answered without the transform (scipy's AC coefficients are exact zeros there):
    the same bits as imagehash for all 256 levels, 64-bit and 256-bit."""
    from consentaudit.phash_dct import dct_low_bits as _dct_low_bits
    from consentaudit.phash_dct import hex_bits as _hex

    codes = set()
    for level in range(256):
        flat = Image.new("L", (40, 30), level)
        for side, size in ((32, 8), (64, 16)):
            px = np.asarray(flat.resize((side, side), Image.Resampling.LANCZOS))
            code = _hex(_dct_low_bits(px))
            assert code == str(imagehash.phash(flat, hash_size=size)), (level, side)
            codes.add(code)
    assert len(codes) == 4  # level 0 and the others differ, at both sizes: the rule is not one constant


def test_fingerprinting_real_photos_does_not_import_scipy() -> None:
    """Nor a blank picture (a placeholder in a scraped set): scipy is left for true ties in a real picture."""
    import subprocess
    import sys

    code = (
        "import io, sys; from consentaudit.fingerprint import fingerprint_bytes, phash256_of; from PIL import Image; "
        f"fp = fingerprint_bytes(open({str(REAL[0])!r}, 'rb').read()); "
        f"phash256_of(Image.open({str(REAL[1])!r}).convert('L')); "
        "buf = io.BytesIO(); Image.new('RGB', (320, 240), (250, 250, 250)).save(buf, 'JPEG'); "
        "fingerprint_bytes(buf.getvalue()); fingerprint_bytes(buf.getvalue(), fast=False); "
        "print(fp.phash, 'scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == "False"


def test_heif_decoder_loads_at_the_first_heif_file_only() -> None:
    """pillow-heif's codecs load when the first ISO BMFF file comes, not at start-up; a HEIC made from a real
    photo then fingerprints to the photo's pHash."""
    import subprocess
    import sys

    pytest.importorskip("pillow_heif", reason="pillow-heif (the [heif] extra) is not installed")
    code = (
        "import io, sys\n"
        "from PIL import Image\n"
        "from consentaudit.fingerprint import fingerprint_bytes\n"
        f"data = open({str(REAL[0])!r}, 'rb').read()\n"
        "jpeg = fingerprint_bytes(data)\n"
        "before = 'pillow_heif' in sys.modules\n"
        "import pillow_heif\n"
        "buf = io.BytesIO(); pillow_heif.from_pillow(Image.open(io.BytesIO(data))).save(buf, quality=90)\n"
        "heic = fingerprint_bytes(buf.getvalue())\n"
        "print(before, heic.format, jpeg.phash == heic.phash or bin(int(jpeg.phash, 16) ^ int(heic.phash, 16)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "HEIF", "True"], out


def _tiff_with_a_tag_past_its_end() -> bytes:
    """A TIFF whose ResolutionUnit entry claims more data than the file holds: Pillow warns on opening it."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, "TIFF", dpi=(72, 72))
    data = bytearray(buf.getvalue())
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    for i in range(count):
        pos = ifd + 2 + 12 * i
        if struct.unpack("<H", data[pos : pos + 2])[0] == 296:
            data[pos + 4 : pos + 8] = struct.pack("<I", 100_000)
    return bytes(data)


def test_a_plugins_warning_on_damaged_data_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's note on damaged data ("Tag data larger than file") reached a worker's stderr, under the
    progress bar and through --quiet. It is dropped; the hashes are still imagehash's, and a decompression
    bomb's warning is still an error."""
    import warnings

    from consentaudit.fingerprint import gray256

    data = _tiff_with_a_tag_past_its_end()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Image.open(io.BytesIO(data)).load()
        assert any("larger than file" in str(w.message) for w in seen)  # what Pillow does on its own
        seen.clear()
        fp = fingerprint_bytes(data, fast=False)
        assert gray256(data) is not None
    assert seen == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = Image.open(io.BytesIO(data))
        assert (fp.phash, fp.dhash) == (str(imagehash.phash(im)), str(imagehash.dhash(im)))
    big = io.BytesIO()
    Image.new("L", (3000, 3000)).save(big, "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6_000_000)  # 9 MP: Pillow warns (under twice its limit)
    with pytest.raises(UnreadableImage, match="decompression bomb"):
        fingerprint_bytes(big.getvalue(), max_pixels=10**10)  # so the warning, not our own limit, refuses it


def test_each_exif_turn_of_a_real_photo_hashes_upright_as_the_picture_shown() -> None:
    """The eight `landscape_N.jpg` files store one picture eight ways, each tagged so that viewers show it
    upright. The stored pixels' pHash (imagehash's, unchanged) is far from the untagged file's for every
    turn but the mirror; the upright pHash is imagehash's pHash of `exif_transpose(image)`, within 2 bits of
    the untagged file's."""
    from PIL import ImageOps

    from conftest import ORIENTATION

    def phash(path: Any, turn: bool = False) -> str:
        with Image.open(path) as im:
            return str(imagehash.phash(ImageOps.exif_transpose(im) if turn else im))

    shown = parse_hex64(phash(ORIENTATION / "landscape_1.jpg"))
    first = fingerprint_bytes((ORIENTATION / "landscape_1.jpg").read_bytes())
    assert first.orientation is None and first.phash_upright is None  # tag 1: the stored pixels are upright
    for n in range(2, 9):
        path = ORIENTATION / f"landscape_{n}.jpg"
        fp = fingerprint_bytes(path.read_bytes())
        assert fp.orientation == n
        assert fp.phash == phash(path)  # the stored pixels, as imagehash hashes them
        assert fp.phash_upright is not None and fp.phash is not None
        assert distance(parse_hex64(fp.phash_upright), parse_hex64(phash(path, turn=True))) <= 2
        assert distance(parse_hex64(fp.phash_upright), shown) <= 2
        if n != 2:  # a mirrored file is found through its mirrored pHash already
            assert distance(parse_hex64(fp.phash), shown) > DEFAULT_PHASH_THRESHOLD


def test_upright_turns_an_array_as_pillow_turns_the_image() -> None:
    from consentaudit.thumbnails import TURNS, upright

    pillow = {  # ImageOps.exif_transpose's method for each Orientation
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }
    px = np.frombuffer(bytes(range(35)), np.uint8).reshape(5, 7)
    for orientation, method in pillow.items():
        assert np.array_equal(upright(px, orientation), np.asarray(Image.fromarray(px).transpose(method)))
    assert sorted(TURNS) == [2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("value", [0, 1, 9, 65535])
def test_an_orientation_tag_out_of_range_turns_nothing(value: int) -> None:
    """A hostile or meaningless Orientation value: the image is fingerprinted as stored, with no upright code."""
    exif = Image.Exif()
    exif[0x0112] = value
    buf = io.BytesIO()
    with Image.open(PHOTOS / "canon-ixus.jpg") as im:
        im.convert("RGB").save(buf, "JPEG", exif=exif.tobytes())
    fp = fingerprint_bytes(buf.getvalue())
    assert fp.phash and fp.orientation is None and fp.phash_upright is None


def test_a_png_with_corrupt_image_data_stays_unreadable() -> None:
    """A real photo as PNG with bytes in the middle of its IDAT stream flipped: zlib fails part way. The
    orientation is read only after the one load, so the failure is reported, never a partial picture."""
    buf = io.BytesIO()
    with Image.open(PHOTOS / "canon-ixus.jpg") as im:
        im.convert("RGBA").save(buf, "PNG")
    data = bytearray(buf.getvalue())
    start = data.find(b"IDAT") + 4 + 2000
    data[start : start + 64] = bytes(b ^ 0x5A for b in data[start : start + 64])
    with pytest.raises(UnreadableImage, match="truncated or corrupt image data"):
        fingerprint_bytes(bytes(data))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "AVIF"])
def test_the_picture_as_shown_is_hashed_once_whatever_the_format(fmt: str) -> None:
    """The tagged camera file re-saved with its EXIF in other formats: PNG, WebP and AVIF keep the tag and
    the stored pixels (the upright code is the picture as shown); Pillow's TIFF reader turns the pixels by
    the tag as it loads them and drops it (the pHash is the picture as shown, and no second turn follows).
    Either way the picture as shown is within 2 bits of the untagged file's."""
    from PIL import features

    from conftest import ORIENTATION

    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    shown = fingerprint_bytes((ORIENTATION / "landscape_1.jpg").read_bytes()).phash
    buf = io.BytesIO()
    with Image.open(ORIENTATION / "landscape_6.jpg") as im:
        im.save(buf, fmt, exif=im.getexif().tobytes())
    fp = fingerprint_bytes(buf.getvalue())
    as_shown = fp.phash_upright or fp.phash
    assert as_shown is not None and shown is not None
    assert distance(parse_hex64(as_shown), parse_hex64(shown)) <= 2
    assert (fp.orientation is None) == (fmt == "TIFF")
