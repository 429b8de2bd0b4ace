"""Fingerprints of image bytes: SHA-256 plus imagehash perceptual hashes. The one home of Pillow/imagehash."""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import imagehash
import numpy as np
import PIL
from PIL import Image, UnidentifiedImageError

from consentaudit import jpegxl, lanczos
from consentaudit.defaults import DEFAULT_MAX_PIXELS
from consentaudit.digest import sha256_hex
from consentaudit.errors import ConsentAuditError
from consentaudit.matching.keypoints import FEATURE_SIDE, QUERIED, STORED, Keypoints, detect_keypoints
from consentaudit.models import Fingerprint
from consentaudit.phash_dct import dct_low_bits, hex_bits
from consentaudit.thumbnails import PHASH_SIDE, TURNS, Thumbnails, detail_of, trim_box, turned, upright

_HEIF: list[bool] = []  # whether pillow-heif's opener is registered: decided at the first ISO BMFF file


def heif_support() -> bool:
    """Register pillow-heif's HEIF/HEIC opener (the optional extra) on first use: its codec libraries load in
    ~50 ms, which a dataset without HEIF files never pays. Without the extra those files are reported as
    unsupported."""
    if not _HEIF:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:  # pragma: no cover - depends on the optional extra
            _HEIF.append(False)
        else:
            register_heif_opener()
            _HEIF.append(True)
    return _HEIF[0]


