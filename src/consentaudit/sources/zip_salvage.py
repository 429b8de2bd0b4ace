"""The members of a zip that no zip reader can list — cut short (an interrupted copy or download), or its
central directory damaged — recovered from the local header each member's data follows.

A zip lists its members in the central directory at its end; each member's data is also preceded by a local
header with its name, compression, CRC and (unless a data descriptor follows the data) its sizes. Walking those
headers from the start of the file recovers every member whose data is whole, as `unzip`-style recovery tools
do. The walk stops, and says why, where the bytes stop being a member: the archive's end (inside a member's
data: that member is cut short), the start of the central directory (its end record missing), a stored member
whose size only a data descriptor after its data gives (its end cannot be found), or anything else. Reading is
bounded: no member is inflated past the caller's byte limit, and a member's CRC is checked as zip readers do.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import IO

LOCAL_HEADER = b"PK\x03\x04"
_CENTRAL = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")  # central directory and end records
_DESCRIPTOR = b"PK\x07\x08"
_HEAD = struct.Struct("<4sHHHHHIIIHH")  # signature, version, flags, method, time, date, crc, sizes, name, extra
_ENCRYPTED, _DESCRIBED_AFTER, _UTF8 = 0x1, 0x8, 0x800
STORED, DEFLATED = 0, 8
_READ = 1 << 16


@dataclass(frozen=True)
class LocalMember:
    """One member as its local header (and data descriptor) describes it."""

    name: str
    method: int
    data_offset: int
    compressed_size: int
    size: int
    crc: int
    date_time: tuple[int, int, int, int, int, int]
    problem: str = ""  # why it cannot be read (encrypted, a method not supported here, cut short)

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


def _name(raw: bytes, flags: int) -> str:
    """A member name decoded as zipfile decodes it (UTF-8 when flagged, else code page 437)."""
    return raw.decode("utf-8", "surrogateescape") if flags & _UTF8 else raw.decode("cp437")


def _date_time(date: int, time: int) -> tuple[int, int, int, int, int, int]:
    return (date >> 9) + 1980, (date >> 5) & 0xF, date & 0x1F, time >> 11, (time >> 5) & 0x3F, (time & 0x1F) * 2


def _zip64_sizes(extra: bytes, size: int, csize: int) -> tuple[int, int]:
    """The sizes a Zip64 extra field (id 1) gives for those the header marks 0xFFFFFFFF (size first)."""
    i = 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4 : i + 4 + n]
        if tag == 1:
            j = 0
            if size == 0xFFFFFFFF and j + 8 <= len(body):
                size, j = struct.unpack_from("<Q", body, j)[0], j + 8
            if csize == 0xFFFFFFFF and j + 8 <= len(body):
                csize = struct.unpack_from("<Q", body, j)[0]
            break
        i += 4 + n
    return size, csize


def _inflated_end(f: IO[bytes], start: int, limit: int) -> tuple[int, int, int] | None:
    """(compressed size, size, crc) of the deflate stream at `start`, found by inflating it (the output is
    counted, not kept; no more than `limit` bytes of it); None when the file ends first or the stream is bad."""
    f.seek(start)
    inflate = zlib.decompressobj(-15)
    used = size = 0
    crc = 0
    while not inflate.eof:
        chunk = f.read(_READ)
        if not chunk:
            return None
        try:
            out = inflate.decompress(chunk, limit + 1 - size)
            while True:
                size += len(out)
                crc = zlib.crc32(out, crc)
                if size > limit:
                    return None
                if inflate.eof or not inflate.unconsumed_tail:
                    break
                out = inflate.decompress(inflate.unconsumed_tail, limit + 1 - size)
        except zlib.error:
            return None
        used += len(chunk) - len(inflate.unused_data) - len(inflate.unconsumed_tail)
    return used, size, crc


def _stored_end(f: IO[bytes], start: int, limit: int) -> tuple[int, int, int] | None:
    """(size, crc, descriptor length) of a stored member at `start` whose sizes follow its data: the first
    data-descriptor signature after which the CRC and both sizes are those of the bytes before it (a
    descriptor without its optional signature cannot be found); None when none is within `limit` bytes."""
    pos, crc = start, 0
    while pos - start <= limit:
        f.seek(pos)
        chunk = f.read(_READ + 3)  # 3 bytes more: a signature across two reads is found in the first
        body = chunk[:_READ]
        i = chunk.find(_DESCRIPTOR)
        while 0 <= i < len(body):
            size, here = pos + i - start, zlib.crc32(body[:i], crc)
            f.seek(pos + i + 4)
            d = f.read(20)
            if len(d) >= 12 and struct.unpack_from("<III", d) == (here, size & 0xFFFFFFFF, size & 0xFFFFFFFF):
                return size, here, 16
            if len(d) >= 20 and struct.unpack_from("<IQQ", d) == (here, size, size):
                return size, here, 24
            i = chunk.find(_DESCRIPTOR, i + 1)
        if len(chunk) <= len(body):
            return None
        crc = zlib.crc32(body, crc)
        pos += len(body)
    return None


def _descriptor_length(f: IO[bytes], at: int, csize: int, size: int) -> int:
    """Bytes of the data descriptor at `at`: an optional signature, the CRC, then both sizes in 4 bytes each
    (8 in a Zip64 archive, told by which reading gives the sizes found by inflating)."""
    f.seek(at)
    d = f.read(28)
    sig = 4 if d[:4] == _DESCRIPTOR else 0
    if len(d) >= sig + 20 and struct.unpack_from("<QQ", d, sig + 4) == (csize, size):
        return sig + 20
    return sig + 12


def local_members(f: IO[bytes], end: int, limit: int) -> tuple[list[LocalMember], str]:
    """The members whose local headers follow one another from the start of `f` (`end` bytes long), and
    where and why the walk stopped. `limit`: the most a member with a data descriptor is inflated to find
    its end."""
    members: list[LocalMember] = []
    pos = 0
    while True:
        f.seek(pos)
        head = f.read(_HEAD.size)
        if not head:
            return members, f"the file ends at byte {pos}, after the last member, without a central directory"
        if head[:4] != LOCAL_HEADER:
            if head[:4] in _CENTRAL:
                return members, f"its central directory begins at byte {pos} but is cut short or damaged"
            return members, f"no member header at byte {pos}: the rest is not listed"
        if len(head) < _HEAD.size:
            return members, f"the member header at byte {pos} is cut short"
        _, _, flags, method, time, date, crc, csize, size, name_len, extra_len = _HEAD.unpack(head)
        raw = f.read(name_len)
        extra = f.read(extra_len)
        if len(raw) < name_len or len(extra) < extra_len:
            return members, f"the member header at byte {pos} is cut short"
        name = _name(raw, flags)
        size, csize = _zip64_sizes(extra, size, csize)
        data = pos + _HEAD.size + name_len + extra_len
        problem = ""
        if flags & _ENCRYPTED:
            problem = f"member {name!r} is encrypted: not read"
        elif method not in (STORED, DEFLATED):
            problem = f"member {name!r} uses compression method {method}: not read without the central directory"
        after: int
        if flags & _DESCRIBED_AFTER and method == DEFLATED:
            inflated = _inflated_end(f, data, limit)
            if inflated is None:
                members.append(LocalMember(name, method, data, 0, 0, 0, _date_time(date, time), _cut(name)))
                return members, f"member {name!r} at byte {pos} is cut short or damaged: the rest is not listed"
            csize, size, crc = inflated
            after = data + csize + _descriptor_length(f, data + csize, csize, size)
        elif flags & _DESCRIBED_AFTER:  # stored (or another method): the end is where its descriptor is
            stored = _stored_end(f, data, limit) if method == STORED else None
            if stored is None:
                members.append(LocalMember(name, method, data, 0, 0, 0, _date_time(date, time), _cut(name)))
                why = f"member {name!r} at byte {pos} gives its size only after its data, and no end was found"
                return members, why + ": the rest is not listed"
            size, crc, described = stored
            csize, after = size, data + size + described
        else:
            after = data + csize
            if after > end:
                missing = after - end
                why = f"member {name!r} cut short: the archive ends {missing} bytes before its data does"
                members.append(LocalMember(name, method, data, csize, size, crc, _date_time(date, time), why))
                return members, f"the file ends inside member {name!r}"
        members.append(LocalMember(name, method, data, csize, size, crc, _date_time(date, time), problem))
        pos = after


def _cut(name: str) -> str:
    return f"member {name!r} cut short or damaged: the end of its data was not found"


def read_member(f: IO[bytes], m: LocalMember, max_bytes: int) -> bytes:
    """The bytes of a recovered member, at most `max_bytes` of them; OSError when they cannot be read whole."""
    if m.problem:
        raise OSError(m.problem)
    # deflate grows incompressible data by a few bytes in 16 KB: a larger compressed size than that allows is
    # a member past the limit (whatever size its header claims), not read into memory
    if m.size > max_bytes or m.compressed_size > max_bytes + (max_bytes >> 10) + 1024:
        raise OSError(f"member larger than the {max_bytes}-byte limit")
    f.seek(m.data_offset)
    raw = f.read(m.compressed_size)
    if len(raw) != m.compressed_size:
        raise OSError(f"member {m.name!r} cut short (the archive changed after it was listed)")
    if m.method == STORED:
        data = raw
    else:
        try:
            inflate = zlib.decompressobj(-15)
            data = inflate.decompress(raw, max_bytes + 1)
        except zlib.error as exc:
            raise OSError(f"member {m.name!r} does not inflate: {exc}") from None
        if len(data) > max_bytes:
            raise OSError(f"member larger than the {max_bytes}-byte limit")
    if len(data) != m.size or zlib.crc32(data) != m.crc:
        raise OSError(f"member {m.name!r} is damaged: its size or CRC is not the one its header gives")
    return data


def read_head(f: IO[bytes], m: LocalMember, n: int) -> bytes:
    """The first `n` bytes (or fewer, for a shorter member) of a recovered member, read and inflated no further
    than they need, whatever its size: enough to tell an image under another name, as a zip reader's
    `open(...).read(n)` would. OSError when the member has a problem or its data does not inflate."""
    if m.problem:
        raise OSError(m.problem)
    f.seek(m.data_offset)
    if m.method == STORED:
        return f.read(min(n, m.compressed_size))
    inflate = zlib.decompressobj(-15)
    out = bytearray()
    left, pending = m.compressed_size, b""
    while len(out) < n and not inflate.eof:
        if not pending:
            pending = f.read(min(left, 1 << 16)) if left > 0 else b""
            if not pending:  # the member's data ends (or the file does) before n bytes came out
                break
            left -= len(pending)
        try:
            out += inflate.decompress(pending, n - len(out))
        except zlib.error as exc:
            raise OSError(f"member {m.name!r} does not inflate: {exc}") from None
        pending = inflate.unconsumed_tail
    return bytes(out)
