"""Run an audit: load manifests and references, scan the dataset in work units, merge, report.

The library entry point the CLI calls. It does I/O through sources and the store, never prints, and
reports progress through a callback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from consentaudit import __version__
from consentaudit.codec import header_to_dict, summary_to_dict
from consentaudit.digest import merkle_root, sha256_file
from consentaudit.errors import InputError
from consentaudit.executors import default_jobs, map_units
from consentaudit.fingerprint import DEFAULT_MAX_PIXELS, ImageProbe, algorithm, thumbnail_data_uri
from consentaudit.manifest import load_records, parse_manifest
from consentaudit.matching.consent_index import ConsentIndex
from consentaudit.matching.duplicates import duplicate_groups
from consentaudit.matching.perceptual import DEFAULT_PHASH_THRESHOLD
from consentaudit.matching.reference_index import MATCHER, ReferenceIndex
from consentaudit.merge import Merger, SummaryBuilder, settle_groups
from consentaudit.models import (
    ConsentRecord,
    Finding,
    ManifestInfo,
    ReferenceEntry,
    ReferenceInfo,
    Report,
    ReportHeader,
    ScannedImage,
    ScanOptions,
    Summary,
)
from consentaudit.reference_files import entries_from_images, read_fingerprint_file, read_url_list
from consentaudit.scanner import ScanSettings, refingerprint_exact, scan_unit
from consentaudit.signals import c2pa_verify
from consentaudit.sources import open_source, read_item
from consentaudit.sources.archives import is_archive
from consentaudit.sources.item import Item
from consentaudit.store import ReferenceSets, ScanStore, StoredKeypoints
from consentaudit.verdicts import Rules
from consentaudit.vocab import CRAWL_PROTOCOLS, AiGenerated, Verdict

DEFAULT_FAIL_ON = tuple(v for v in Verdict if v != Verdict.CONSENTED)
DEFAULT_BATCH = 64
BORDER_MARGIN = 6  # bits: the measured drift of draft-decoded pHash is at most 4 (docs/performance.md)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    cached: int
    path: str | None = None


ProgressCallback = Callable[[Progress], None]


@dataclass
class AuditRequest:
    dataset: Path
    manifests: Sequence[Path] = ()
    references: Sequence[Path] = ()
    purposes: Sequence[str] = ("ai-training",)
    as_of: date = field(default_factory=lambda: datetime.now(UTC).date())
    phash_threshold: int = DEFAULT_PHASH_THRESHOLD
    fail_on: Sequence[Verdict] = DEFAULT_FAIL_ON
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    batch_size: int = DEFAULT_BATCH
    deny_domains: Sequence[str] = ()
    allow_domains: Sequence[str] = ()
    ai_generated: AiGenerated = AiGenerated.FLAG
    honour_crawl: Sequence[str] = CRAWL_PROTOCOLS
    keep_sensitive_metadata: bool = False
    verify_c2pa: bool = True
    trust_anchors: Path | None = None
    policy_file: str | None = None
    jobs: int = field(default_factory=default_jobs)
    fast: bool = True

    def settings(self) -> ScanSettings:
        anchors = None
        if self.trust_anchors is not None:
            try:
                anchors = self.trust_anchors.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read trust anchors {self.trust_anchors}: {exc}") from None
        return ScanSettings(self.max_image_pixels, self.keep_sensitive_metadata, self.verify_c2pa, anchors, self.fast)

    def rules(self) -> Rules:
        return Rules(
            tuple(self.purposes),
            self.as_of,
            tuple(self.deny_domains),
            tuple(self.allow_domains),
            self.ai_generated,
            tuple(self.honour_crawl),
        )


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_manifests(paths: Sequence[Path]) -> tuple[list[ConsentRecord], list[ManifestInfo]]:
    """Parse and validate every manifest; raise ManifestError listing all problems of all files."""
    parsed = []
    for p in paths:
        try:
            text = p.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise InputError(f"manifest not found: {p}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise InputError(f"cannot read manifest {p}: {exc.strerror}") from None
        parsed.append(parse_manifest(str(p), text))
    records = load_records(parsed)
    infos = [ManifestInfo(str(p), sha256_file(p), len(m.records)) for p, m in zip(paths, parsed, strict=True)]
    return records, infos


EXACT = ScanSettings(fast=False)
REFERENCE = ScanSettings(fast=False, with256=True)  # reference entries: also 256-bit pHash, views, keypoints


def load_reference(path: Path, settings: ScanSettings = REFERENCE) -> tuple[ReferenceInfo, list[ReferenceEntry]]:
    """A reference set from a folder of images or a fingerprint file written by `fingerprint`."""
    if path.is_dir() or (path.is_file() and is_archive(path)):
        name = path.name
        images = scan_unit(list(open_source(path).items()), settings)
        entries = list(entries_from_images(name, images))
        return ReferenceInfo(name, str(path), len(entries)), entries
    if path.is_file() and path.suffix.lower() in (".txt", ".csv", ".parquet"):
        entries = read_url_list(path, path.stem)
        return ReferenceInfo(path.stem, str(path), len(entries)), entries
    if path.is_file():
        name, entries, header = read_fingerprint_file(path)
        return ReferenceInfo(
            name, str(path), len(entries), header.get("description", ""), header.get("license", "")
        ), entries
    raise InputError(f"reference set not found: {path} (neither a file, a folder nor a stored set)")


def fingerprint_folder(
    path: Path, settings: ScanSettings = EXACT, progress: ProgressCallback | None = None
) -> list[ScannedImage]:
    """Scan a folder without judging it (for `fingerprint` and `manifest init`)."""
    items = list(open_source(path).items())
    out: list[ScannedImage] = []
    for batch in _batches(items, DEFAULT_BATCH):
        out.extend(scan_unit(batch, settings))
        if progress:
            progress(Progress(len(out), len(items), 0, batch[-1].path))
    return out


def thumbnail_source(dataset: Path) -> Callable[[Finding], str | None]:
    """Thumbnails for the HTML report, read from the dataset as it is now (None when a file is gone)."""
    items: dict[str, Item] | None = None

    def thumb(f: Finding) -> str | None:
        nonlocal items
        if items is None:
            try:
                items = {i.path: i for i in open_source(dataset).items()}
            except InputError:
                items = {}
        item = items.get(f.path)
        if item is None or item.problem is not None:
            return None
        try:
            return thumbnail_data_uri(read_item(item, max_bytes=64 << 20))
        except OSError:
            return None

    return thumb


def _batches(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _run_key(
    req: AuditRequest,
    dataset: str,
    manifests: Sequence[ManifestInfo],
    references: Sequence[ReferenceInfo],
    ref_digests: Sequence[str],
) -> str:
    key = {
        "dataset": dataset,
        "purposes": list(req.purposes),
        "as_of": str(req.as_of),
        "threshold": req.phash_threshold,
        "max_pixels": req.max_image_pixels,
        "sensitive": req.keep_sensitive_metadata,
        "verify_c2pa": req.verify_c2pa,
        "trust_anchors": str(req.trust_anchors) if req.trust_anchors else None,
        "rules": [sorted(req.deny_domains), sorted(req.allow_domains), req.ai_generated, sorted(req.honour_crawl)],
        "manifests": [m.sha256 for m in manifests],
        "references": list(ref_digests),
        "reference_names": [r.name for r in references],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Inputs:
    records: list[ConsentRecord]
    manifests: list[ManifestInfo]
    references: list[ReferenceInfo]
    entries: list[ReferenceEntry]
    keypoints_of: StoredKeypoints | None  # stored sets leave their entries' keypoints in the store


def _load_inputs(req: AuditRequest, settings: ScanSettings, store: ScanStore) -> Inputs:
    records, manifest_infos = load_manifests(req.manifests)
    ref_infos: list[ReferenceInfo] = []
    ref_entries: list[ReferenceEntry] = []
    stored: list[str] = []
    exact = replace(settings, fast=False, with256=True)  # reference hashes: imagehash-exact, with 256-bit
    for rp in req.references:
        if not rp.exists() and ReferenceSets(store).exists(str(rp)):
            info, entries = ReferenceSets(store).load(str(rp), keypoints=False)
            stored.append(info.name)
        else:
            info, entries = load_reference(rp, exact)
        ref_infos.append(info)
        ref_entries.extend(entries)
    url = store.engine.url.render_as_string(hide_password=False)
    return Inputs(records, manifest_infos, ref_infos, ref_entries, StoredKeypoints(url, stored) if stored else None)


def run_audit(req: AuditRequest, store: ScanStore, progress: ProgressCallback | None = None) -> Report:
    """Scan, judge, summarise and store one audit; resumes the unfinished scan of the same command.

    Map: unchanged files (path, size, mtime) are taken from the cache inside the database; the others run
    as work units, in parallel with jobs > 1, each stored when it is done (the resume point). Merge: images
    are judged in path order, a batch at a time, and the findings stored; only the light (path, hashes)
    rows of the whole dataset are held in memory.
    """
    started = now_utc()
    settings = req.settings()
    algo = algorithm(settings.fast)
    inputs = _load_inputs(req, settings, store)
    manifest_infos, ref_infos = inputs.manifests, inputs.references
    ref_digest = hashlib.sha256(
        json.dumps(
            [MATCHER] + [(e.sha256, e.phash, e.dhash, e.url, e.phash256, e.detail, e.views) for e in inputs.entries]
        ).encode()
    )
    source = open_source(req.dataset)
    dataset_key = str(source.root)
    items = {i.path: i for i in source.items()}
    run_key = _run_key(req, dataset_key, manifest_infos, ref_infos, [ref_digest.hexdigest(), algo])
    scan_id, done = store.begin_scan(dataset_key, run_key, started)

    previous = store.last_complete(run_key) if not done else None
    cloned = previous is not None and _unchanged(store.image_states(previous), items)
    if cloned:  # same inputs, same files: the previous audit's findings, digest, groups and counts hold
        assert previous is not None
        store.clone_scan(previous, scan_id)
        if progress:
            progress(Progress(len(items), len(items), len(items)))
        before = store.load_report(previous)
        digest, groups = before.header.dataset_digest, [list(g) for g in before.duplicates]
        failing = sum(before.summary.verdicts.get(v.value, 0) for v in req.fail_on)  # --fail-on may differ
        summary = replace(before.summary, failing=failing)
    else:
        stale = sorted(done - items.keys())
        if stale:
            store.prune(scan_id, stale)
        work = UnitWork(req, settings, inputs)
        _map(req, store, scan_id, dataset_key, algo, items, done, progress, work)
        digest, groups, summary = _merge(req, store, scan_id, dataset_key, algo, items, work)
    errors = []
    if source.skipped:
        errors.append(f"{source.skipped} non-image files skipped")
    if req.policy_file:
        errors.append(f"policy file: {req.policy_file}")
    if req.verify_c2pa and not c2pa_verify.available():
        errors.append("C2PA manifests read without validation (install consentaudit[c2pa] to validate)")
    header = ReportHeader(
        tool="consentaudit",
        tool_version=__version__,
        fingerprint_algorithm=algo,
        dataset=str(req.dataset),
        options=ScanOptions(
            purposes=tuple(req.purposes),
            as_of=req.as_of,
            phash_threshold=req.phash_threshold,
            fail_on=tuple(req.fail_on),
            max_image_pixels=req.max_image_pixels,
        ),
        manifests=tuple(manifest_infos),
        references=tuple(ref_infos),
        started_at=started,
        finished_at=now_utc(),
        scan_id=scan_id,
        errors=tuple(errors),
        dataset_digest=digest,
    )
    store.finish_scan(
        scan_id, header_to_dict(header), summary_to_dict(summary), [list(g) for g in groups], header.finished_at
    )
    return store.load_report(scan_id)


def _probe(item: Item | None, max_pixels: int) -> ImageProbe | None:
    """Computes an image's 256-bit pHash and keypoints from its bytes, only when a candidate needs them."""
    if item is None or item.problem is not None:
        return None
    return ImageProbe(lambda: read_item(item), max_pixels)