@contextlib.contextmanager
def _decoding() -> Iterator[None]:
    """Pillow's warnings while an image is opened and decoded: a decompression bomb's is an error; a plugin's
    note on damaged data (a tag larger than the file, ...) is dropped, not printed by a worker under the
    progress bar or `--quiet` (the finding says what was read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _open(data: bytes) -> Image.Image:
    """Image.open on bytes; an ISO BMFF file (`ftyp` box: HEIF, HEIC, AVIF) first makes sure the HEIF opener is
    registered. A JPEG is decoded from the bytes in hand in one piece."""
    if data[4:8] == b"ftyp":
        heif_support()
    im = Image.open(io.BytesIO(data))
    if im.format == "JPEG":
        # the whole entropy-coded stream in one decoder call: Pillow feeds it 64 KB at a time otherwise, and
        # each call copies the unread rest and restarts libjpeg's input (~0.3 ms, 2.5%, of a 6 MP draft decode)
        im.decodermaxblock = max(im.decodermaxblock, len(data))
    return im


# Bump when any hash changes meaning: stored fingerprints from another algorithm are never compared blindly.
# Pillow's major version too: Pillow 13 resizes tall pictures in another pass order than 12 (lanczos.py), so a
# picture's imagehash values can differ across it; a fingerprint cache filled under one is not reused under the
# other (a minor release keeps the cache: re-decoding every image for each Pillow patch would be the worse cost).
_HASHES = (
    f"sha256;imagehash-{imagehash.__version__},pillow-{PIL.__version__.split('.')[0]}:"
    "phash(8),dhash(8),phash-mirror(8),phash-upright(8);detail(32)"
)
# Reference builds also record phash(16) of the picture, pHash + phash(16) of its views (VIEWS) and its
# ORB keypoints (keypoints.py, OpenCV).
EXACT_ALGORITHM = f"{_HASHES};full-decode;convert(L);no-exif-transpose"
DRAFT_SIDE = 128
FAST_ALGORITHM = f"{_HASHES};jpeg-draft(L,>={DRAFT_SIDE}px);convert(L);no-exif-transpose"
ALGORITHM = EXACT_ALGORITHM


def algorithm(fast: bool) -> str:
    return FAST_ALGORITHM if fast else EXACT_ALGORITHM


class UnreadableImage(ConsentAuditError):
    """The bytes are not an image this tool can decode; the message says why."""


def fingerprint_bytes(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fast: bool = False,
    with256: bool = False,
    keep_thumbs: Callable[[Thumbnails], None] | None = None,
    views: bool = True,
) -> Fingerprint:
    """Decode `data` once and return its fingerprint; raise UnreadableImage with a clear reason.

    `fast` decodes JPEGs in the DCT domain straight to grayscale at the smallest scale that keeps at least
    DRAFT_SIDE pixels a side (`Image.draft`): 3-4x faster, and on the benchmarked real photos within 4 bits
    of imagehash's full-decode pHash (docs/performance.md). Without it the hashes are imagehash-exact.
    `keep_thumbs` is given the thumbnails the pHashes came from, for `probe.ImageProbe.near256`. `with256` adds
    the 256-bit pHash and, unless `views` is False, the views and ORB keypoints of a reference entry (three
    quarters of a reference fingerprint's cost; a consent manifest's record needs neither).
    """
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    digest = sha256_hex(data)
    if jpegxl.is_jpegxl(data):
        return _fingerprint_jpegxl(data, digest, max_pixels, with256, keep_thumbs, views)
    try:
        with _decoding():
            im = _open(data)
            width, height = im.size
            if width * height > max_pixels:
                raise UnreadableImage(
                    f"decompression bomb: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
                )
            fmt = im.format
            if fast and fmt == "JPEG":
                im.draft("L", (DRAFT_SIDE, DRAFT_SIDE))
            im.load()
            # read once loaded: a PNG's getexif() loads the picture, and a load that failed once may, asked
            # again, hand back the partial picture without an error
            turn = orientation_of(im)
            gray = im if im.mode == "L" else im.convert("L")
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableImage(f"decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"hevc", b"avif"):
            raise UnreadableImage("unsupported format: HEIF/HEIC/AVIF (the pillow-heif decoder did not load)") from exc
        raise UnreadableImage("not an image: no decoder recognises the format") from exc
    except OSError as exc:
        raise UnreadableImage(f"truncated or corrupt image data: {exc}") from exc
    except MemoryError as exc:
        raise UnreadableImage("image too large to decode in memory") from exc
    except Exception as exc:  # Pillow plugins raise many types on hostile input
        raise UnreadableImage(f"cannot decode image: {type(exc).__name__}: {exc}") from exc
    fp = hash_gray(gray, digest, width, height, fmt, with256, keep_thumbs, views, turn)
    return replace(fp, exact=not (fast and fmt == "JPEG"))


def _fingerprint_jpegxl(
    data: bytes,
    digest: str,
    max_pixels: int,
    with256: bool,
    keep_thumbs: Callable[[Thumbnails], None] | None,
    views: bool,
) -> Fingerprint:
    """A JPEG XL file's fingerprint: hashed as Pillow's convert("L") would see its stored pixels, with the
    header's orientation used as a JPEG's EXIF Orientation is."""
    im, header = open_jpegxl(data, max_pixels)
    gray = im if im.mode == "L" else im.convert("L")
    turn = header.orientation if header.orientation in TURNS else None
    return hash_gray(gray, digest, header.width, header.height, "JXL", with256, keep_thumbs, views, turn)


def open_jpegxl(data: bytes, max_pixels: int) -> tuple[Image.Image, jpegxl.JxlHeader]:
    """A JPEG XL file's stored pixels as an "L" or "RGB" image, decoded by libjxl (imagecodecs) once its header
    says it is within `max_pixels`; UnreadableImage says why it cannot be."""
    try:
        header = jpegxl.read_header(data)
    except ValueError as exc:
        raise UnreadableImage(f"truncated or corrupt image data: {exc}") from exc
    width, height = header.width, header.height
    if width * height > max_pixels:
        raise UnreadableImage(
            f"decompression bomb: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
        )
    try:
        return _as_image(np.asarray(jpegxl.decode(data))), header
    except jpegxl.DecoderMissing:
        raise UnreadableImage(
            "unsupported format: JPEG XL (its decoder, imagecodecs, is not installed: pip install 'consentaudit[jxl]')"
        ) from None
    except MemoryError as exc:
        raise UnreadableImage("image too large to decode in memory") from exc
    except Exception as exc:  # imagecodecs raises JpegxlError on damaged data
        raise UnreadableImage(f"truncated or corrupt image data: {type(exc).__name__}: {exc}") from exc


def _as_image(px: np.ndarray) -> Image.Image:
    """Decoded pixels (gray, gray + alpha, RGB or RGBA; 8 or 16 bits, or floats in 0..1) as an 8-bit "L" or
    "RGB" image, the alpha channel dropped as Pillow's convert("L") drops it."""
    if px.dtype.kind == "f":
        px = np.clip(np.nan_to_num(px) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif px.dtype != np.uint8:  # 16 bits: the high byte, as Pillow reduces a 16-bit image
        px = (px >> (8 * px.dtype.itemsize - 8)).astype(np.uint8)
    if px.ndim == 3 and px.shape[2] in (1, 2):
        px = px[:, :, 0]
    if px.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(px), "L")
    if px.ndim != 3 or px.shape[2] not in (3, 4):
        raise ValueError(f"decoded pixels of shape {px.shape}")
    return Image.fromarray(np.ascontiguousarray(px[:, :, :3]), "RGB")


