"""The map side of a scan: turn one work unit (a batch of items) into ScannedImages.

A unit depends only on its items and the settings, so units can run in any process or machine and be
merged in order afterwards.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from consentaudit import __version__, jpegxl
from consentaudit.defaults import DEFAULT_MAX_PIXELS
from consentaudit.digest import sha256_hex
from consentaudit.fingerprint import UnreadableImage, fingerprint_bytes
from consentaudit.models import ScannedImage, Signal
from consentaudit.signals import c2pa_verify
from consentaudit.signals.c2pa_reader import digital_source_types, embedded_store, read_store, training_entries
from consentaudit.signals.containers import jpeg_header_end
from consentaudit.signals.metadata import MAX_XMP_BYTES, read_metadata, read_xmp_sidecar
from consentaudit.signals.provenance import C2paFacts, c2pa_signals, crawl_signals, parse_crawl_json, xmp_signals
from consentaudit.sources import read_item
from consentaudit.sources.archive_reader import ArchiveReader, kept_reader
from consentaudit.sources.item import Item
from consentaudit.thumbnails import Thumbnails
from consentaudit.vocab import REBUILT_JPEG_SHA256

# What the readers take from a file, between releases: raised when a change makes a scanned image hold other
# values (2: the EXIF caption only under --keep-sensitive-metadata; 3: the crawl record's `crawl.sha256`; 4: a
# JPEG XL file's `jxl.jpeg_sha256`), so that no cached image of before is reused
READ_REVISION = 4


@dataclass(frozen=True)
class ScanSettings:
    max_pixels: int = DEFAULT_MAX_PIXELS
    keep_sensitive_metadata: bool = False
    verify_c2pa: bool = True  # validate with c2pa-python when the extra is installed
    trust_anchors: str | None = None  # PEM text of trusted C2PA signer roots
    fast: bool = True  # JPEG draft decoding (see fingerprint.fingerprint_bytes); False: imagehash-exact
    with256: bool = False  # also the 256-bit pHash (reference sets, manifest records)
    views: bool = True  # with with256: also the views and ORB keypoints of a reference entry

    def cache_tag(self) -> str:
        """What shapes a scanned image besides the fingerprint algorithm: the fingerprint cache reuses an
        image only under the same tag. Without it, GPS kept by one `--keep-sensitive-metadata` scan reached
        every later report of the files; an image refused as a bomb stayed refused under a larger
        `--max-image-pixels`; C2PA read without validation (or against other trust anchors) stayed so.
        The tool's version is in it too: its readers change between releases."""
        validated = self.verify_c2pa and c2pa_verify.available()
        anchors = hashlib.sha256(self.trust_anchors.encode()).hexdigest()[:16] if self.trust_anchors else "-"
        return (
            f"consentaudit-{__version__}.r{READ_REVISION};max-pixels={self.max_pixels};"
            f"sensitive={int(self.keep_sensitive_metadata)};c2pa={'validated' if validated else 'read'};"
            f"anchors={anchors};with256={int(self.with256)};views={int(self.views)}"
        )

    def cache_key(self, algorithm: str) -> str:
        """The fingerprint cache's key for images made by `algorithm` under these settings."""
        return f"{algorithm}|{self.cache_tag()}"


def _sidecar_bytes(item: Item, archives: ArchiveReader, sidecar: str | None, limit: int = 64 << 20) -> bytes | None:
    """A sidecar's bytes (a file beside a loose image, a member of an image's archive), or None."""
    if not sidecar:
        return None
    try:
        if item.member is not None:
            return archives.read(item.location, sidecar, limit)
        fd = os.open(sidecar, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))  # as the image: a link is not followed
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:  # ArchiveReader says every failure so, a missing member too
        return None