class UnitWork:
    """What a worker does with one unit: scan it, re-hash borderline fast hashes exactly, judge it. The
    parent only writes the results, so both cores decode while it does."""

    def __init__(self, req: AuditRequest, settings: ScanSettings, inputs: Inputs) -> None:
        self.settings = settings
        self.consents = ConsentIndex(inputs.records, req.phash_threshold)
        self.references = (
            ReferenceIndex(inputs.entries, req.phash_threshold, inputs.keypoints_of) if inputs.entries else None
        )
        self.merger = Merger(self.consents, self.references, req.rules())

    def judge(self, images: Sequence[ScannedImage], items: dict[str, Item]) -> tuple[list[ScannedImage], list[Finding]]:
        """(images re-hashed exactly, findings) for already scanned images."""
        redone: list[ScannedImage] = []
        findings: list[Finding] = []
        for img in images:
            fp = img.fingerprint
            if (
                self.settings.fast
                and fp is not None
                and fp.format == "JPEG"
                and (
                    self.consents.borderline(fp, BORDER_MARGIN)
                    or (self.references and self.references.borderline(fp, BORDER_MARGIN))
                )
            ):
                img = refingerprint_exact(items[img.path], img, self.settings)
                redone.append(img)
            probe = _probe(items.get(img.path), self.settings.max_pixels)
            findings.append(
                self.merger.finding(img, probe.phash256, probe.keypoints) if probe else self.merger.finding(img)
            )
        return redone, findings

    def __call__(self, unit: Sequence[Item]) -> tuple[list[ScannedImage], list[Finding]]:
        images = scan_unit(unit, self.settings)
        redone, findings = self.judge(images, {i.path: i for i in unit})
        exact = {img.path: img for img in redone}
        return [exact.get(img.path, img) for img in images], findings


