"""Run an audit: load manifests and references, scan the dataset in work units, merge, report.

The library entry point the CLI calls. It does I/O through sources and the store, never prints, and
reports progress through a callback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from consentaudit import __version__, c2pa_verify
from consentaudit.codec import report_to_dict, scanned_from_dict
from consentaudit.errors import InputError
from consentaudit.findings import build_findings, summarise
from consentaudit.fingerprint import ALGORITHM, DEFAULT_MAX_PIXELS
from consentaudit.item import Item
from consentaudit.manifest import load_records, parse_manifest
from consentaudit.matching import DEFAULT_PHASH_THRESHOLD, ConsentIndex, ReferenceIndex
from consentaudit.models import (
    ConsentRecord,
    ManifestInfo,
    ReferenceEntry,
    ReferenceInfo,
    Report,
    ReportHeader,
    ScannedImage,
    ScanOptions,
    Verdict,
)
from consentaudit.policy import CRAWL_PROTOCOLS, Rules
from consentaudit.references import entries_from_images, read_fingerprints
from consentaudit.scanner import ScanSettings, scan_unit
from consentaudit.sources import open_source
from consentaudit.store import ScanStore

DEFAULT_FAIL_ON = tuple(v for v in Verdict if v != Verdict.CONSENTED)
DEFAULT_BATCH = 64


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
    ai_generated: str = "flag"
    honour_crawl: Sequence[str] = CRAWL_PROTOCOLS
    keep_sensitive_metadata: bool = False
    verify_c2pa: bool = True
    trust_anchors: Path | None = None
    policy_file: str | None = None

    def settings(self) -> ScanSettings:
        anchors = None
        if self.trust_anchors is not None:
            try:
                anchors = self.trust_anchors.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read trust anchors {self.trust_anchors}: {exc}") from None
        return ScanSettings(self.max_image_pixels, self.keep_sensitive_metadata, self.verify_c2pa, anchors)

    def rules(self) -> Rules:
        return Rules(tuple(self.purposes), self.as_of, tuple(self.deny_domains), tuple(self.allow_domains),
                     self.ai_generated, tuple(self.honour_crawl))


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    infos = [ManifestInfo(str(p), _sha256_file(p), len(m.records)) for p, m in zip(paths, parsed, strict=True)]
    return records, infos


def load_reference(path: Path, settings: ScanSettings = ScanSettings()
                   ) -> tuple[ReferenceInfo, list[ReferenceEntry]]:
    """A reference set from a folder of images or a fingerprint file written by `fingerprint`."""
    if path.is_dir():
        images = scan_unit(list(open_source(path).items()), settings)
        entries = list(entries_from_images(path.name, images))
        return ReferenceInfo(path.name, str(path), len(entries)), entries
    if path.is_file():
        name, entries = read_fingerprints(path)
        return ReferenceInfo(name, str(path), len(entries)), entries
    raise InputError(f"reference set not found: {path}")


def fingerprint_folder(path: Path, settings: ScanSettings = ScanSettings(),
                       progress: ProgressCallback | None = None) -> list[ScannedImage]:
    """Scan a folder without judging it (for `fingerprint` and `manifest init`)."""
    items = list(open_source(path).items())
    out: list[ScannedImage] = []
    for batch in _batches(items, DEFAULT_BATCH):
        out.extend(scan_unit(batch, settings))
        if progress:
            progress(Progress(len(out), len(items), 0, batch[-1].path))
    return out


def _batches(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _run_key(req: AuditRequest, dataset: str, manifests: Sequence[ManifestInfo],
             references: Sequence[ReferenceInfo], ref_digests: Sequence[str]) -> str:
    key = {
        "dataset": dataset, "algorithm": ALGORITHM, "purposes": list(req.purposes), "as_of": str(req.as_of),
        "threshold": req.phash_threshold, "max_pixels": req.max_image_pixels,
        "sensitive": req.keep_sensitive_metadata, "verify_c2pa": req.verify_c2pa,
        "trust_anchors": str(req.trust_anchors) if req.trust_anchors else None,
        "manifests": [m.sha256 for m in manifests], "references": list(ref_digests),
        "reference_names": [r.name for r in references],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def run_audit(req: AuditRequest, store: ScanStore, progress: ProgressCallback | None = None) -> Report:
    started = now_utc()
    settings = req.settings()
    rules = req.rules()
    records, manifest_infos = load_manifests(req.manifests)
    ref_infos: list[ReferenceInfo] = []
    ref_entries: list[ReferenceEntry] = []
    for rp in req.references:
        info, entries = load_reference(rp, settings)
        ref_infos.append(info)
        ref_entries.extend(entries)
    ref_digests = [hashlib.sha256(json.dumps([(e.sha256, e.phash, e.dhash) for e in ref_entries]).encode())
                   .hexdigest()]

    source = open_source(req.dataset)
    dataset_key = str(source.root)
    items = list(source.items())
    run_key = _run_key(req, dataset_key, manifest_infos, ref_infos, ref_digests)
    scan_id, done = store.begin_scan(dataset_key, run_key, started)
    cache = store.cached(dataset_key, ALGORITHM)

    todo = [i for i in items if i.path not in done]
    finished = len(items) - len(todo)
    reused = 0
    if progress:
        progress(Progress(finished, len(items), reused))
    for batch in _batches(todo, req.batch_size):
        results: list[ScannedImage] = []
        fresh: list[Item] = []
        for item in batch:
            hit = cache.get(item.path) if item.problem is None else None
            if hit is not None and hit[0] == item.size and hit[1] == item.mtime_ns:
                results.append(scanned_from_dict(json.loads(hit[2])))
                reused += 1
            else:
                fresh.append(item)
        results.extend(scan_unit(fresh, settings))
        store.add_images(scan_id, dataset_key, results, ALGORITHM)
        finished += len(batch)
        if progress:
            progress(Progress(finished, len(items), reused, batch[-1].path))

    present = {i.path for i in items}
    images = [img for img in store.scan_images(scan_id) if img.path in present]
    consents = ConsentIndex(records, req.phash_threshold)
    references = ReferenceIndex(ref_entries, req.phash_threshold) if ref_entries else None
    findings, groups = build_findings(images, consents, references, rules)
    fail_on = tuple(req.fail_on)
    summary = summarise(findings, fail_on, len(groups))
    errors = []
    if source.skipped:
        errors.append(f"{source.skipped} non-image files skipped")
    if req.policy_file:
        errors.append(f"policy file: {req.policy_file}")
    if req.verify_c2pa and not c2pa_verify.available():
        errors.append("C2PA manifests read without validation (install consentaudit[c2pa] to validate)")
    header = ReportHeader(
        tool="consentaudit", tool_version=__version__, fingerprint_algorithm=ALGORITHM,
        dataset=str(req.dataset),
        options=ScanOptions(purposes=tuple(req.purposes), as_of=req.as_of, phash_threshold=req.phash_threshold,
                            fail_on=fail_on, max_image_pixels=req.max_image_pixels),
        manifests=tuple(manifest_infos), references=tuple(ref_infos),
        started_at=started, finished_at=now_utc(), scan_id=scan_id, errors=tuple(errors),
    )
    report = Report(header, summary, tuple(findings), tuple(tuple(g) for g in groups))
    store.finish_scan(scan_id, report, report_to_dict(report))
    return report
