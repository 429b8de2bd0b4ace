"""Archive members as one abstraction, `Member`, in one pass over a tar's headers (`tar_members`), a zip's
central directory (`zip_members`) or the local headers of a zip no reader can list (`recovered_members`), each
with a `Read` of its bytes; and the checks that keep a member unread before anyone reads it: data cut short or
run past a compressed stream's inflation limit (tar), data that overlaps the next member's (a zip bomb's
layout). What becomes of the members (items, sidecars, notes) is `archives.py`'s.
"""

from __future__ import annotations

import tarfile
import weakref
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from consentaudit.sources.archive_reader import ARCHIVE_ERRORS
from consentaudit.sources.inflation import past_limit
from consentaudit.sources.item import MAX_SIDECAR_BYTES
from consentaudit.sources.zip_salvage import LocalMember, read_head, read_member

Read = Callable[[int], bytes | None]  # a member's bytes: read(-1) all of them, read(n) the first n


@dataclass(frozen=True)
class Member:
    """One archive member as both tar and zip describe it."""

    name: str
    size: int
    mtime_ns: int
    kind: str  # file | dir | link | special
    link: str = ""
    offset: int | None = None  # data offset in the tar (in the decompressed stream of a compressed one)
    problem: str = ""  # why it cannot be read (its data runs past the end of the archive)
    overlaps: bool = False  # its data runs into the next member's (`_overlapping`)
    state: str = ""  # what else names its bytes (`Item.member_state`): a zip member's CRC-32
    inflates: bool = False  # a zip member compressed on its own: reading it spends the archive's InflationBudget


class HeaderLog(tarfile.TarInfo):
    """A member header that, when it cannot be read, records why for its archive (`_STOPPED`): tarfile ends
    its listing at a damaged header after the first one as if the archive ended there, saying nothing."""

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> HeaderLog:
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as exc:
            _STOPPED[archive] = exc
            raise


# no bytes at all where a header should be: the archive ends at a member boundary, without its end marker
_NO_HEADER: Any = getattr(tarfile, "EmptyHeaderError", ())
_END_MARKER: Any = getattr(tarfile, "EOFHeaderError", ())  # a block of zeros: the end-of-archive marker
_STOPPED: weakref.WeakKeyDictionary[tarfile.TarFile, tarfile.HeaderError] = weakref.WeakKeyDictionary()


def tar_members(
    tf: tarfile.TarFile, plain: bool, end: int, stops: list[str], limit: int = 0, timeless: int = 0
) -> Iterator[tuple[Member, Read]]:
    """Members in one pass over the headers, each with its data offset: in a plain tar (`plain`, of `end`
    bytes) its bytes are read later with one positioned read, never by listing the archive again; in a
    compressed one the offset (in the decompressed stream) names the member exactly for `ArchiveReader`,
    which reads a unit's members in one forward pass. Where the archive stops being readable before its
    end-of-archive marker, the members before that point are given and `stops` says why. A compressed one of
    `end` bytes is inflated no further than `limit` (`inflation_limit`): the member whose data would take the
    stream past it is given as not read, and the listing stops there, as reading it or passing over it would
    inflate it. A member written without a time (mtime 0) is given `timeless`, the archive file's own mtime: its
    size alone would not tell it from another image of the same size in a rewritten archive."""
    n = 0
    try:
        for m in tf:
            n += 1
            kind = "link" if m.issym() or m.islnk() else "file" if m.isfile() else "dir" if m.isdir() else "special"

            def read(limit: int = -1, m: tarfile.TarInfo = m) -> bytes | None:
                f = tf.extractfile(m)
                return f.read(limit) if f is not None else None

            offset = m.offset_data
            problem = ""
            if plain and kind == "file" and m.offset_data + m.size > end:
                missing = m.offset_data + m.size - end
                problem = f"member {m.name!r} cut short: the archive ends {missing} bytes before its data does"
            inflated = m.offset_data + m.size
            stop = not plain and inflated > limit
            if stop:
                past = past_limit(limit, end)
                problem = f"its data ends {inflated} bytes into the archive's stream, {past}: not read"
                stops.append(
                    f"the stream would inflate past its limit at member {m.name!r} (its data ends {inflated} bytes "
                    f"into it, {past}): it and the members after it are not read"
                )
            mtime = int(m.mtime) * 1_000_000_000 or timeless
            yield Member(m.name, m.size, mtime, kind, m.linkname, offset, problem), read
            if stop:
                return
    except ARCHIVE_ERRORS as exc:  # the data of the last member runs past the end, a zlib error
        stops.append(f"archive cut short or damaged after {n} members: {type(exc).__name__}: {exc}")
        return
    stopped, at = _STOPPED.get(tf), tf.offset
    if isinstance(stopped, _NO_HEADER):
        stops.append(f"archive cut short after {n} members: it ends at byte {at} without an end-of-archive marker")
    elif stopped is not None and not isinstance(stopped, _END_MARKER):  # a bad checksum, a header cut short
        stops.append(f"damaged member header at byte {at} after {n} members ({stopped}): the rest is not listed")
    elif plain and tf.fileobj is not None:
        try:
            after = _data_after(cast(IO[bytes], tf.fileobj), at)
        except OSError as exc:  # the members are listed; what follows them could not be read
            stops.append(f"the archive's end could not be read after {n} members: {exc}")
            after = None
        if after is not None:
            stops.append(f"data after the end-of-archive marker, at byte {after} (an appended archive?): not listed")


