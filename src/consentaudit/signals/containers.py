"""Walk image containers: JPEG marker segments, PNG chunks, RIFF chunks. Pure, bounded by the input."""

from __future__ import annotations

import struct
from collections.abc import Iterator


def jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, payload) of each JPEG marker segment up to the start of scan; stops at broken structure."""
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
        yield marker, data[pos + 4 : pos + 2 + length]
        pos += 2 + length


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
