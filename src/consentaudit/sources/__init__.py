"""Where dataset files come from. A source lists items; a worker reads an item's bytes.

Sources are named in SOURCES so that new dataset shapes (tar shards, zip) plug in beside DirectorySource.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from consentaudit.sources.archive_reader import ArchiveReader, is_plain_tar
from consentaudit.sources.archives import is_archive, list_archive
from consentaudit.sources.crawl_records import ListingLog
from consentaudit.sources.directory import DataFile, DirectorySource
from consentaudit.sources.item import DEFAULT_MAX_FILE_BYTES, Item, capped, display_name
from consentaudit.sources.listing_cache import ListingCache
from consentaudit.sources.parquet_images import holds_images


class Source(Protocol):
    root: Path
    skipped: int  # non-image files passed over
    warnings: list[str]  # what could not be read beside the images
    refusals: Counter[str]  # crawl-time refusals (img2dataset rows without an image) by protocol
    files: list[DataFile]  # every file that is not an audited image (complete once items() is exhausted)

    @staticmethod
    def accepts(path: Path) -> bool: ...

    def items(self) -> Iterator[Item]: ...


class ArchiveSource:
    """One archive given as the dataset: items are named `<archive name>/<member>`; the archive itself is
    the one data file."""

    @staticmethod
    def accepts(path: Path) -> bool:
        """A tar or zip file, or a Parquet file that holds images (not one of crawl records)."""
        if not path.is_file():
            return False
        return is_archive(path) or (path.name.lower().endswith(".parquet") and holds_images(path))

    def __init__(self, path: Path, listings: ListingCache | None = None) -> None:
        self.root = path.resolve().parent
        self.archive = path.resolve()
        self._listings = listings
        self.skipped = 0
        self._log = ListingLog()
        self.warnings, self.refusals = self._log.warnings, self._log.refusals
        st = self.archive.stat()
        self.files = [DataFile(display_name(self.archive.name), str(self.archive), st.st_size, st.st_mtime_ns)]

    def items(self) -> Iterator[Item]:
        for item in list_archive(self.archive, self.archive.name, self._log, self._listings):
            yield capped(item)


SOURCES: dict[str, type[ArchiveSource] | type[DirectorySource]] = {
    "archive": ArchiveSource,  # a single tar shard or zip file
    "directory": DirectorySource,  # a folder of images, sidecars and shards (tar/zip) at any depth
}


def is_image_source(path: Path) -> bool:
    """Whether `open_source` lists images from `path`: a folder, a tar or zip file, or a Parquet file that holds
    images (a Parquet file of URLs or crawl records is data, not images)."""
    return path.is_dir() or ArchiveSource.accepts(path)


def open_source(path: Path, listings: ListingCache | None = None) -> ArchiveSource | DirectorySource:
    """The first source in SOURCES that accepts the dataset path; with `listings`, compressed shards' listings
    are taken from it and kept there (a scan's; never `verify --dataset`'s, which trusts no cache)."""
    kind = next(k for k, cls in SOURCES.items() if cls.accepts(path))
    return SOURCES[kind](path, listings)


def read_item(item: Item, max_bytes: int = DEFAULT_MAX_FILE_BYTES, archives: ArchiveReader | None = None) -> bytes:
    """The bytes of an item; raise OSError with a clear message when they cannot be read."""
    if item.member is not None and item.offset is not None and is_plain_tar(item.location):  # one positioned read
        if item.size > max_bytes:
            raise OSError(f"member larger than the {max_bytes}-byte limit")
        fd = os.open(item.location, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            data = os.pread(fd, item.size, item.offset)
        finally:
            os.close(fd)
        if len(data) != item.size:
            raise OSError(errno.EIO, "archive member cut short (the shard changed after it was listed)")
        return data
    if item.member is not None:
        if archives is not None:
            return archives.read(item.location, item.member, max_bytes, item.offset)
        with ArchiveReader() as reader:
            return reader.read(item.location, item.member, max_bytes, item.offset)
    try:
        fd = os.open(item.location, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "the file became a symlink after it was listed: not followed") from None
        raise
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file any more: not read")
        if item.file_id is not None and (
            (st.st_dev, st.st_ino) != item.file_id or (st.st_size, st.st_mtime_ns) != (item.size, item.mtime_ns)
        ):
            raise OSError(errno.ESTALE, "replaced or changed after it was listed: not read (scan again)")
        # one read sized to the file (a buffer of max_bytes, mapped and trimmed for every file, cost more than
        # the read); a file that grew since fstat, or a short read, is read on to the limit
        data = f.read(min(st.st_size, max_bytes) + 1)
        if len(data) != st.st_size:
            parts, total = [data], len(data)
            while total <= max_bytes and (chunk := f.read(max_bytes + 1 - total)):
                parts.append(chunk)
                total += len(chunk)
            data = b"".join(parts)
    if len(data) > max_bytes:
        raise OSError(f"file larger than the {max_bytes}-byte limit")
    return data
