"""What the scan driver does with the results of its work units: stores them as they land (the resume
point), then merges — judges the images the store holds without a finding, settles duplicate groups and
summarises. The driver is the store's only writer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from consentaudit.digest import merkle_root
from consentaudit.findings_out import FindingsOut
from consentaudit.mapper import UnitMapper, UnitResult
from consentaudit.matching.duplicates import duplicate_groups
from consentaudit.merge import SummaryBuilder, settle_groups
from consentaudit.models import Finding, ScannedImage, Summary
from consentaudit.progress import Progress, ProgressCallback
from consentaudit.request import AuditRequest
from consentaudit.sources.item import Item

if TYPE_CHECKING:
    from consentaudit.store import ScanStore

WRITE_IMAGES = 512  # the driver writes landed results in transactions of about this many images
WRITE_SECONDS = 0.25  # ... or at least this often: what is left to write when the last unit lands is small
KEEP_FINDINGS = 5000  # a scan's findings the driver keeps for the merge (a small scan's are not read back)

Landing = Iterator[tuple[Sequence[Item], UnitResult]]  # (unit, its result) in unit order, from an executor


@dataclass
class Landed:
    """The findings of this run as they come to hand: `summary` counts them (None on a resumed scan, whose
    earlier findings are only in the store), `kept` holds the first KEEP_FINDINGS paths' findings as stored
    (a path held is always updated), so that the merge settles a small scan's groups without reading back."""

    summary: SummaryBuilder | None
    kept: dict[str, Finding] = field(default_factory=dict)

    def add(self, findings: Sequence[Finding]) -> None:
        for f in findings:
            if self.summary is not None:
                self.summary.add(f)
            if f.path in self.kept or len(self.kept) < KEEP_FINDINGS:
                self.kept[f.path] = f


def store_landing(
    store: ScanStore,
    scan_id: int,
    dataset_key: str,
    algo: str,
    landing: Landing,
    counts: tuple[int, int],
    progress: ProgressCallback | None,
    landed: Landed,
    writer: FindingsOut | None = None,
    whole: dict[str, int] | None = None,
) -> None:
    """Store the units' results as they land from the executor. They are buffered up to WRITE_IMAGES images
    or WRITE_SECONDS and written in one transaction: fewer, larger writes. An interruption writes what has
    landed first; only a kill -9 can lose that much work, which the resume redoes. `landed` is fed every
    finding; `writer` (--out) gets a shard's findings once all of the shard's images (`whole`) are stored."""
    finished, total = counts
    images: list[ScannedImage] = []
    findings: list[Finding] = []
    last_write = time.monotonic()
    shards: dict[str, list[Finding]] = {}  # --out: findings of whole shards landing in this run
    remaining = dict(whole or {})  # shard -> images still to land
    ready: list[str] = []

    def flush() -> None:
        nonlocal last_write
        if images:
            store.add_images(scan_id, dataset_key, images, algo, findings=findings)
            images.clear()
            findings.clear()
        if writer is not None:  # a shard's Parquet only once its results are in the store
            for shard in ready:
                writer.write(shard, shards.pop(shard))
            ready.clear()
        last_write = time.monotonic()

    try:
        for unit, result in landing:
            images.extend(result.images)
            findings.extend(result.findings)
            landed.add(result.findings)
            finished += len(unit)
            if writer is not None:
                shard_of = {i.path: i.shard for i in unit}
                for f in result.findings:
                    shard = shard_of[f.path]
                    if shard in remaining:
                        shards.setdefault(shard, []).append(f)
                        remaining[shard] -= 1
                        if remaining[shard] == 0:
                            ready.append(shard)
            if len(images) >= WRITE_IMAGES or time.monotonic() - last_write >= WRITE_SECONDS:
                flush()
            if progress:
                progress(Progress(finished, total, 0, unit[-1].path))
    except BaseException:  # Ctrl-C or a failing unit: keep what has landed, then let the error through
        with contextlib.suppress(Exception):
            flush()
        raise
    finally:
        close = getattr(landing, "close", None)  # a generator's or a started pool's: the workers stop
        if close is not None:
            close()
    flush()


def merge_scan(
    req: AuditRequest,
    store: ScanStore,
    scan_id: int,
    dataset_key: str,
    algo: str,
    items: dict[str, Item],
    files: list[tuple[str, str | None]],
    mapper: UnitMapper,
    landed: Landed,
) -> tuple[str, list[list[str]], Summary]:
    """(dataset digest, duplicate groups, summary): judge the images the store holds without a finding
    (cached, unchanged, resumed), settle duplicate groups, summarise. `landed.summary`, the findings that
    landed in the map, is kept up to date here (the judged images added, settled ones replaced) — without
    it every finding is read back to count; group members not in `landed.kept` are read from the store."""
    counted, kept = landed.summary, landed.kept

    def judge(batch: list[ScannedImage]) -> None:
        redone, findings = mapper.judge([img for img in batch if img.path in items], items)
        store.add_images(scan_id, dataset_key, redone, algo, findings=findings)  # same bytes: cache them too
        landed.add(findings)

    batch: list[ScannedImage] = []
    for img in store.unjudged_images(scan_id):  # cached, unchanged and resumed images
        batch.append(img)
        if len(batch) >= 1000:
            judge(batch)
            batch = []
    judge(batch)
    light = [row for row in store.light_rows(scan_id) if row[0] in items]
    entries = {p: sha for p, sha, *_ in light}  # every file a loader could read, each path once: a data
    entries.update(files)  # file wins over an item at its path (an archive that is not readable throughout)
    digest = merkle_root(entries.items())  # as `verify --dataset` re-derives it (attest.dataset_entries)
    groups = duplicate_groups(light, req.phash_threshold)
    del light
    for start in range(0, len(groups), 200):  # a few hundred groups at a time: memory stays flat
        chunk = groups[start : start + 200]
        members = {p: kept[p] for g in chunk for p in g if p in kept}
        missing = [p for g in chunk for p in g if p not in members]
        if missing:
            members.update(store.get_findings(scan_id, missing))
        settled = settle_groups(chunk, members, first=start + 1)
        store.add_findings(scan_id, settled)
        if counted is not None:
            for f in settled:
                counted.replace(members[f.path], f)
    if counted is None:
        counted = SummaryBuilder(req.fail_on, req.purposes)
        for f in store.iter_findings(scan_id):
            counted.add(f)
    return digest, groups, counted.build(len(groups))
