"""`explain PATH`: why one image got its verdict. The image is read and fingerprinted again and judged with
the report's recorded settings (as spot-check does for a sample), and everything that was considered is
listed: each consent record that names its bytes or path or lies within reach of its pHash (with the
distances and what the record says for the audited purposes and date), the nearest records when none
covers it, the reference entries it matched or came near, every embedded or crawl-time signal, and the
reasons in the order that decided the verdict (the most severe wins). The image's recorded near-duplicates
are read and judged with it, so a revocation that spreads to it from a copy is re-derived too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from consentaudit.errors import InputError
from consentaudit.inputs import load_inputs
from consentaudit.mapper import UnitMapper
from consentaudit.matching.hamming import distance, parse_hex64
from consentaudit.matching.reference_index import normalise_url
from consentaudit.matching.reference_table import ReferenceTable
from consentaudit.merge import settle_images
from consentaudit.models import ConsentRecord, Finding, Fingerprint, Report, ScannedImage, Signal
from consentaudit.policy_file import load_policy
from consentaudit.signals.provenance import domain_of, parse_crawl_json
from consentaudit.sources import open_source
from consentaudit.sources.item import display_name
from consentaudit.spotcheck import replay_request
from consentaudit.store import ScanStore
from consentaudit.verdicts import evaluate_record
from consentaudit.vocab import REBUILT_JPEG, REBUILT_JPEG_SHA256

NEAREST = 5  # records / reference entries listed when nothing covers the image
REACH = 16  # bits: records and entries this close are listed as considered, matched or not


@dataclass(frozen=True)
class Candidate:
    """A record or reference entry set against the image: how it relates and what it says."""

    id: str
    how: str  # sha256 | path | url | domain | phash d=N | none
    distance: int | None  # best pHash distance (plain or mirrored), None without a pHash on both sides
    within: bool  # inside the match threshold (or tied by bytes, path, URL)
    says: tuple[str, ...] = ()  # for a record: what it says for the audited purposes and date


@dataclass(frozen=True)
class Explanation:
    path: str
    dataset: str
    threshold: int
    purposes: tuple[str, ...]
    as_of: str
    claimed: Finding | None  # what the report says (None: the report has no such image)
    derived: Finding
    fingerprint: Fingerprint | None
    bytes_match: bool | None  # whether the file's bytes are those the report recorded
    records: tuple[Candidate, ...]
    nearest: tuple[Candidate, ...]  # the closest records when none covers the image
    references: tuple[Candidate, ...]
    signals: tuple[Signal, ...]
    duplicates: tuple[str, ...] = ()  # the image's duplicate group in the report (a revocation spreads)
    warnings: tuple[str, ...] = field(default=())


def _codes(fp: Fingerprint | None) -> list[int]:
    if fp is None:
        return []
    return [parse_hex64(c) for c in (fp.phash, fp.phash_mirror, fp.phash_trim, fp.phash_upright) if c]


def _best(codes: Sequence[int], other: str | None) -> int | None:
    if not codes or not other:
        return None
    code = parse_hex64(other)
    return min(distance(c, code) for c in codes)


def _record_candidates(
    img: ScannedImage, records: Sequence[ConsentRecord], purposes: Sequence[str], as_of: date, threshold: int
) -> list[Candidate]:
    codes = _codes(img.fingerprint)
    rebuilt = dict(img.metadata).get(REBUILT_JPEG_SHA256)
    out: list[Candidate] = []
    for r in records:
        found = [d for d in (_best(codes, r.phash), _best(codes, r.phash_upright)) if d is not None]
        d = min(found) if found else None
        if img.digest and r.sha256 == img.digest:
            how = "sha256"
        elif rebuilt and r.sha256 == rebuilt:
            how = f"sha256 ({REBUILT_JPEG})"
        elif r.path and r.path == img.path:
            how = "path"
        elif d is not None:
            how = f"phash d={d}"
        else:
            how = "none"
        within = how.startswith("sha256") or how == "path" or (d is not None and d <= threshold)
        problems = evaluate_record(r, purposes, as_of)
        says = tuple(p.detail for p in problems) or (f"record {r.record_id}: grants {', '.join(purposes)}",)
        out.append(Candidate(r.record_id, how, d, within, says))
    return out


def _reference_candidates(
    img: ScannedImage, table: ReferenceTable, url: str | None, crawl_sha256: str | None = None
) -> list[Candidate]:
    """The entries that name the image's source URL or domain, its bytes or the bytes its crawl record says
    were downloaded, and those whose pHash (or a view's) lies within REACH of one of its codes, in entry
    order. Read from the columns: a million-entry set costs one vectorised distance pass, not an object per
    entry."""
    domain = (domain_of(url) or "").lower().removeprefix("www.") if url else None
    found: dict[int, Candidate] = {}

    def ref(i: int) -> str:
        e = table[i]
        return f"{e.set_name}:{e.ref_id}"

    listed_urls = set()
    for i, entry_url in table.url_rows():  # a URL-list entry is about the source, never the picture
        listed_urls.add(i)
        listed = entry_url.lower().removeprefix("www.")
        if url and "/" in entry_url and normalise_url(entry_url) == normalise_url(url):
            found[i] = Candidate(ref(i), "url", None, True)
        elif domain and "/" not in entry_url and (domain == listed or domain.endswith("." + listed)):
            found[i] = Candidate(ref(i), "domain", None, True)
    if crawl_sha256 and crawl_sha256 != img.digest:
        for i in table.sha256_rows(crawl_sha256):
            found[i] = Candidate(ref(i), "crawl sha256", None, True)
    rebuilt = dict(img.metadata).get(REBUILT_JPEG_SHA256)
    for i in table.sha256_rows(rebuilt) if rebuilt else ():
        found[i] = Candidate(ref(i), f"sha256 ({REBUILT_JPEG})", 0, True)
    same = {i for i in table.sha256_rows(img.digest) if i not in listed_urls} if img.digest else set()
    for i in same:
        found[i] = Candidate(ref(i), "sha256", 0, True)
    dist = table.phash_distances(_codes(img.fingerprint))
    for i in np.flatnonzero((dist >= 0) & (dist <= REACH)).tolist():
        if i not in listed_urls and i not in found:  # not already a URL, sha256 or crawl-sha256 candidate
            found[i] = Candidate(ref(i), f"phash d={dist[i]}", int(dist[i]), False)
    return [found[i] for i in sorted(found)]


def explain(
    path: str,
    report: Report,
    store: ScanStore,
    manifests: Sequence[Path] = (),
    references: Sequence[Path] = (),
    policy: Path | None = None,
    dataset: Path | None = None,
) -> Explanation:
    """Re-derive one image's verdict with the report's settings and list what was considered."""
    h = report.header
    root = dataset or Path(h.dataset)
    warnings: list[str] = []
    if not manifests:
        manifests = [Path(m.path) for m in h.manifests if Path(m.path).is_file()]
        missing = [m.path for m in h.manifests if not Path(m.path).is_file()]
        if missing:
            warnings.append(f"manifest(s) the report used not found: {', '.join(missing)} (give --manifest)")
    if not references:
        references = [Path(r.path.removeprefix("store:")) for r in h.references]
    req = replay_request(report, root, load_policy(policy, Path.cwd()), manifests, references)
    inputs = load_inputs(req, req.settings(), store)
    recorded = {m.sha256 for m in h.manifests}
    for m in inputs.manifests:
        if m.sha256 not in recorded:
            warnings.append(f"manifest {m.path} is not one the report used (sha256 {m.sha256[:16]}…)")
    rel = _relative(path, root)
    group = next((g for g in report.duplicates if rel in g), ())
    wanted = {rel, *group}
    items = {i.path: i for i in open_source(root).items() if i.path in wanted}
    item = items.get(rel)
    if item is None:
        raise InputError(f"{path}: no such image in {root}")
    mapper = UnitMapper(req.settings(), req.rules(), inputs.records, inputs.entries, req.phash_threshold)
    result = mapper([items[p] for p in sorted(items)])  # with its recorded near-duplicates: a revocation spreads
    found = {f.path: f for f in result.findings}
    img = next(i for i in result.images if i.path == rel)
    settle_images(result.images, found, req.phash_threshold)
    derived = replace(found[rel], duplicate_group=None)
    claimed = next((f for f in report.findings if f.path == rel), None)
    crawl = parse_crawl_json(item.crawl_json) if item.crawl_json else None
    records = _record_candidates(img, inputs.records, req.purposes, req.as_of, req.phash_threshold)
    considered = [c for c in records if c.within or (c.distance is not None and c.distance <= REACH)]
    nearest = (
        []
        if any(c.within for c in records)
        else sorted((c for c in records if c.distance is not None), key=lambda c: c.distance or 0)[:NEAREST]
    )
    refs = _reference_candidates(img, inputs.entries, crawl.url if crawl else None, crawl.sha256 if crawl else None)
    chosen = derived.reference.record_id if derived.reference else None
    refs = [Candidate(c.id, c.how, c.distance, c.within or c.id == chosen, c.says) for c in refs]
    shown = sorted(
        (c for c in refs if c.within or (c.distance is not None and c.distance <= REACH)),
        key=lambda c: (not c.within, c.distance if c.distance is not None else -1),
    )[: NEAREST * 4]
    return Explanation(
        path=rel,
        dataset=str(root),
        threshold=req.phash_threshold,
        purposes=tuple(req.purposes),
        as_of=str(req.as_of),
        claimed=claimed,
        derived=derived,
        fingerprint=img.fingerprint,
        bytes_match=None if claimed is None else claimed.sha256 == derived.sha256,
        records=tuple(sorted(considered, key=lambda c: (not c.within, c.distance if c.distance is not None else -1))),
        nearest=tuple(nearest),
        references=tuple(shown),
        signals=img.signals,
        duplicates=tuple(p for p in group if p != rel),
        warnings=tuple(warnings),
    )


def _relative(path: str, root: Path) -> str:
    """PATH as the report names it: a report path already, or a file path inside the dataset."""
    p = Path(path)
    if p.exists():
        try:
            rel = p.resolve().relative_to(root.resolve())
        except ValueError:
            raise InputError(f"{path} is not inside the dataset {root}") from None
        return "/".join(display_name(part) for part in rel.parts)  # as the listing shows each name
    return path
