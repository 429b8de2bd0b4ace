"""JPEG XL: what its header says (size, orientation), read before anything is decoded, and its decoding by
libjxl through imagecodecs (the optional extra `consentaudit[jxl]`; Pillow has no JPEG XL decoder).

A JPEG XL file is a bare codestream (`FF 0A`) or an ISO-BMFF style container (ISO/IEC 18181-2) whose `jxlc`
box, or `jxlp` boxes in order, hold the codestream. Its SizeHeader and the start of its ImageMetadata
(ISO/IEC 18181-1, A.3.1 and A.6) are read bit by bit, least significant bit first, so that a decompression
bomb is refused from its first bytes as Pillow refuses one of the formats it decodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

CODESTREAM = b"\xff\x0a"
CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
HEADER_BYTES = 64  # more than a SizeHeader and the start of ImageMetadata take


def is_jpegxl(data: bytes) -> bool:
    return data.startswith((CODESTREAM, CONTAINER))


@dataclass(frozen=True)
class JxlHeader:
    width: int
    height: int
    orientation: int  # 1-8, as EXIF's Orientation: how a viewer turns the stored pixels


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for i in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("JPEG XL header cut short")
            value |= ((self.data[byte] >> (self.pos & 7)) & 1) << i
            self.pos += 1
        return value

    def u32(self) -> int:  # U32(1 + u(9), 1 + u(13), 1 + u(18), 1 + u(30)): a SizeHeader dimension
        return 1 + self.u((9, 13, 18, 30)[self.u(2)])


def _boxes(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(type, offset of the payload) of each top-level box of a container, up to broken structure."""
    pos, n = 0, len(data)
    while pos + 8 <= n:
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        head = 8
        if size == 1:
            size, head = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = n - pos
        if size < head:
            return
        yield kind, pos + head
        pos += size


def codestream_start(data: bytes) -> bytes:
    """The first bytes of the codestream: the file itself, or its container's `jxlc` box, or its first `jxlp`
    box (after that box's 4-byte part index). ValueError when the container holds no codestream."""
    if data.startswith(CODESTREAM):
        return data[:HEADER_BYTES]
    for kind, at in _boxes(data):
        if kind == b"jxlc":
            return data[at : at + HEADER_BYTES]
        if kind == b"jxlp":
            return data[at + 4 : at + 4 + HEADER_BYTES]
    raise ValueError("JPEG XL container without a codestream box (jxlc/jxlp)")


def rebuilds_a_jpeg(data: bytes) -> bool:
    """Whether the file is a JPEG recompressed losslessly: a container with JPEG bitstream reconstruction data
    (`jbrd`), from which the original JPEG file comes back bit for bit."""
    return data.startswith(CONTAINER) and any(kind == b"jbrd" for kind, _ in _boxes(data))


def jpeg_of(data: bytes) -> bytes:
    """The original JPEG file a losslessly recompressed one (`rebuilds_a_jpeg`) rebuilds, byte for byte.
    Raises DecoderMissing without imagecodecs, ValueError (or imagecodecs' error) when it cannot."""
    try:
        import imagecodecs
    except ImportError:
        raise DecoderMissing from None
    if not imagecodecs.JPEGXL.available:
        raise DecoderMissing
    return bytes(imagecodecs.jpegxl_decode_jpeg(data, numthreads=1))


def read_header(data: bytes) -> JxlHeader:
    """Width, height and orientation from the file's first bytes; ValueError when they are not a JPEG XL
    header."""
    stream = codestream_start(data)
    if not stream.startswith(CODESTREAM):
        raise ValueError("JPEG XL codestream without its FF 0A signature")
    bits = _Bits(stream[2:])
    div8 = bits.u(1)
    height = 8 * (1 + bits.u(5)) if div8 else bits.u32()
    ratio = bits.u(3)
    if ratio:
        num, den = _RATIOS[ratio]
        width = height * num // den
    else:
        width = 8 * (1 + bits.u(5)) if div8 else bits.u32()
    orientation = 1
    if not bits.u(1) and bits.u(1):  # not all_default, and extra_fields: the orientation comes first
        orientation = 1 + bits.u(3)
    return JxlHeader(width, height, orientation)


class DecoderMissing(Exception):
    """imagecodecs (or its libjxl) is not installed."""


def decode(data: bytes) -> object:
    """The stored pixels (as a NumPy array: height x width [x channels]), not turned by the orientation, as a
    JPEG's are hashed without its EXIF Orientation applied. Raises DecoderMissing without imagecodecs."""
    try:
        import imagecodecs
    except ImportError:
        raise DecoderMissing from None
    if not imagecodecs.JPEGXL.available:
        raise DecoderMissing
    return imagecodecs.jpegxl_decode(data, keeporientation=True, numthreads=1)


def brotli(data: bytes, limit: int) -> bytes | None:
    """A `brob` box's content (Brotli), at most `limit` bytes; None without imagecodecs, or when it is broken
    or larger."""
    try:
        import imagecodecs
    except ImportError:
        return None
    try:
        return bytes(imagecodecs.brotli_decode(data, out=limit))
    except Exception:  # BrotliError on damaged or larger content
        return None