def _data_after(f: IO[bytes], start: int) -> int | None:
    """The offset of the first byte that is not zero from `start` on (a plain tar's end-of-archive blocks and
    padding are zeros), or None. Reads only up to that byte: a few KB on a whole archive."""
    f.seek(start)
    pos = start
    while chunk := f.read(1 << 16):
        rest = chunk.lstrip(b"\0")
        if rest:
            return pos + len(chunk) - len(rest)
        pos += len(chunk)
    return None


def _zip_mtime(date_time: tuple[int, ...]) -> int:
    """A zip member's DOS date and time as one number that orders and changes with them (not a real epoch)."""
    y, mo, d, h, mi, s = date_time
    return ((((y * 13 + mo) * 32 + d) * 24 + h) * 60 + mi) * 60 + s


def zip_members(zf: zipfile.ZipFile) -> Iterator[tuple[Member, Read]]:
    overlapping = _overlapping(zf)
    for info in zf.infolist():
        mode = info.external_attr >> 16
        kind = "link" if (mode & 0o170000) == 0o120000 else "dir" if info.is_dir() else "file"
        if id(info) in overlapping:
            problem = "its data overlaps the next member's or the central directory (a zip bomb's layout): not read"
            mtime = _zip_mtime(info.date_time)
            yield Member(info.filename, info.file_size, mtime, kind, problem=problem, overlaps=True), _unread
            continue

        def read(limit: int = -1, info: zipfile.ZipInfo = info) -> bytes | None:
            if limit < 0:
                return zf.read(info)
            with zf.open(info) as member:
                return member.read(limit)

        inflates = info.compress_type != zipfile.ZIP_STORED
        mtime, crc = _zip_mtime(info.date_time), f"crc32:{info.CRC:08x}"
        yield Member(info.filename, info.file_size, mtime, kind, inflates=inflates, state=crc), read


def _overlapping(zf: zipfile.ZipFile) -> set[int]:
    """The members (by `id` of their ZipInfo) whose local header and data, as the central directory gives their
    sizes, run past where the next member's header starts, or into the central directory. No zip writer lays
    members out so; a "quoted-overlap" zip bomb does: each member's deflate stream quotes the headers of the
    ones after it and ends in one shared kernel, so that every member inflates to the kernel (a 177 KB zip of 300
    members: 6 GB to read, 24 s). Python 3.12's zipfile refuses them; 3.11's reads them. No extra field is counted
    (the local one is not read here): a lower bound of where the data ends."""
    infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    end = getattr(zf, "start_dir", None)  # where the central directory starts
    out: set[int] = set()
    for k, info in enumerate(infos):
        limit = infos[k + 1].header_offset if k + 1 < len(infos) else end
        try:
            name = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"))
        except UnicodeEncodeError:
            name = len(info.orig_filename)
        if limit is not None and info.header_offset + 30 + name + info.compress_size > limit:
            out.add(id(info))
    return out


def _unread(limit: int = -1) -> bytes | None:
    """What an unreadable member gives when asked: nothing (never asked: a member with a problem is not read)."""
    return None


def recovered_members(f: IO[bytes], members: list[LocalMember]) -> Iterator[tuple[Member, Read]]:
    """Members of a zip without its central directory, as their local headers give them (no link is known:
    only the central directory records a member's file mode)."""
    for m in members:

        def read(limit: int = -1, m: LocalMember = m) -> bytes | None:
            if limit >= 0:  # a head to sniff: read no more, whatever the member's size
                return read_head(f, m, limit)
            return read_member(f, m, MAX_SIDECAR_BYTES)

        kind = "dir" if m.is_dir else "file"
        crc = f"crc32:{m.crc:08x}"
        yield Member(m.name, m.size, _zip_mtime(m.date_time), kind, problem=m.problem, state=crc), read
