"""Where dataset files come from. A source lists items; a worker reads an item's bytes.

Sources are named in SOURCES so that new dataset shapes (tar shards, zip) plug in beside DirectorySource.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from consentaudit.sources.archives import ArchiveReader, is_archive, list_archive
from consentaudit.sources.directory import DirectorySource
from consentaudit.sources.item import Item

DEFAULT_MAX_FILE_BYTES = 1 << 30


class Source(Protocol):
    root: Path
    skipped: int  # non-image files passed over

    @staticmethod
    def accepts(path: Path) -> bool: ...

    def items(self) -> Iterator[Item]: ...


class ArchiveSource:
    """One archive given as the dataset: items are named `<archive name>/<member>`."""

    @staticmethod
    def accepts(path: Path) -> bool:
        return path.is_file() and is_archive(path)

    def __init__(self, path: Path) -> None:
        self.root = path.resolve().parent
        self.archive = path.resolve()
        self.skipped = 0

    def items(self) -> Iterator[Item]:
        yield from list_archive(self.archive, self.archive.name)


SOURCES: dict[str, type[ArchiveSource] | type[DirectorySource]] = {
    "archive": ArchiveSource,  # a single tar shard or zip file
    "directory": DirectorySource,  # a folder of images, sidecars and shards (tar/zip) at any depth
}


def open_source(path: Path) -> ArchiveSource | DirectorySource:
    """The first source in SOURCES that accepts the dataset path."""
    kind = next(k for k, cls in SOURCES.items() if cls.accepts(path))
    return SOURCES[kind](path)


def read_item(item: Item, max_bytes: int = DEFAULT_MAX_FILE_BYTES, archives: ArchiveReader | None = None) -> bytes:
    """The bytes of an item; raise OSError with a clear message when they cannot be read."""
    if item.member is not None:
        reader = archives or ArchiveReader()
        try:
            return reader.read(item.location, item.member, max_bytes)
        except (KeyError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
            raise OSError(f"cannot read archive member: {type(exc).__name__}: {exc}") from exc
    with open(item.location, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"file larger than the {max_bytes}-byte limit")
    return data