def c2pa_facts(
    data: bytes, fmt: str | None, sidecar: bytes | None, remote_url: str | None, settings: ScanSettings
) -> C2paFacts | None:
    """The C2PA facts of a file: validated when c2pa-python is there, else read unverified."""
    # an embedded store is a JUMBF box: one search serves both checks; a JPEG's is in its APP11 segments (as
    # c2pa-rs reads it too), so only the bytes before the image data are searched
    end = jpeg_header_end(data) if data[:2] == b"\xff\xd8" else len(data)
    jumbf = data.find(b"jumb", 0, end) >= 0
    blob = embedded_store(data, jumbf)
    where = "embedded" if blob is not None else "sidecar"
    if blob is None:
        blob = sidecar
    if blob is None and jumbf and b"c2pa" in data and settings.verify_c2pa and c2pa_verify.available():
        # a container the pure reader does not walk (HEIF/AVIF/TIFF, ISO BMFF 'uuid' box): ask the validator
        facts = c2pa_verify.verify(data, fmt, None, settings.trust_anchors, "embedded")
        if facts is not None:
            return facts
    if blob is None:
        if remote_url and remote_url.lower().startswith(("http://", "https://")):
            return C2paFacts("remote", f"not fetched ({remote_url[:200]})", state="remote-only")
        if remote_url and remote_url.startswith("self#jumbf"):
            return C2paFacts(
                "embedded",
                "XMP dcterms:provenance points to an embedded manifest that is not in the file (stripped)",
                state="missing",
            )
        return None
    store = read_store(blob)
    active = store.active
    if active is None:
        unverified = C2paFacts(where, "unverified; " + "; ".join(store.problems), state="malformed")
    else:
        unverified = C2paFacts(
            where,
            "unverified (read without validation)",
            tuple(training_entries(active)),
            tuple(digital_source_types(active)),
            generator=active.claim_generator,
        )
    if settings.verify_c2pa and c2pa_verify.available():
        facts = c2pa_verify.verify(data, fmt, sidecar if where == "sidecar" else None, settings.trust_anchors, where)
        if facts is not None and facts.state == "invalid" and not facts.training and unverified.training:
            # the validator rejected the store outright: keep what it says, signed by nobody, as Invalid
            return replace(unverified, verification=facts.verification, state="invalid")
        if facts is not None:
            return facts
    return unverified


