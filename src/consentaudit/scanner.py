"""The map side of a scan: turn one work unit (a batch of items) into ScannedImages.

A unit depends only on its items and the options, so units can run in any process or machine and be
merged in order afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

from consentaudit.fingerprint import DEFAULT_MAX_PIXELS, UnreadableImage, fingerprint_bytes, sha256_hex
from consentaudit.metadata import read_metadata
from consentaudit.models import ScannedImage
from consentaudit.sources import Item, read_item


def scan_item(item: Item, max_pixels: int = DEFAULT_MAX_PIXELS) -> ScannedImage:
    """Fingerprint and read the metadata of one item; every failure becomes a reported error."""
    if item.problem is not None:
        return ScannedImage(item.path, item.size, item.mtime_ns, None, error=item.problem)
    try:
        data = read_item(item)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return ScannedImage(item.path, item.size, item.mtime_ns, None, error=f"cannot read file: {reason}")
    try:
        fp = fingerprint_bytes(data, max_pixels)
    except UnreadableImage as exc:
        return ScannedImage(item.path, len(data), item.mtime_ns, None, error=str(exc),
                            sha256=sha256_hex(data) if data else None)
    meta = read_metadata(data)
    return ScannedImage(
        path=item.path,
        size=len(data),
        mtime_ns=item.mtime_ns,
        fingerprint=fp,
        signals=tuple(meta.signals),
        metadata=tuple(meta.values),
        notes=tuple(meta.notes),
    )


def scan_unit(items: Sequence[Item], max_pixels: int = DEFAULT_MAX_PIXELS) -> list[ScannedImage]:
    return [scan_item(i, max_pixels) for i in items]
