"""A folder of images, sidecars and shards at any depth: `DirectorySource`."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from consentaudit.errors import InputError
from consentaudit.sources.archives import is_archive, list_archive
from consentaudit.sources.crawl_records import ListingLog, count_refusals, oversized_records, parquet_rows, shard_name
from consentaudit.sources.item import (
    HEAD_BYTES,
    IMAGE_EXTENSIONS,
    MAX_SIDECAR_BYTES,
    Item,
    capped,
    display_name,
    key_path,
    looks_like_image,
    sample_key,
)
from consentaudit.sources.listing_cache import ListingCache
from consentaudit.sources.parquet_images import ParquetUnreadable, embedded_images, list_parquet

# Folders no training loader reads and consentaudit never audits: its own store and version control.
NOT_DATA = frozenset({".consentaudit", ".git", ".hg", ".svn"})


def _looks_like_image(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return False
    return looks_like_image(head)


@dataclass(frozen=True)
class DataFile:
    """A file of the dataset that is not an image: a sidecar, a shard, a crawl-record parquet, anything a
    loader could read. Not audited, but bound into the dataset digest by its sha256."""

    path: str
    location: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class _Folder:
    """A sub-folder met while listing a folder: listed next, before the folder's later entries."""

    path: Path
    prefix: str


class DirectorySource:
    """Every image below a folder, recursively, in sorted order, hidden ones included (a loader reads
    them too); only NOT_DATA folders are passed over. Every other regular file is listed in `files`.

    Symbolic links are never followed out of the dataset root: a link that leaves the root, dangles or
    loops becomes an item with a `problem`; a link to a directory is not descended (its files would be
    counted twice); a link to a file inside the root is an entry of its own.
    """

    @staticmethod
    def accepts(path: Path) -> bool:
        return True  # anything else is a folder, or an error that names the path

    def __init__(self, root: Path, listings: ListingCache | None = None) -> None:
        if not root.exists():
            raise InputError(f"dataset not found: {root}")
        if not root.is_dir():
            if root.name.lower().endswith(TFRECORD_SUFFIXES):
                raise InputError(f"{root.name}: {TFRECORD_PROBLEM}")
            raise InputError(f"dataset is not a folder: {root}")
        self.root = root.resolve()
        self.skipped = 0
        self.files: list[DataFile] = []  # filled while `items()` is iterated
        self._log = ListingLog()
        self._listings = listings  # where compressed shards' listings are kept between scans (none: not kept)
        self.warnings = self._log.warnings  # what could not be read beside the images (a broken crawl parquet)
        self.refusals = self._log.refusals  # crawl-time refusals by protocol, from shards' parquet rows

    def items(self) -> Iterator[Item]:
        """Depth first, each folder's entries in sorted order, with a stack of the folders being listed (not
        recursion: a dataset nested a thousand folders deep is listed like any other)."""
        stack = [self._walk(self.root, "")]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
            elif isinstance(step, _Folder):
                stack.append(self._walk(step.path, step.prefix))
            else:
                yield capped(step)

    def _walk(self, folder: Path, prefix: str) -> Iterator[Item | _Folder]:
        """The items of one folder, and its sub-folders to list where they come in order."""
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield Item(prefix.rstrip("/") or ".", str(folder), 0, 0, f"folder unreadable: {exc.strerror}")
            return
        names = {e.name for e in entries}
        crawl = self._crawl_rows(folder) if prefix else {}
        imaged: set[str] = set()  # the sample keys that have an image here, by name or by its first bytes
        shards: set[str] = set()  # names of the shards here (`00000` of `00000.tar` or of the folder `00000/`)
        others: list[str] = []  # names of the other files: skipped unless a sample's or a shard's (below)
        oversized: set[str] = set()  # the crawl records here too large to read
        for entry in entries:
            rel = prefix + display_name(entry.name)
            full = entry.path  # a Path only where one is needed: making 100,000 of them was half the listing
            if entry.is_symlink():
                item = self._link(Path(full), rel)
                if item is not None:
                    yield item
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield Item(rel, full, 0, 0, f"cannot stat: {exc.strerror}")
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name not in NOT_DATA:
                    shards.add(entry.name)
                    yield _Folder(Path(full), rel + "/")
            elif stat.S_ISREG(st.st_mode):
                stem, dot, ext = entry.name.rpartition(".")
                if not dot:
                    stem, ext = entry.name, ""
                if "." + ext.lower() in IMAGE_EXTENSIONS or _looks_like_image(Path(full)):
                    # the sample's own `<stem>.json`; else, as WebDataset groups `x.seg.png` with `x.json` (an
                    # extracted shard), the sample key's; else the shard folder's parquet row
                    sample = sample_key(entry.name)
                    imaged.update((stem, sample))
                    json_name = next((n for n in (stem + ".json", sample + ".json") if n in names), None)
                    c2pa = _c2pa_sidecar(folder, entry.name, stem, names) or (
                        _c2pa_sidecar(folder, entry.name, sample, names) if sample != stem else None
                    )
                    xmp = _xmp_sidecar(folder, entry.name, stem, names)
                    yield Item(
                        rel,
                        full,
                        st.st_size,
                        st.st_mtime_ns,
                        crawl_json=(_sidecar_text(folder / json_name, oversized) if json_name else None)
                        or crawl.get(stem)
                        or crawl.get(sample),
                        c2pa_sidecar=c2pa[0] if c2pa else None,
                        file_id=(st.st_dev, st.st_ino),
                        c2pa_state=c2pa[1] if c2pa else "",
                        xmp_sidecar=xmp[0] if xmp else None,
                        xmp_state=xmp[1] if xmp else "",
                    )
                    continue
                self.files.append(DataFile(key_path(rel), full, st.st_size, st.st_mtime_ns))
                if is_archive(Path(full)):
                    shards.add(shard_name(entry.name))
                    yield from list_archive(Path(full), rel, self._log, self._listings)
                else:
                    others.append(entry.name)
        if crawl:  # the rows whose sample has no image here, as a tar shard's are counted
            count_refusals(crawl, imaged, self._log)
        if oversized:
            self._log.warn(oversized_records(prefix or "./", sorted(oversized)))
        for name in others:
            if _companion(name, imaged, shards):
                continue
            rel = prefix + display_name(name)
            if name.lower().endswith(TFRECORD_SUFFIXES):  # images the audit cannot read: never a skipped file
                yield Item(rel, str(folder / name), 0, 0, TFRECORD_PROBLEM)
                continue
            try:
                embedded = embedded_images(folder / name) if name.lower().endswith(".parquet") else None
            except ParquetUnreadable as exc:
                if exc.column is not None:  # a column of bytes that cannot be read: images, perhaps
                    yield Item(rel, str(folder / name), 0, 0, f"Parquet file unreadable: {exc}")
                    continue
                self._log.warn(f"{rel}: {exc}: if it holds images, they are not audited")
                embedded = None
            if embedded is not None:  # a Parquet shard: its rows hold the images
                yield from list_parquet(folder / name, rel, embedded, self._log)
            else:
                self.skipped += 1

    def _crawl_rows(self, folder: Path) -> dict[str, str]:
        """img2dataset's `files` layout keeps a shard in a folder (`00000/`: `<key>.jpg`, `.txt`, `.json`) and its
        crawl records, every row — downloads refused at crawl time included — in `00000.parquet` beside it
        (inside the dataset). Its rows give the crawl record of an image without a `.json`; those with no image
        in the folder are counted as refusals (`_walk`, once the folder is listed) where their error says a
        header reserved them, as a tar shard's are."""
        if not folder.with_name(folder.name + ".parquet").is_file():
            return {}
        return parquet_rows(folder, self._log.warn)

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
        return Item(rel, str(target), st.st_size, st.st_mtime_ns, file_id=(st.st_dev, st.st_ino))