def orientation_of(im: Image.Image) -> int | None:
    """The EXIF Orientation a viewer turns the stored pixels by (2-8); None for 1, no tag, or EXIF that
    cannot be read (hostile metadata costs the image this code, never its scan)."""
    try:
        value = im.getexif().get(0x0112)
    except Exception:
        return None
    return value if isinstance(value, int) and value in TURNS else None


def upright_image(gray: Image.Image, orientation: int | None) -> Image.Image:
    """The picture as a viewer shows it (the stored pixels when there is no turn)."""
    return Image.fromarray(upright(np.asarray(gray), orientation)) if orientation in TURNS else gray


# A reference image is also hashed as the copies that defeat a global pHash would show it: centre crops
# keeping 90% / 80% of each side, and rotated by 5 degrees either way (corners filled black, as a rotating
# editor leaves them). Computed on a copy at most VIEW_SIDE pixels a side.
VIEWS = (("c90", 0.90, 0.0), ("c80", 0.80, 0.0), ("r+5", 1.0, 5.0), ("r-5", 1.0, -5.0))
VIEW_SIDE = 512


def views_of(gray: Image.Image, orientation: int | None = None) -> tuple[tuple[str, str, str], ...]:
    """(name, pHash, 256-bit pHash) of each view in VIEWS, so that a cropped or slightly rotated copy in a
    dataset finds the reference through close codes (docs/matching.md); with an EXIF `orientation`, first the
    "upright" view, the picture as shown, which a copy saved upright (its tag applied) shows."""
    out = []
    if orientation in TURNS:
        shown = upright_image(gray, orientation)
        small = np.asarray(shown.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS))
        out.append(("upright", hex_bits(dct_low_bits(small)), phash256_of(shown)))
    base = gray.copy()
    base.thumbnail((VIEW_SIDE, VIEW_SIDE), Image.Resampling.LANCZOS)
    w, h = base.size
    for name, keep, angle in VIEWS:
        dw, dh = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
        if w - 2 * dw < 16 or h - 2 * dh < 16:
            continue
        view = base.crop((dw, dh, w - dw, h - dh)) if keep < 1 else base
        if angle:
            view = view.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        small = np.asarray(view.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS))
        out.append((name, hex_bits(dct_low_bits(small)), phash256_of(view)))
    return tuple(out)


Gray = Image.Image  # a decoded grayscale picture, for modules that hand one back here without Pillow


def pixels64(gray: Gray) -> np.ndarray:
    """The picture reduced to 64x64 (LANCZOS), as imagehash's 256-bit pHash reduces it."""
    return np.asarray(gray.resize((64, 64), Image.Resampling.LANCZOS))


