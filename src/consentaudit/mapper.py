"""The map step of a scan: one work unit of items -> (scanned images, findings).

`UnitMapper` is a pure function of (unit, settings, read-only indexes): it reads the unit's files, never
the store or the terminal, so every executor runs the same object. It is also what judges the images the
store already holds (`judge`), with the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from consentaudit.executors import LocalExecutor, units_of
from consentaudit.fingerprint import warm_process
from consentaudit.matching.consent_index import ConsentIndex
from consentaudit.matching.hamming import HammingIndex
from consentaudit.matching.reference_index import ReferenceIndex
from consentaudit.merge import Merger
from consentaudit.models import ConsentRecord, Finding, ReferenceEntry, ScannedImage
from consentaudit.probe import ImageProbe
from consentaudit.progress import Progress, ProgressCallback
from consentaudit.scanner import ScanSettings, refingerprint_exact, scan_unit
from consentaudit.sources import open_source, read_item
from consentaudit.sources.archive_reader import ArchiveReader
from consentaudit.sources.item import Item
from consentaudit.thumbnails import Thumbnails
from consentaudit.verdicts import Rules

BORDER_MARGIN = 6  # bits: the measured drift of draft-decoded pHash is at most 4 (docs/performance.md)


# Where a reference entry's keypoints come from when they are not held in memory (a stored set).
KeypointSource = Callable[[ReferenceEntry], str | None]


@dataclass(frozen=True)
class UnitResult:
    images: list[ScannedImage]
    findings: list[Finding]


def _probe(
    item: Item | None,
    img: ScannedImage,
    max_pixels: int,
    data: bytes | None = None,
    thumbs: Thumbnails | None = None,
    archives: ArchiveReader | None = None,
) -> ImageProbe | None:
    """Computes an image's 256-bit pHash and keypoints from its bytes (those in hand, else read again), only
    when a candidate needs them and an earlier probe of the same bytes did not keep them; `thumbs`: its
    fingerprint's thumbnails, which estimate the 256-bit pHash without decoding again."""
    if item is None or item.problem is not None:
        return None
    known = img.fingerprint.probed if img.fingerprint else ()
    read = (lambda: data) if data is not None else (lambda: read_item(item, archives=archives))
    return ImageProbe(read, max_pixels, known, thumbs, img.fingerprint.orientation if img.fingerprint else None)


