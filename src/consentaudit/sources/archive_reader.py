"""Reading archive members: `ArchiveReader` keeps one archive open across the items of a work unit and
reads a plain tar's members by name, a compressed tar's in one forward pass over its stream (a member named by
its offset there), a zip's through its central directory or, for a zip no reader can list, through the local
headers `zip_salvage` walks. Every failure to read a member is an OSError that says why.
"""

from __future__ import annotations

import lzma
import os
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from consentaudit.sources.inflation import inflation_limit
from consentaudit.sources.item import ARCHIVE_SUFFIXES, DEFAULT_MAX_FILE_BYTES
from consentaudit.sources.parquet_images import ParquetRows
from consentaudit.sources.zip_salvage import LOCAL_HEADER, LocalMember, local_members, read_member

# What listing or reading a damaged archive raises: tarfile's and zipfile's own errors, OSError (gzip, bz2, a
# file gone), EOFError (a stream cut short), the decompressors' own errors (zlib, lzma), and zipfile's refusal
# of an encrypted member (RuntimeError) or of a compression method it does not read (NotImplementedError).
ARCHIVE_ERRORS: tuple[type[Exception], ...] = (
    tarfile.TarError,
    zipfile.BadZipFile,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    RuntimeError,
    NotImplementedError,
)
_MEMBER_ERRORS: tuple[type[Exception], ...] = (KeyError, *ARCHIVE_ERRORS)  # KeyError: no member of that name

COMPRESSED_TAR_SUFFIXES = tuple(s for s in ARCHIVE_SUFFIXES if s not in (".tar", ".zip"))


def is_plain_tar(location: str) -> bool:
    """Whether an archive is an uncompressed tar (its members are read by offset, in any order)."""
    return location.lower().endswith(".tar")


def is_compressed_tar(location: str) -> bool:
    """Whether an archive is a compressed tar (its members are read in one forward pass over the stream)."""
    return location.lower().endswith(COMPRESSED_TAR_SUFFIXES)


def begins_as_zip(archive: str | Path) -> bool:
    """Whether the file's first bytes are a zip member's local header (a zip no reader can list may still
    hold its members: zip_salvage)."""
    try:
        with open(archive, "rb") as f:
            return f.read(4) == LOCAL_HEADER
    except OSError:
        return False


# the local-header index of the last few zips no reader can list, by (path, size, mtime, inode)
_RECOVERED: dict[tuple[str, int, int, int], dict[str, LocalMember]] = {}