def mirrored(gray: Gray) -> Gray:
    return gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def phash256_of(gray: Image.Image) -> str:
    """imagehash.phash(image, hash_size=16): 256 bits as 64 hex digits."""
    return hex_bits(dct_low_bits(pixels64(gray)))


def gray256(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, side: int = 256) -> Image.Image | None:
    """The grayscale picture the 256-bit pHash is computed from (JPEGs decoded at >= `side` px); None when
    the image is unreadable."""
    try:
        if jpegxl.is_jpegxl(data):
            return open_jpegxl(data, max_pixels)[0].convert("L")
        with _decoding():
            im = _open(data)
            if im.size[0] * im.size[1] > max_pixels:
                return None
            if im.format == "JPEG":
                im.draft("L", (side, side))
            return im.convert("L")
    except Exception:
        return None


def phash256_variant(
    gray: Image.Image, variant: str = "phash", resized: np.ndarray | None = None, orientation: int | None = None
) -> str:
    """The 256-bit pHash for the 64-bit `variant` a candidate was found through: "phash" (as is),
    "phash_mirror" (mirror image), "phash_trim" (uniform border trimmed) or "phash_upright" (turned by the
    EXIF `orientation`). `resized`: the picture already reduced to 64x64, for all but "phash_trim" (the mirror
    of the reduced picture is the reduced mirror image, pixel for pixel: LANCZOS weights are symmetric; a
    turned one is within the drift of a pass order)."""
    if variant in ("phash", "phash_mirror", "phash_upright"):
        px = pixels64(gray) if resized is None else resized
        return hex_bits(dct_low_bits(turned(px, variant, orientation)))
    if variant == "phash_trim":
        box = trim_box(np.asarray(gray))
        if box is not None:
            gray = gray.crop(box)
    return phash256_of(gray)


def keypoints_of(gray: Image.Image, limit: int = QUERIED) -> Keypoints:
    """The strongest `limit` ORB keypoints of a grayscale picture (on a copy at most FEATURE_SIDE a side)."""
    small = gray.convert("L")
    small.thumbnail((FEATURE_SIDE, FEATURE_SIDE), Image.Resampling.LANCZOS)
    return detect_keypoints(np.ascontiguousarray(np.asarray(small)), limit)


def _pixels(gray: Image.Image) -> np.ndarray:
    """The "L" picture as a (height, width) uint8 array (read-only)."""
    return np.frombuffer(gray.tobytes(), np.uint8).reshape(gray.height, gray.width)


# Pictures on which the pass orders of Pillow's LANCZOS resize give different results: the first order of
# lanczos.ORDERS that reproduces Pillow on all of them is the installed Pillow's.
_ORDER_CASES = (
    ((187, 140), (32, 32)),
    ((140, 187), (9, 8)),
    ((27, 43), (32, 32)),
    ((90, 400), (32, 32)),
    ((13, 20), (9, 8)),
)
_ORDER: list[str | None] = []


def order_cases() -> list[tuple[np.ndarray, tuple[int, int]]]:
    """The order check's pictures: fixed noise (SHAKE-128 bytes, so that no process loads numpy.random for
    it: ~11 ms) at each of _ORDER_CASES' sizes, with the size it is resized to."""
    return [
        (np.frombuffer(hashlib.shake_128(b"lanczos-order-%d" % i).digest(w * h), np.uint8).reshape(h, w), size)
        for i, ((w, h), size) in enumerate(_ORDER_CASES)
    ]


