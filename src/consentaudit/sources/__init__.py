"""Where dataset files come from. A source lists items; a worker reads an item's bytes.

Sources are named in SOURCES so that new dataset shapes (tar shards, zip) plug in beside DirectorySource.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from consentaudit.errors import InputError
from consentaudit.sources.archives import ArchiveReader, is_archive, list_archive
from consentaudit.sources.item import IMAGE_EXTENSIONS, Item

MAGICS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
DEFAULT_MAX_FILE_BYTES = 1 << 30


class Source(Protocol):
    root: Path

    def items(self) -> Iterator[Item]: ...


def _looks_like_image(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return head.startswith(MAGICS) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[4:8] == b"ftyp"


class DirectorySource:
    """Every image below a folder, recursively, in sorted order; hidden entries are skipped.

    Symbolic links are never followed out of the dataset root: a link that leaves the root, dangles or
    loops becomes an item with a `problem`; a link to a directory is not descended (its files would be
    counted twice); a link to a file inside the root is an entry of its own.
    """

    def __init__(self, root: Path) -> None:
        if not root.exists():
            raise InputError(f"dataset not found: {root}")
        if not root.is_dir():
            raise InputError(f"dataset is not a folder: {root}")
        self.root = root.resolve()
        self.skipped = 0

    def items(self) -> Iterator[Item]:
        yield from self._walk(self.root, "")

    def _walk(self, folder: Path, prefix: str) -> Iterator[Item]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield Item(prefix.rstrip("/") or ".", str(folder), 0, 0, f"folder unreadable: {exc.strerror}")
            return
        names = {e.name for e in entries}
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            full = Path(entry.path)
            if entry.is_symlink():
                item = self._link(full, rel)
                if item is not None:
                    yield item
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield Item(rel, str(full), 0, 0, f"cannot stat: {exc.strerror}")
                continue
            if stat.S_ISDIR(st.st_mode):
                yield from self._walk(full, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                stem, dot, ext = entry.name.rpartition(".")
                if not dot:
                    stem, ext = entry.name, ""
                if "." + ext.lower() in IMAGE_EXTENSIONS or _looks_like_image(full):
                    json_name = stem + ".json"
                    yield Item(
                        rel,
                        str(full),
                        st.st_size,
                        st.st_mtime_ns,
                        crawl_json=_sidecar_text(folder / json_name) if json_name in names else None,
                        c2pa_sidecar=_c2pa_sidecar(folder, entry.name, stem, names),
                    )
                elif is_archive(full):
                    yield from list_archive(full, rel)
                else:
                    self.skipped += 1

    def _link(self, full: Path, rel: str) -> Item | None:
        is_image_name = full.suffix.lower() in IMAGE_EXTENSIONS
        try:
            target = full.resolve(strict=True)
        except RuntimeError:
            return Item(rel, str(full), 0, 0, "symlink loop: not followed")
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return Item(rel, str(full), 0, 0, "symlink loop: not followed")
            return Item(rel, str(full), 0, 0, "dangling symlink: target does not exist") if is_image_name else None
        if not target.is_relative_to(self.root):
            return Item(rel, str(full), 0, 0, f"symlink leaves the dataset root ({os.readlink(full)}): not followed")
        if target.is_dir():
            self.skipped += 1
            return None
        if not (is_image_name or _looks_like_image(target)):
            self.skipped += 1
            return None
        st = target.stat()
        return Item(rel, str(target), st.st_size, st.st_mtime_ns)


def _sidecar_text(side: Path) -> str | None:
    """The crawl record `<key>.json` beside an image (img2dataset 'files' layout), if small enough."""
    try:
        if side.is_file() and not side.is_symlink() and side.stat().st_size <= 1 << 20:
            return side.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return None


def _c2pa_sidecar(folder: Path, name: str, stem: str, names: set[str]) -> str | None:
    """A remote-manifest sidecar: `<stem>.c2pa`, `<name>.c2pa` or `<stem>_manifest.c2pa`."""
    for cand in (stem + ".c2pa", name + ".c2pa", stem + "_manifest.c2pa"):
        if cand in names and not (folder / cand).is_symlink():
            return str(folder / cand)
    return None


class ArchiveSource:
    """One archive given as the dataset: items are named `<archive name>/<member>`."""

    def __init__(self, path: Path) -> None:
        self.root = path.resolve().parent
        self.archive = path.resolve()
        self.skipped = 0

    def items(self) -> Iterator[Item]:
        yield from list_archive(self.archive, self.archive.name)


SOURCES: dict[str, type[DirectorySource] | type[ArchiveSource]] = {
    "directory": DirectorySource,  # a folder of images, sidecars and shards (tar/zip) at any depth
    "archive": ArchiveSource,  # a single tar shard or zip file
}


def open_source(path: Path) -> DirectorySource | ArchiveSource:
    """The source for a dataset path: a folder, or one tar/zip archive."""
    if path.is_file() and is_archive(path):
        return ArchiveSource(path)
    return DirectorySource(path)


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
