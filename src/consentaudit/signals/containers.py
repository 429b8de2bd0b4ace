"""Walk image containers: JPEG marker segments, PNG chunks, RIFF chunks. Pure, bounded by the input."""

from __future__ import annotations

import struct
from collections.abc import Iterator


def jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, payload) of each JPEG marker segment up to the start of scan; stops at broken structure."""
    for marker, start, end in _jpeg_walk(data):
        yield marker, data[start:end]


def jpeg_header_end(data: bytes) -> int:
    """Where a JPEG's marker segments end (at its start of scan, or where the structure breaks): every payload
    `jpeg_segments` yields lies before this offset, so a search for what a segment holds (a C2PA store's
    `jumb` box, Photoshop's IIM block) need not read the image data after it."""
    last = 2
    for _, _, end in _jpeg_walk(data):
        last = end
    return last


def _jpeg_walk(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each marker segment up to the start of scan."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > n:
            return
        yield marker, pos + 4, pos + 2 + length
        pos += 2 + length


C2PA_BMFF_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # C2PA's ISO-BMFF `uuid` box


def bmff_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each top-level ISO-BMFF box (HEIF, AVIF, MP4); stops at broken structure."""
    pos, n = 0, len(data)
    while pos + 8 <= n:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        head = 8
        if size == 1:
            if pos + 16 > n:
                return
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            head = 16
        elif size == 0:
            size = n - pos
        if size < head or pos + size > n:
            return
        yield kind, data[pos + head : pos + size]
        pos += size


def bmff_c2pa(data: bytes) -> bytes | None:
    """The manifest store of an ISO-BMFF file: a top-level `uuid` box with C2PA's UUID, FullBox header,
    purpose "manifest", an 8-byte Merkle offset, then the JUMBF store."""
    for kind, payload in bmff_boxes(data):
        if kind != b"uuid" or payload[:16] != C2PA_BMFF_UUID:
            continue
        rest = payload[16 + 4 :]  # version and flags
        purpose, sep, rest = rest.partition(b"\x00")
        if sep and purpose == b"manifest" and len(rest) > 8:
            return rest[8:]
    return None


TIFF_C2PA_TAG = 0xCD41  # C2PA: the manifest store in the first IFD of TIFF and DNG


def tiff_tag(data: bytes, tag: int) -> bytes | None:
    """The bytes of one BYTE/UNDEFINED tag of a TIFF's first IFD (classic TIFF, either byte order), or None."""
    if data[:4] == b"II*\x00":
        end = "<"
    elif data[:4] == b"MM\x00*":
        end = ">"
    else:
        return None
    n = len(data)
    (ifd,) = struct.unpack(end + "I", data[4:8])
    if ifd + 2 > n:
        return None
    (count,) = struct.unpack(end + "H", data[ifd : ifd + 2])
    for i in range(min(count, (n - ifd - 2) // 12)):
        pos = ifd + 2 + 12 * i
        t, kind, length, value = struct.unpack(end + "HHII", data[pos : pos + 12])
        if t != tag or kind not in (1, 7):  # BYTE or UNDEFINED
            continue
        if length <= 4:
            return data[pos + 8 : pos + 8 + length]
        return data[value : value + length] if value + length <= n else None
    return None


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 8
    n = len(data)
    while pos + 8 <= n:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        if pos + 12 + length > n:
            return
        yield ctype, data[pos + 8 : pos + 8 + length]
        if ctype == b"IEND":
            return
        pos += 12 + length


def riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 12
    n = len(data)
    while pos + 8 <= n:
        ctype = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + length > n:
            return
        yield ctype, data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