def lanczos_order() -> str | None:
    """The pass order (lanczos.ORDERS) in which `lanczos.resize` reproduces the installed Pillow's LANCZOS
    resize, found once per process on the fixed noise of `order_cases`; None when no order does (a Pillow
    that resamples differently): then Pillow itself resizes."""
    if not _ORDER:
        cases = order_cases()
        pillow = [np.asarray(Image.fromarray(px).resize(size, Image.Resampling.LANCZOS)) for px, size in cases]
        found = None
        for order in lanczos.ORDERS:
            if all(
                np.array_equal(lanczos.resize(px, [size], order)[0], want)
                for (px, size), want in zip(cases, pillow, strict=True)
            ):
                found = order
                break
        _ORDER.append(found)
    return _ORDER[0]


def warm_process() -> None:
    """The once-per-process work of the first image, done ahead: Pillow's common format plugins (`Image.open`
    on bytes loads them, ~11 ms) and the LANCZOS pass-order check (~5-10 ms). A pool forked after this call
    inherits both instead of each worker repeating them."""
    Image.preinit()
    lanczos_order()


def _reduce(px: np.ndarray, sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Pillow's LANCZOS resize of a grayscale array to each size, bit for bit (lanczos.py, else Pillow)."""
    order = lanczos_order()
    if order is not None:
        return lanczos.resize(px, sizes, order)
    im = Image.fromarray(np.ascontiguousarray(px))
    return [np.asarray(im.resize(size, Image.Resampling.LANCZOS)) for size in sizes]


def hash_gray(
    gray: Image.Image,
    digest: str,
    width: int,
    height: int,
    fmt: str | None,
    with256: bool = False,
    keep_thumbs: Callable[[Thumbnails], None] | None = None,
    views: bool = True,
    orientation: int | None = None,
) -> Fingerprint:
    """Perceptual hashes of a grayscale image, bit-identical to imagehash's defaults (a test checks it);
    `keep_thumbs` is given the 32x32 thumbnails the pHashes were computed from; `with256`, `views`: as
    `fingerprint_bytes`. With an EXIF `orientation` (2-8) the pHash of the picture as shown too
    (`phash_upright`): the stored pixels stay what the other hashes hash, as imagehash does."""
    px = _pixels(gray)
    small, d = _reduce(px, ((PHASH_SIDE, PHASH_SIDE), (9, 8)))
    box = trim_box(px)
    trimmed = inner = None
    inner_side = 0
    if box is not None:
        inner_side = min(box[2] - box[0], box[3] - box[1])
        left, top, right, bottom = box
        (inner,) = _reduce(px[top:bottom, left:right], ((PHASH_SIDE, PHASH_SIDE),))  # = crop(box).resize
        trimmed = hex_bits(dct_low_bits(inner))
    if keep_thumbs is not None:
        keep_thumbs(Thumbnails(small, inner, min(gray.size), inner_side, orientation))
    return Fingerprint(
        sha256=digest,
        phash=hex_bits(dct_low_bits(small)),
        dhash=hex_bits(d[:, 1:] > d[:, :-1]),
        phash_mirror=hex_bits(dct_low_bits(small[:, ::-1])),
        phash_trim=trimmed,
        phash256=phash256_of(gray) if with256 else None,
        views=views_of(gray, orientation) if with256 and views else (),
        detail=detail_of(small),
        keypoints=keypoints_of(gray, STORED).encode() if with256 and views else None,
        width=width,
        height=height,
        format=fmt,
        phash_upright=hex_bits(dct_low_bits(upright(small, orientation))) if orientation in TURNS else None,
        orientation=orientation if orientation in TURNS else None,
    )


def thumbnail_data_uri(data: bytes, max_side: int = 96, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """A small JPEG thumbnail as a data: URI (for the HTML report), or None when the image cannot be read."""
    import base64

    try:
        with _decoding():
            if jpegxl.is_jpegxl(data):
                im = open_jpegxl(data, max_pixels)[0]
            else:
                im = _open(data)
                if im.size[0] * im.size[1] > max_pixels:
                    return None
            im.draft("RGB", (max_side, max_side))
            im.thumbnail((max_side, max_side))
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "JPEG", quality=70)
    except Exception:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