def _merge(
    req: AuditRequest,
    store: ScanStore,
    scan_id: int,
    dataset_key: str,
    algo: str,
    items: dict[str, Item],
    work: UnitWork,
) -> tuple[str, list[list[str]], Summary]:
    def judge(batch: list[ScannedImage]) -> None:
        redone, findings = work.judge([img for img in batch if img.path in items], items)
        if redone:
            store.add_images(scan_id, dataset_key, redone, algo, cache=False)
        store.add_findings(scan_id, findings)

    batch: list[ScannedImage] = []
    for img in store.unjudged_images(scan_id):  # cached, unchanged and resumed images
        batch.append(img)
        if len(batch) >= 1000:
            judge(batch)
            batch = []
    judge(batch)
    light = [row for row in store.light_rows(scan_id) if row[0] in items]
    digest = merkle_root((p, sha) for p, sha, _, _ in light)
    groups = duplicate_groups(light, req.phash_threshold)
    del light
    for start in range(0, len(groups), 200):  # a few hundred groups at a time: memory stays flat
        chunk = groups[start : start + 200]
        members = store.get_findings(scan_id, [p for g in chunk for p in g])
        store.add_findings(scan_id, settle_groups(chunk, members, first=start + 1))
    builder = SummaryBuilder(req.fail_on)
    for f in store.iter_findings(scan_id):
        builder.add(f)
    return digest, groups, builder.build(len(groups))


