"""Datasets shipped as archives: tar shards (img2dataset / WebDataset layout) and zip files.

Members are listed here (and read by `archive_reader`) as streams, never extracted to disk. A member whose
name is absolute, climbs out with '..', or is a link is reported as an item with a `problem` and never read. A
tar that stops being readable part way (cut short, as an interrupted download leaves it, or a damaged member
header, where tarfile would silently end its listing) keeps the members before that point; where it stops is
an item with a problem at the archive's own path, and a member whose data runs past the end is one at the
member's. A zip that no zip reader can list (its central directory, at the end, cut off) is treated alike: its
members are recovered from their local headers (zip_salvage). An archive inside an archive is not opened: it
is an item with a problem, so that what it holds is not passed over in silence.

Members are grouped by key (the name without its extension): a `<key>.json` sidecar is attached to its
`<key>.jpg` (and, as WebDataset groups a sample by the name up to its first dot, to `<key>.seg.png`), and an
img2dataset `<shard>.parquet` beside the shard supplies the crawl record when the json is absent, and its rows
for samples refused at crawl time (no image in the shard) are counted as opt-outs honoured.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath, PurePosixPath
from typing import IO, cast

from consentaudit.sources.archive_members import HeaderLog, Member, Read, recovered_members, tar_members, zip_members
from consentaudit.sources.archive_reader import ARCHIVE_ERRORS, begins_as_zip, is_compressed_tar, is_plain_tar
from consentaudit.sources.crawl_records import ListingLog, count_refusals, oversized_records, parquet_rows
from consentaudit.sources.inflation import InflationBudget, inflation_limit, past_limit
from consentaudit.sources.item import (
    ARCHIVE_SUFFIXES,
    DEFAULT_MAX_FILE_BYTES,
    HEAD_BYTES,
    IMAGE_EXTENSIONS,
    MAX_SIDECAR_BYTES,
    Item,
    copy_name,
    display_name,
    looks_like_image,
    sample_key,
)
from consentaudit.sources.listing_cache import ListingCache
from consentaudit.sources.parquet_images import ParquetUnreadable, embedded_images, list_parquet
from consentaudit.sources.zip_salvage import local_members


def is_archive(path: PurePath) -> bool:
    """Whether a file (or an archive member) is a tar or zip by its name."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def unsafe_name(name: str) -> str | None:
    """Why a member name must not be used, or None when it is a plain relative name."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"absolute member name {name!r}: not read"
    if ".." in name.replace("\\", "/").split("/"):  # the parts PurePosixPath would give, without building one
        return f"member name {name!r} climbs out of the archive ('..'): not read"
    return None


def _key(name: str) -> tuple[str, str]:
    """(key, lower-case suffix) of a member name: `a/0001.jpg` -> (`a/0001`, `.jpg`), as PurePosixPath
    gives them; plain names (every real shard's) by string operations, ~10x faster per member."""
    if name.startswith(("./", "/")) or "//" in name or "/./" in name or name.endswith(("/", "/.")) or name in ("", "."):
        p = PurePosixPath(name)
        suffix = "".join(p.suffixes[-1:]).lower()
        return str(p.with_suffix("")) if p.suffix else name, suffix
    start = name.rfind("/") + 1
    base = name[start:]
    i = base.rfind(".")
    key = name[: start + i] if 0 < i < len(base) - 1 else name  # PurePath.with_suffix("")
    if base.endswith("."):  # PurePath.suffixes[-1:], which ignores leading dots
        return key, ""
    stripped = base.lstrip(".")
    j = stripped.rfind(".")
    return key, stripped[j:].lower() if j >= 0 else ""


def list_archive(
    archive: Path, rel: str, log: ListingLog | None = None, listings: ListingCache | None = None
) -> Iterator[Item]:
    """Items of one archive; `rel` is the archive's path inside the dataset ('00012.tar'). A compressed tar's
    listing is taken from `listings` when it holds one for the files as they are now, and kept there when not."""
    log = log if log is not None else ListingLog()
    try:
        if archive.name.lower().endswith(".parquet"):
            try:
                embedded = embedded_images(archive)
            except ParquetUnreadable as exc:
                raise OSError(str(exc)) from exc
            if embedded is None:
                raise OSError("no column of images in this Parquet file")
            yield from list_parquet(archive, rel, embedded, log)
        elif archive.name.lower().endswith(".zip"):
            yield from _list_zip(archive, rel, log)
        elif listings is not None and is_compressed_tar(archive.name):
            yield from _kept_listing(archive, rel, log, listings)
        else:
            yield from _list_tar(archive, rel, log)
    except ARCHIVE_ERRORS as exc:
        yield Item(rel, str(archive), 0, 0, f"archive unreadable: {_named(exc)}")


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _sniffed(read: Read) -> bool:
    """Whether a member named otherwise begins as an image does (`looks_like_image`); a member that cannot
    be read does not."""
    try:
        head = read(HEAD_BYTES)
    except ARCHIVE_ERRORS:
        return False
    return head is not None and looks_like_image(head)


def _items(
    archive: Path,
    rel: str,
    members: Iterable[tuple[Member, Read]],
    log: ListingLog,
    budget: InflationBudget | None = None,
) -> Iterator[Item]:
    """Group one pass over the members by key: images become items carrying their `<key>.json` sidecar (or
    the shard's parquet row) and `<key>.c2pa`; unsafe members become items with a problem, and where members
    share a name (tar and zip allow it), each but the last is one under `NAME (copy k of n)`. A zip's
    compressed members that are read (images and their sidecars) spend its `budget`: one that does not fit is
    not read, an image as an item with a problem, a sidecar counted in a note."""
    listed: list[tuple[str, Member, str | None]] = []  # (path, member, why it is not read), member order
    sidecars: dict[str, str] = {}
    c2pa: dict[str, tuple[str, str]] = {}  # key -> (member name, its size, mtime and offset)
    xmp: dict[str, tuple[str, str]] = {}  # `<key>.xmp` or `<name>.xmp` -> the same
    oversized: list[str] = []  # crawl records too large to read
    overlapping: list[str] = []  # members not named as images whose data overlaps the next member's
    unspent: list[str] = []  # sidecars that would inflate the zip past its budget

    def past_budget(m: Member) -> str | None:
        """Why a member is not read: it would spend more than is left of the budget (else it is spent)."""
        if budget is None or not m.inflates or budget.take(m.size):
            return None
        return budget.refusal(m.size)

    for m, read in members:
        why = unsafe_name(m.name)
        key, suffix = _key(m.name)
        if why is None and m.kind == "link":
            why = f"link member {m.name!r}" + (f" -> {m.link!r}" if m.link else "") + ": not followed"
        if why is None and m.kind == "special":
            why = f"special member {m.name!r}: not read"
        if why is None and m.problem:
            why = m.problem
        if why is not None:
            if suffix in IMAGE_EXTENSIONS or m.kind == "link" or ".." in m.name or m.name.startswith("/"):
                listed.append((f"{rel}/{display_name(m.name.lstrip('/'))}", m, why))
            elif m.overlaps:  # an image under another name, or a sidecar: never opened, but said
                overlapping.append(m.name)
            continue
        if m.kind != "file":
            continue
        if suffix == ".json":
            if m.size > MAX_SIDECAR_BYTES:
                oversized.append(m.name)
                continue
            if past_budget(m):
                unspent.append(m.name)
                continue
            try:
                data = read(-1)
            except ARCHIVE_ERRORS:  # cut short or damaged: no crawl record
                data = None
            if data is not None:
                sidecars[key] = data.decode("utf-8", "replace")
        elif suffix in (".c2pa", ".xmp"):
            if past_budget(m):  # read with its image
                unspent.append(m.name)
                continue
            (c2pa if suffix == ".c2pa" else xmp)[key] = (m.name, f"{m.size}:{m.mtime_ns}:{m.offset}")
        elif suffix in IMAGE_EXTENSIONS:
            listed.append((f"{rel}/{display_name(m.name)}", m, past_budget(m)))
        elif is_archive(PurePosixPath(m.name)):  # images in it would be in the dataset, unaudited
            nested = f"archive {m.name!r} inside the archive: its members are not listed (extract it to audit them)"
            listed.append((f"{rel}/{display_name(m.name)}", m, nested))
        elif suffix != ".json" and m.size >= 8 and _sniffed(read):  # an image under another name
            listed.append((f"{rel}/{display_name(m.name)}", m, past_budget(m)))
    if oversized:
        log.warn(oversized_records(rel, oversized))
    if overlapping:
        log.warn(
            f"{rel}: {len(overlapping)} other member(s) not read: their data overlaps the next member's or the "
            f"central directory, a zip bomb's layout (the first: {overlapping[0]})"
        )
    if unspent and budget is not None:
        log.warn(
            f"{rel}: {len(unspent)} sidecar(s) not read (crawl records, C2PA manifests, XMP): they would take the "
            f"archive's members to {past_limit(budget.limit, budget.archive_bytes)} (the first: {unspent[0]}); "
            "what they record (a reservation made at crawl time, a training assertion) is not seen"
        )
    parquet = parquet_rows(archive, log.warn)
    present = {
        k.rsplit("/", 1)[-1] for _, m, why in listed if why is None for k in (_key(m.name)[0], sample_key(m.name))
    }
    count_refusals(parquet, present, log)
    problems: list[Item] = []
    counts = Counter(path for path, _, _ in listed)
    seen: Counter[str] = Counter()
    for path, m, why in listed:
        n = counts[path]
        if n > 1:  # one name, several members (tar and zip allow it; so does a link, or '/a.jpg' beside 'a.jpg')
            seen[path] += 1
            if seen[path] < n:  # an earlier one: reading by name finds the last, which extraction keeps
                copy = copy_name(path, seen[path], n)
                if why is None:
                    why = (
                        f"member name {m.name!r} appears {n} times in the archive: extracting keeps the last, "
                        "audited under the plain name, but a loader reading the stream sees this one too: not read"
                    )
                    problems.append(Item(copy, str(archive), m.size, m.mtime_ns, why))
                    continue
                path = copy
        if why is not None:
            problems.append(Item(path, str(archive), 0, 0, why))
            continue
        key, _ = _key(m.name)
        sample = sample_key(m.name)  # the key a WebDataset loader groups the member under, when it differs
        # `<key>.c2pa`, `<name>.c2pa` or `<key>_manifest.c2pa`, as beside a loose file; else the sample's
        side = c2pa.get(key) or c2pa.get(m.name) or c2pa.get(key + "_manifest") or c2pa.get(sample)
        xmp_side = xmp.get(key) or xmp.get(m.name)
        yield Item(
            path,
            str(archive),
            m.size,
            m.mtime_ns,
            member=m.name,
            crawl_json=sidecars.get(key)
            or parquet.get(key.rsplit("/", 1)[-1])
            or parquet.get(key)
            or sidecars.get(sample)
            or parquet.get(sample.rsplit("/", 1)[-1]),
            c2pa_sidecar=side[0] if side else None,
            offset=m.offset,
            c2pa_state=side[1] if side else "",
            xmp_sidecar=xmp_side[0] if xmp_side else None,
            xmp_state=xmp_side[1] if xmp_side else "",
            member_state=m.state,
        )
    yield from problems


def _list_tar(archive: Path, rel: str, log: ListingLog) -> Iterator[Item]:
    plain = is_plain_tar(archive.name)
    stops: list[str] = []
    with tarfile.open(archive, "r:" if plain else "r:*", tarinfo=HeaderLog) as tf:
        st = archive.stat()
        end = os.fstat(cast(IO[bytes], tf.fileobj).fileno()).st_size if plain else st.st_size
        members = tar_members(tf, plain, end, stops, 0 if plain else inflation_limit(end), st.st_mtime_ns)
        items = list(_items(archive, rel, members, log))
    yield from items
    for why in stops:  # where the archive stopped being readable: a problem of the archive itself
        yield Item(rel, str(archive), 0, 0, why)


def _kept_listing(archive: Path, rel: str, log: ListingLog, listings: ListingCache) -> Iterator[Item]:
    """A compressed tar's items from `listings`, else listed (inflating all of it) and kept there, unless the
    listing stopped before the shard's end (an item at the shard's own path says where)."""
    key = listings.key(archive, rel)
    kept = listings.load(key) if key is not None else None
    if kept is not None:
        log.add(kept[1])
        yield from kept[0]
        return
    own = ListingLog()  # what this listing logs, kept with it
    items = list(_list_tar(archive, rel, own))
    log.add(own)
    if key is not None and not any(i.path == rel for i in items):
        listings.save(key, items, own)
    yield from items


def _list_zip(archive: Path, rel: str, log: ListingLog) -> Iterator[Item]:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        if not begins_as_zip(archive):
            raise
        yield from _list_recovered(archive, rel, log, exc)
        return
    with zf:
        items = list(_items(archive, rel, zip_members(zf), log, InflationBudget.of(archive.stat().st_size)))
    yield from items


def _list_recovered(archive: Path, rel: str, log: ListingLog, exc: zipfile.BadZipFile) -> Iterator[Item]:
    """A zip that begins with a member but that no zip reader can list (its central directory cut off or
    damaged): the members its local headers give are listed and audited, and the archive itself is an item
    with a problem that says what was recovered and where the walk stopped."""
    with archive.open("rb") as f:
        members, stop = local_members(f, os.fstat(f.fileno()).st_size, DEFAULT_MAX_FILE_BYTES)
        items = list(_items(archive, rel, recovered_members(f, members), log))
    yield from items
    whole = sum(1 for m in members if not m.problem)
    yield Item(
        rel,
        str(archive),
        0,
        0,
        f"archive unreadable: zip cut short or damaged: no zip reader can list it ({_named(exc)}; an interrupted "
        f"copy or download?); {whole} whole member(s) recovered from their local headers and audited; {stop}",
    )