COMPANIONS = (".json", ".txt", ".c2pa", ".xmp")  # a sample's crawl record, caption, C2PA and XMP sidecars
# TFRecord shards (TensorFlow; img2dataset's --output_format tfrecord) hold images in protobuf records
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")
TFRECORD_PROBLEM = (
    "TFRecord shard: the images in its records are not audited; write them out as files, tar or Parquet shards "
    "to audit them (img2dataset --output_format webdataset, files or parquet)"
)


def _companion(name: str, imaged: set[str], shards: set[str]) -> bool:
    """Whether a file that is not an image belongs to what is audited, and so is not counted as skipped: a
    sample's crawl record (`<key>.json`), caption (`<key>.txt`), C2PA or XMP sidecar, as a tar shard's are not
    counted, or the crawl parquet of a shard beside it. Any other file of a sample still is."""
    stem, _, suffix = name.rpartition(".")
    if not stem or "." + suffix.lower() not in (*COMPANIONS, ".parquet"):
        return False
    if suffix.lower() == "parquet":
        return stem in shards
    if stem in imaged or sample_key(name) in imaged:
        return True
    return suffix.lower() == "c2pa" and stem.endswith("_manifest") and stem.removesuffix("_manifest") in imaged


def _sidecar_text(side: Path, oversized: set[str]) -> str | None:
    """The crawl record `<key>.json` beside an image (img2dataset 'files' layout), if small enough (else its
    name is added to `oversized`)."""
    try:
        if side.is_file() and not side.is_symlink():
            if side.stat().st_size <= MAX_SIDECAR_BYTES:
                return side.read_text(encoding="utf-8", errors="replace")
            oversized.add(side.name)
    except OSError:
        return None
    return None


def _xmp_sidecar(folder: Path, name: str, stem: str, names: set[str]) -> tuple[str, str] | None:
    """An XMP sidecar, `<stem>.xmp` (Adobe's) or `<name>.xmp` (darktable's, digiKam's), either case: its
    location and its size and mtime (`Item.xmp_state`)."""
    return _sidecar_file(folder, [f"{base}.{ext}" for base in (stem, name) for ext in ("xmp", "XMP")], names)


def _sidecar_file(folder: Path, candidates: list[str], names: set[str]) -> tuple[str, str] | None:
    """The first of `candidates` that is a regular file here: its location, and its size and mtime."""
    for cand in candidates:
        if cand in names:
            try:
                st = (folder / cand).lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                return str(folder / cand), f"{st.st_size}:{st.st_mtime_ns}"
    return None


def _c2pa_sidecar(folder: Path, name: str, stem: str, names: set[str]) -> tuple[str, str] | None:
    """A remote-manifest sidecar, `<stem>.c2pa`, `<name>.c2pa` or `<stem>_manifest.c2pa`: its location and
    its size and mtime (`Item.c2pa_state`)."""
    return _sidecar_file(folder, [stem + ".c2pa", name + ".c2pa", stem + "_manifest.c2pa"], names)