def _unchanged(previous: dict[str, tuple[int, int]], items: dict[str, Item]) -> bool:
    if len(previous) != len(items):
        return False
    for path, item in items.items():
        if item.problem is not None or previous.get(path) != (item.size, item.mtime_ns):
            return False
    return True


def _map(
    req: AuditRequest,
    store: ScanStore,
    scan_id: int,
    dataset_key: str,
    algo: str,
    items: dict[str, Item],
    done: set[str],
    progress: ProgressCallback | None,
    work: UnitWork,
) -> None:
    cache = store.cache_states(dataset_key, algo)
    unchanged: list[str] = []
    fresh: list[Item] = []
    for path, item in items.items():
        if path in done:
            continue
        if item.problem is None and cache.get(path) == (item.size, item.mtime_ns):
            unchanged.append(path)
        else:
            fresh.append(item)
    del cache
    store.copy_cached(scan_id, dataset_key, algo, unchanged)
    finished = len(done) + len(unchanged)
    if progress:
        progress(Progress(finished, len(items), len(unchanged)))
    for unit, (results, findings) in map_units(_batches(fresh, req.batch_size), work, req.jobs):
        store.add_images(scan_id, dataset_key, results, algo)
        store.add_findings(scan_id, findings)
        finished += len(unit)
        if progress:
            progress(Progress(finished, len(items), len(unchanged), unit[-1].path))