def _identity(location: str) -> tuple[int, int, int, int] | None:
    """What tells a file at `location` from one written there after it was opened (None: no file)."""
    try:
        st = os.stat(location)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class ArchiveReader:
    """Reads members of one archive at a time, keeping it open across the items of a work unit (and, as
    `kept_reader`, across a process's units)."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._identity: tuple[int, int, int, int] | None = None  # the file's when opened
        self._tar: tarfile.TarFile | None = None
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}  # tar members seen so far, by name (the last of a name)
        self._at: dict[int, tarfile.TarInfo] = {}  # ... and by data offset
        self._headers: Iterator[tarfile.TarInfo] | None = None  # the tar's headers not yet seen
        self._limit = 0  # how far a compressed tar's stream may be inflated (`inflation_limit`)
        self._recovered: tuple[IO[bytes], dict[str, LocalMember]] | None = None  # a zip no reader can list
        self._parquet: ParquetRows | None = None  # a Parquet shard: its rows read by number (`offset`)

    def read(self, location: str, member: str, max_bytes: int, offset: int | None = None) -> bytes:
        """The bytes of one member; OSError, saying why, for whatever stops them being read whole (a damaged
        member's decompressor error, a missing member, the byte limit). `offset`: a tar member's data offset
        as listed, which names it exactly (a name may be given twice) and lets a compressed tar be read
        forward only: its headers are read as far as the member asked for, never further, so a unit reading
        its members in archive order decompresses the stream once, up to its last member."""
        try:
            if location != self._path:
                self._open(location)
            return self._read(member, max_bytes, offset)
        except OSError:
            raise
        except _MEMBER_ERRORS as exc:
            raise OSError(f"cannot read archive member: {type(exc).__name__}: {exc}") from exc

    def forget_changed(self) -> None:
        """Close the archive held open when the file at its path is no longer the one opened (rewritten,
        replaced or removed since), so that a reader kept across work units never reads a stale one."""
        if self._path is not None and _identity(self._path) != self._identity:
            self.close()

    def _open(self, location: str) -> None:
        self.close()
        identity = _identity(location)
        if location.lower().endswith(".parquet"):
            self._parquet = ParquetRows(location)
        elif location.lower().endswith(".zip"):
            try:
                self._zip = zipfile.ZipFile(location)
            except zipfile.BadZipFile:
                if not begins_as_zip(location):
                    raise
                self._recover(location)
        else:
            self._tar = tarfile.open(location, "r:*")  # noqa: SIM115 - kept open across a unit, closed in close()
            self._headers = iter(self._tar)
            size = identity[2] if identity is not None else os.path.getsize(location)
            self._limit = inflation_limit(size) if is_compressed_tar(location) else -1
        self._path = location  # only once open: a failed opening is tried again, not taken for an open one
        self._identity = identity

    def _tar_member(self, member: str, offset: int | None) -> tarfile.TarInfo | None:
        """The member at `offset` (else the last of the name), reading headers only as far as it, and a
        compressed tar's no further than its listing did: not past the member whose data would inflate the
        stream past its limit."""
        while self._headers is not None and (offset is None or offset not in self._at):
            try:
                listed = next(self._headers)
            except StopIteration:
                self._headers = None
            except ARCHIVE_ERRORS:  # cut short or damaged: the members before it are all there are
                self._headers = None
            else:
                if self._limit >= 0 and listed.offset_data + listed.size > self._limit:
                    self._headers = None  # not listed: neither read nor passed over
                    break
                self._members[listed.name] = listed
                self._at[listed.offset_data] = listed
        found = self._at.get(offset) if offset is not None else self._members.get(member)
        return found if found is not None and found.name == member else None

    def _read(self, member: str, max_bytes: int, offset: int | None) -> bytes:
        if self._parquet is not None:
            if offset is None:
                raise OSError(f"member {member!r} not found: a Parquet shard's rows are read by number")
            return self._parquet.read(offset, max_bytes)
        if self._recovered is not None:
            f, recovered = self._recovered
            if member not in recovered:
                raise OSError(f"member {member!r} not found")
            return read_member(f, recovered[member], max_bytes)
        if self._zip is not None:
            info = self._zip.getinfo(member)
            if info.file_size > max_bytes:
                raise OSError(f"member larger than the {max_bytes}-byte limit")
            with self._zip.open(info) as f:
                data = f.read(max_bytes + 1)
        else:
            assert self._tar is not None
            m = self._tar_member(member, offset)
            if m is None or not m.isfile():
                raise OSError(f"member {member!r} not found")
            f2 = self._tar.extractfile(m)
            if f2 is None:
                raise OSError(f"member {member!r} has no data")
            data = f2.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise OSError(f"member larger than the {max_bytes}-byte limit")
        return data

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recover(self, location: str) -> None:
        """Index a zip that no reader can list by its local headers (the last member of a name wins, as a
        zip reader's lookup by name does). The index is kept for the process (`_RECOVERED`): the walk inflates
        every member written with a data descriptor, and each work unit of the archive would repeat it."""
        f = open(location, "rb")  # noqa: SIM115 - kept open across a unit, closed in close()
        try:
            st = os.fstat(f.fileno())
            key = (location, st.st_size, st.st_mtime_ns, st.st_ino)
            index = _RECOVERED.pop(key, None)
            if index is None:
                members, _ = local_members(f, st.st_size, DEFAULT_MAX_FILE_BYTES)
                index = {m.name: m for m in members}
            _RECOVERED[key] = index  # the most recent last
            while len(_RECOVERED) > 4:
                del _RECOVERED[next(iter(_RECOVERED))]
        except BaseException:
            f.close()
            raise
        self._recovered = f, index

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
        if self._zip is not None:
            self._zip.close()
        if self._recovered is not None:
            self._recovered[0].close()
        if self._parquet is not None:
            self._parquet.close()
        self._parquet = None
        self._tar = self._zip = None
        self._recovered = None
        self._path = self._identity = None
        self._members, self._at, self._headers = {}, {}, None


_KEPT: dict[tuple[int, int], ArchiveReader] = {}  # the reader kept across work units, by process and thread


def kept_reader() -> ArchiveReader:
    """This process's (and thread's) ArchiveReader, kept open across its work units: the next unit of the same
    shard goes on from where the last stopped (a compressed tar's stream is not inflated again from its start,
    a zip's central directory not parsed again, a Parquet row group not decoded again), and the archive is
    opened again when the file on disk changed. A forked worker makes its own and never touches the one it
    inherited, whose file offset it shares with its parent."""
    key = (os.getpid(), threading.get_ident())
    reader = _KEPT.get(key)
    if reader is None:
        for other in [k for k in _KEPT if k[0] != key[0]]:  # inherited through fork: forgotten, not closed
            del _KEPT[other]
        reader = _KEPT[key] = ArchiveReader()
    reader.forget_changed()
    return reader