def scan_item(
    item: Item,
    settings: ScanSettings = ScanSettings(),
    archives: ArchiveReader | None = None,
    hold: Callable[[str, bytes], None] | None = None,
    hold_thumbs: Callable[[str, Thumbnails], None] | None = None,
) -> ScannedImage:
    """Fingerprint and read the provenance of one item; every failure becomes a reported error. `hold` is
    given the bytes read, `hold_thumbs` the thumbnails the fingerprint came from."""
    if item.problem is not None:
        return ScannedImage(item.path, item.size, item.mtime_ns, None, error=item.problem)
    sidecars = item.sidecars
    reader = archives or ArchiveReader()
    try:
        data = read_item(item, archives=reader)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return ScannedImage(
            item.path, item.size, item.mtime_ns, None, error=f"cannot read file: {reason}", sidecars=sidecars
        )
    if hold is not None:
        hold(item.path, data)
    signals: list[Signal] = []
    values: list[tuple[str, str]] = []
    if item.crawl_json:
        rec = parse_crawl_json(item.crawl_json)
        if rec is not None:
            signals.extend(crawl_signals(rec))
            values.extend(
                (k, v)
                for k, v in (
                    ("crawl.url", rec.url),
                    ("crawl.domain", rec.domain),
                    ("crawl.status", rec.status),
                    ("crawl.error", rec.error),
                    ("crawl.sha256", rec.sha256),
                )
                if v
            )
    try:
        keep = None if hold_thumbs is None else (lambda thumbs: hold_thumbs(item.path, thumbs))
        fp = fingerprint_bytes(data, settings.max_pixels, settings.fast, settings.with256, keep, settings.views)
    except UnreadableImage as exc:
        return ScannedImage(
            item.path,
            len(data),
            item.mtime_ns,
            None,
            error=str(exc),
            sha256=sha256_hex(data) if data else None,
            signals=tuple(signals),
            metadata=tuple(values),
            sidecars=sidecars,
        )
    # The readers below parse what a file's author wrote; each is fuzzed, but a failure one of them did not
    # foresee must not stop the scan and lose the other images: the image keeps its fingerprint and the
    # report says which reader failed on it.
    metadata: list[tuple[str, str]] = []
    notes: list[str] = []
    remote = None
    try:
        meta = read_metadata(data, settings.keep_sensitive_metadata)
        signals.extend((*meta.signals, *xmp_signals(meta.values)))
        metadata, notes = list(meta.values), list(meta.notes)
        remote = next((v for k, v in meta.values if k == "xmp.c2pa_provenance"), None)
    except Exception as exc:  # reported on the image, see above
        notes.append(_reader_failed("EXIF/IPTC/XMP", exc))
    side = _sidecar_bytes(item, reader, item.xmp_sidecar, MAX_XMP_BYTES)
    if side is not None:
        try:
            sidecar = read_xmp_sidecar(side)
            signals.extend((*sidecar.signals, *xmp_signals(sidecar.values, "sidecar")))
            metadata += sidecar.values
            notes += [f"XMP sidecar: {n}" for n in sidecar.notes]
        except Exception as exc:  # reported on the image, see above
            notes.append(_reader_failed("XMP sidecar", exc))
    if fp.format == "JXL" and jpegxl.rebuilds_a_jpeg(data):
        try:
            metadata.append((REBUILT_JPEG_SHA256, sha256_hex(jpegxl.jpeg_of(data))))
        except Exception as exc:  # reported on the image, see above
            notes.append(f"the JPEG this JPEG XL file recompresses could not be rebuilt ({type(exc).__name__})")
    try:
        facts = c2pa_facts(data, fp.format, _sidecar_bytes(item, reader, item.c2pa_sidecar), remote, settings)
        if facts is not None:
            signals.extend(c2pa_signals(facts))
    except Exception as exc:  # reported on the image, see above
        notes.append(_reader_failed("C2PA", exc))
    return ScannedImage(
        path=item.path,
        size=len(data),
        mtime_ns=item.mtime_ns,
        fingerprint=fp,
        signals=tuple(signals),
        metadata=tuple(values + metadata),
        notes=tuple(notes),
        sidecars=sidecars,
    )


def _reader_failed(what: str, exc: Exception) -> str:
    return f"{what} metadata could not be read ({type(exc).__name__}: {str(exc)[:200]}); its signals are missing"


def refingerprint_exact(
    item: Item,
    img: ScannedImage,
    settings: ScanSettings,
    data: bytes | None = None,
    archives: ArchiveReader | None = None,
) -> ScannedImage:
    """The same image with imagehash-exact hashes (full decode); used for borderline perceptual matches.
    `data`: the bytes already in hand (else they are read again, through `archives` for an archive member)."""
    try:
        data = data if data is not None else read_item(item, archives=archives)
        fp = fingerprint_bytes(data, settings.max_pixels, fast=False)
    except (OSError, UnreadableImage):
        return img
    return replace(img, fingerprint=fp)


KEEP_BYTES = 128 << 20  # bytes of one unit kept in hand for its exact re-hashes


def scan_unit(
    items: Sequence[Item],
    settings: ScanSettings = ScanSettings(),
    keep: dict[str, bytes] | None = None,
    thumbs: dict[str, Thumbnails] | None = None,
) -> list[ScannedImage]:
    """Scan a unit; with `keep`, the bytes read stay in hand (up to KEEP_BYTES) for what the unit does next,
    with `thumbs` the fingerprints' thumbnails (2 KB an image at most). Archive members are read through this
    process's `kept_reader`, so consecutive units of one shard read it as one forward pass."""
    archives = kept_reader()
    kept = 0

    def hold(path: str, data: bytes) -> None:
        nonlocal kept
        if keep is not None and kept + len(data) <= KEEP_BYTES:
            keep[path] = data
            kept += len(data)

    return [scan_item(i, settings, archives, hold, None if thumbs is None else thumbs.__setitem__) for i in items]
