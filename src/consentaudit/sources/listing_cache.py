"""Listings of compressed tar shards kept between scans, so that a re-judge does not inflate them again.

A compressed tar (`.tar.gz`, `.tar.bz2`, `.tar.xz`) cannot be listed without inflating all of it: a re-judge
of the bench's 1,000 JPEGs as one 106 MB `.tar.bz2` took 5.9 s, nearly all of it the bzip2 pass that lists
the shard (the images themselves came from the fingerprint cache). A scan keeps what listing one found — its
items, the warnings it gave, the crawl-time refusals it counted — under a key made of the shard's path inside
the dataset and on disk, the shard file's device, inode, size and mtime, the same of the `<shard>.parquet`
beside it (its rows are crawl records), and the listing's format and limits. The fingerprint cache trusts a
file's size and mtime alike; `scan --rehash` and `verify --dataset` never use this one.

An entry is a header line (the format and the sha256 of what follows) and the listing as zlib-compressed JSON
(crawl records are most of it: ~0.1 KB an image for the bench's shard, more for real records); one whose bytes
are not the bytes written (a flipped bit, a file cut short) is not used: the shard is listed again and the
entry replaced. A listing that stopped before the shard's end (damaged, cut short, past its inflation limit) is
not kept, so that a failure to read is never remembered. When the cache cannot be written, shards are simply
listed every time; deleting it loses nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import consentaudit.sources.inflation as inflation
from consentaudit import __version__
from consentaudit.sources.crawl_records import ListingLog, shard_name
from consentaudit.sources.item import MAX_SIDECAR_BYTES, Item

# What shapes a listing besides the files: another release, or other limits, lists again. Raise the v-number
# when a change to listing gives other items for the same files.
FORMAT = f"archive-listing-v1;consentaudit-{__version__};sidecar={MAX_SIDECAR_BYTES}"

_FIELDS = [f.name for f in dataclasses.fields(Item)]


def _identity(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


@dataclass(frozen=True)
class ListingCache:
    """Listings of compressed tar shards, as files under `root`."""

    root: Path

    def key(self, archive: Path, rel: str) -> str | None:
        """The key of the shard's listing as the files are now; None when the shard cannot be stat'ed."""
        shard = _identity(archive)
        if shard is None:
            return None
        crawl = _identity(archive.with_name(shard_name(archive.name) + ".parquet"))  # as parquet_rows finds it
        limits = [inflation.INFLATED_RATIO, inflation.INFLATED_FLOOR]  # as they are now (a test may lower them)
        ident = [FORMAT, limits, str(archive.resolve()), rel, shard, crawl]
        return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]

    def _entry(self, key: str) -> Path:
        return self.root / f"{key}.listing"

    def load(self, key: str) -> tuple[list[Item], ListingLog] | None:
        """The items of a kept listing and what it logged; None when there is none or it is damaged."""
        try:
            raw = self._entry(key).read_bytes()
            head, _, body = raw.partition(b"\n")
            header = json.loads(head)
            if header.get("format") != FORMAT or header.get("sha256") != hashlib.sha256(body).hexdigest():
                return None
            kept = json.loads(zlib.decompress(body))
            items = [_item(row) for row in kept["items"]]
            warnings = [str(w) for w in kept["warnings"]]
            refusals = Counter({str(k): int(v) for k, v in kept["refusals"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError, zlib.error):
            return None
        return items, ListingLog(warnings, refusals)

    def save(self, key: str, items: list[Item], log: ListingLog) -> None:
        """Keep a listing (and what it logged); nothing when the cache cannot be written."""
        listing = {
            "items": [[getattr(i, f) for f in _FIELDS] for i in items],
            "warnings": log.warnings,
            "refusals": dict(log.refusals),
        }
        body = zlib.compress(json.dumps(listing).encode(), 1)  # ASCII: lone surrogates round-trip as escapes
        header = json.dumps({"format": FORMAT, "sha256": hashlib.sha256(body).hexdigest()}).encode()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header + b"\n" + body)
            os.replace(tmp, self._entry(key))
        except OSError:  # a full disk: no entry, and no part of one left behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _item(row: list[Any]) -> Item:
    values = dict(zip(_FIELDS, row, strict=True))
    if values["file_id"] is not None:
        values["file_id"] = tuple(values["file_id"])
    return Item(**values)