class UnitMapper:
    """Scan a unit, re-hash borderline fast hashes exactly, judge it."""

    def __init__(
        self,
        settings: ScanSettings,
        rules: Rules,
        records: Sequence[ConsentRecord],
        entries: Sequence[ReferenceEntry],
        phash_threshold: int,
        keypoints_of: KeypointSource | None = None,
        make_index: Callable[[np.ndarray], HammingIndex] = HammingIndex,
    ) -> None:
        """`make_index`: how the reference set's radius index is made (built, or loaded from a cache)."""
        self.settings = settings
        self.consents = ConsentIndex(records, phash_threshold)
        self.references = ReferenceIndex(entries, phash_threshold, keypoints_of, make_index) if entries else None
        self.merger = Merger(self.consents, self.references, rules)
        # candidates decided by 256-bit codes: the thumbnails estimate the image's (ImageProbe.near256)
        self._thumbs = self.consents.any256 or (
            self.references is not None and bool(np.any(self.references.entries.has_phash256))
        )

    def judge(
        self,
        images: Sequence[ScannedImage],
        items: dict[str, Item],
        in_hand: dict[str, bytes] | None = None,
        thumbs: dict[str, Thumbnails] | None = None,
    ) -> tuple[list[ScannedImage], list[Finding]]:
        """(images whose fingerprint changed, findings) for already scanned images; `in_hand`: their bytes,
        when the unit still holds them, `thumbs` their fingerprints' thumbnails. A fast JPEG hash near a
        decision is re-hashed exactly once (then it is `exact`), and codes a probe computes are kept with the
        image: judging it again decodes nothing."""
        with ArchiveReader() as archives:  # bytes not in hand are read again: an archive opened once
            return self._judge(images, items, in_hand or {}, thumbs or {}, archives)

    def _judge(
        self,
        images: Sequence[ScannedImage],
        items: dict[str, Item],
        held: dict[str, bytes],
        thumbnails: dict[str, Thumbnails],
        archives: ArchiveReader,
    ) -> tuple[list[ScannedImage], list[Finding]]:
        redone: list[ScannedImage] = []
        findings: list[Finding] = []
        for img in images:
            fp = img.fingerprint
            probe = _probe(
                items.get(img.path),
                img,
                self.settings.max_pixels,
                held.get(img.path),
                thumbnails.get(img.path),
                archives,
            )
            if (
                self.settings.fast
                and fp is not None
                and not fp.exact
                and fp.format == "JPEG"
                and (
                    self.consents.borderline(
                        fp, BORDER_MARGIN, probe.phash256 if probe else None, probe.near256 if probe else None
                    )
                    or (
                        self.references
                        and self.references.borderline(
                            fp, BORDER_MARGIN, probe.phash256 if probe else None, probe.near256 if probe else None
                        )
                    )
                )
            ):
                # the probe's codes come from the bytes, not from the fast hashes: it stays valid
                img = refingerprint_exact(items[img.path], img, self.settings, held.get(img.path), archives)
                changed = True
            else:
                changed = False
            findings.append(
                self.merger.finding(img, probe.phash256, probe.keypoints, probe.near256)
                if probe
                else self.merger.finding(img)
            )
            if probe is not None and probe.computed() and img.fingerprint is not None:
                fp2 = img.fingerprint
                img = replace(img, fingerprint=replace(fp2, probed=tuple(sorted({*fp2.probed, *probe.computed()}))))
                changed = True
            if changed:
                redone.append(img)
        return redone, findings

    def failed(self, unit: Sequence[Item], why: str) -> UnitResult:
        """The result of a unit that could not be run (its worker died, every retry failed): each of its files
        becomes an unreadable finding saying why, so no image is silently lost."""
        images = [ScannedImage(i.path, i.size, i.mtime_ns, None, error=f"not scanned: {why}") for i in unit]
        return UnitResult(images, [self.merger.finding(img) for img in images])

    def warm(self) -> None:
        """What a process does once before its first image (executors.warm: before the workers fork)."""
        warm_process()

    def __call__(self, unit: Sequence[Item]) -> UnitResult:
        in_hand: dict[str, bytes] = {}
        thumbs: dict[str, Thumbnails] | None = {} if self._thumbs else None
        images = scan_unit(unit, self.settings, in_hand, thumbs)
        redone, findings = self.judge(images, {i.path: i for i in unit}, in_hand, thumbs)
        exact = {img.path: img for img in redone}
        return UnitResult([exact.get(img.path, img) for img in images], findings)


@dataclass(frozen=True)
class ScanOnly:
    """Scan a unit without judging it: `fingerprint_items`' work on the executor."""

    settings: ScanSettings

    def warm(self) -> None:
        """As UnitMapper.warm."""
        warm_process()

    def __call__(self, unit: Sequence[Item]) -> list[ScannedImage]:
        return scan_unit(unit, self.settings)


def fingerprint_items(
    items: Sequence[Item],
    settings: ScanSettings,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    batch: int = 64,
) -> list[ScannedImage]:
    """Scan items without judging them, in order, on `jobs` local processes (units sized to the job): what
    `fingerprint`, `manifest init`, reference builds and a scan's `--reference FOLDER` do. A reference
    fingerprint (256-bit pHash, views, ORB keypoints) costs ~40 ms an image, ten times a scan's."""
    out: list[ScannedImage] = []
    for unit, images in LocalExecutor(jobs).map(units_of(items, batch, jobs), ScanOnly(settings)):
        out.extend(images)
        if progress:
            progress(Progress(len(out), len(items), 0, unit[-1].path))
    return out


def fingerprint_source(
    path: Path, settings: ScanSettings, progress: ProgressCallback | None = None, jobs: int = 1
) -> list[ScannedImage]:
    """`fingerprint_items` of every image of a dataset (folder, shards, zip)."""
    return fingerprint_items(list(open_source(path).items()), settings, progress, jobs)
