"""The typed values consentaudit reasons about. Pure: no I/O, no third-party imports."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date

from consentaudit.vocab import ConsentStatus, MatchKind, SignalProtocol, Verdict


@dataclass(frozen=True)
class Fingerprint:
    """What identifies an image: the bytes (sha256) and the picture (64-bit perceptual hashes as hex)."""

    sha256: str
    phash: str | None = None
    dhash: str | None = None
    phash_mirror: str | None = None
    phash_trim: str | None = None  # pHash after trimming a uniform border (only when the image has one)
    phash256: str | None = None  # imagehash phash(hash_size=16), 64 hex: confirms wide candidates
    # centre crops of the picture as (name, pHash, 256-bit pHash), e.g. ("c90", ...): reference images only
    views: tuple[tuple[str, str, str], ...] = ()
    detail: int | None = None  # 0-100, how much of the picture carries detail (thumbnails.detail_of)
    keypoints: str | None = None  # ORB keypoints (keypoints.Keypoints.encode): reference images only
    width: int | None = None
    height: int | None = None
    format: str | None = None
    exact: bool = False  # the 64-bit hashes are imagehash-exact (full decode): never re-hashed
    # codes a probe computed once a candidate needed them ("phash256:<variant>" -> hex, "keypoints:<side>" ->
    # base64), kept with the image so that judging it again decodes nothing
    probed: tuple[tuple[str, str], ...] = ()
    # EXIF Orientation 2-8 (how a viewer turns the stored pixels) and the pHash of the picture so turned: a
    # phone photo and a copy saved upright (tag applied, as most editors and web pipelines do) match
    orientation: int | None = None
    phash_upright: str | None = None


# What the duplicate grouping reads of each image: (path, sha256, phash, phash_mirror, phash_upright)
LightRow = tuple[str, str | None, str | None, str | None, str | None]
# What the fingerprint cache compares to tell an entry unchanged: (size, mtime_ns, sidecars) — `Item.cache_state`
CacheState = tuple[int, int, str | None]


@dataclass(frozen=True)
class Signal:
    """A machine-readable statement about the image's rights found in or next to the file."""

    protocol: SignalProtocol
    value: str  # normalised token, e.g. "DMI-PROHIBITED-AIMLTRAINING"
    source: str  # where it was read, e.g. "XMP plus:DataMining"
    prohibits: tuple[str, ...] = ()  # purposes this signal prohibits
    verification: str = "unverified"  # how far the statement can be trusted
    raw: str | None = None


@dataclass(frozen=True)
class ScannedImage:
    """One file of the dataset after the fingerprinting pass (the 'map' output of a work unit)."""

    path: str  # relative POSIX path inside the dataset (archive members: "shard.tar/member")
    size: int
    mtime_ns: int
    fingerprint: Fingerprint | None  # None when the file could not be read as an image
    error: str | None = None  # why the file is unreadable (kept even when sha256 is known)
    sha256: str | None = None  # bytes digest, present whenever the bytes could be read
    signals: tuple[Signal, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()  # (name, value) pairs safe to report
    notes: tuple[str, ...] = ()  # non-fatal problems (e.g. broken EXIF)
    sidecars: str | None = None  # `Item.sidecars` of the entry it was scanned from (the cache keeps it)

    @property
    def digest(self) -> str | None:
        return self.fingerprint.sha256 if self.fingerprint else self.sha256


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a manifest record was read from."""

    file: str
    line: int


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    record_id: str
    status: ConsentStatus
    sha256: str | None = None
    phash: str | None = None
    path: str | None = None
    subject_ids: tuple[str, ...] = ()
    phash256: str | None = None  # imagehash phash(hash_size=16): lets the 256-bit rule decide (docs/matching.md)
    purposes: frozenset[str] = frozenset()
    granted_at: date | None = None
    expires_at: date | None = None
    revoked_at: date | None = None
    license: str | None = None
    source: str | None = None
    source_url: str | None = None
    evidence: str | None = None
    controller: str | None = None
    notice_version: str | None = None
    mechanism: str | None = None
    explicit_biometric: bool | None = None
    guardian: str | None = None
    origin: SourceRef | None = None
    # the pHash of the recorded picture as shown, when its file has an EXIF Orientation tag (`manifest init`
    # writes it): a copy saved upright, or one keeping the stored pixels without the tag, is covered either way
    phash_upright: str | None = None


@dataclass(frozen=True)
class Match:
    """How an image was tied to a consent record or a reference entry."""

    record_id: str
    kind: MatchKind
    distance: int | None = None  # Hamming distance for perceptual matches
    hash: str | None = None  # which hash matched ("phash", "phash_mirror")


@dataclass(frozen=True)
class ReferenceEntry:
    """One image of a known scraped collection."""

    set_name: str
    ref_id: str  # path or URL of the original inside the reference set
    sha256: str | None
    phash: str | None
    dhash: str | None = None
    url: str | None = None  # a URL-list entry: matches an image whose recorded source URL is this one
    phash256: str | None = None
    detail: int | None = None  # thumbnails.detail_of of the original: too little detail, no perceptual match
    views: tuple[tuple[str, str, str], ...] = ()  # centre crops as (name, pHash, 256-bit pHash): finds crops
    keypoints: str | None = None  # ORB keypoints of the original (keypoints.Keypoints.encode): confirm copies


@dataclass(frozen=True)
class Reason:
    verdict: Verdict
    detail: str


@dataclass(frozen=True)
class Finding:
    path: str
    sha256: str | None
    phash: str | None
    dhash: str | None
    size: int
    verdict: Verdict
    reasons: tuple[Reason, ...]
    match: Match | None = None
    reference: Match | None = None
    signals: tuple[Signal, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    duplicate_group: int | None = None


@dataclass(frozen=True)
class ManifestInfo:
    path: str
    sha256: str
    records: int


@dataclass(frozen=True)
class ReferenceInfo:
    name: str
    path: str
    entries: int
    description: str = ""
    license: str = ""
    sha256: str = ""  # digest.entries_digest of the set's fingerprints: what a spot-check compares


@dataclass(frozen=True)
class ScanOptions:
    purposes: tuple[str, ...]
    as_of: date
    phash_threshold: int
    fail_on: tuple[Verdict, ...]
    max_image_pixels: int


@dataclass(frozen=True)
class ReportHeader:
    tool: str
    tool_version: str
    fingerprint_algorithm: str
    dataset: str
    options: ScanOptions
    manifests: tuple[ManifestInfo, ...]
    references: tuple[ReferenceInfo, ...]
    started_at: str
    finished_at: str
    scan_id: int | None = None
    errors: tuple[str, ...] = ()
    dataset_digest: str | None = None  # Merkle root over the sorted (path, sha256) of every image
    executor: str = "local"  # what ran the map step: "local (2 processes)", "ray (local Ray, 2 CPUs)"


@dataclass(frozen=True)
class DomainCount:
    domain: str
    images: int
    bytes: int


OPT_OUT_COUNTS = ("images", "prohibited", "allowed", "unspecified", "invalid")  # a protocol's row of a summary


@dataclass(frozen=True)
class Summary:
    images: int
    verdicts: dict[str, int]
    failing: int
    duplicate_groups: int
    bytes: int
    # protocol -> {OPT_OUT_COUNTS}
    opt_outs: dict[str, dict[str, int]] = field(default_factory=dict)
    domains: tuple[DomainCount, ...] = ()
    ai_generated: int = 0
    # protocol -> crawl records (img2dataset parquet rows) whose download the crawler refused for it
    crawl_refusals: dict[str, int] = field(default_factory=dict)

    def compliance(self) -> list[tuple[str, dict[str, int], int]]:
        """The opt-out compliance table's rows: (protocol, its OPT_OUT_COUNTS, downloads refused at crawl
        time), every protocol checked, then any only the crawl records name."""
        protocols = [*self.opt_outs, *(p for p in self.crawl_refusals if p not in self.opt_outs)]
        return [(p, self.opt_outs.get(p, {}), self.crawl_refusals.get(p, 0)) for p in protocols]


@dataclass(frozen=True)
class DataFileDigest:
    """A dataset file that is not an audited image (sidecar, shard, crawl parquet, other file), bound into
    the dataset digest by its sha256."""

    path: str
    sha256: str | None  # None: it could not be read
    size: int


@dataclass(frozen=True)
class Report:
    header: ReportHeader
    summary: Summary
    findings: Collection[Finding]  # sorted by path; a stored scan streams them from the store
    duplicates: tuple[tuple[str, ...], ...] = field(default=())
    schema_version: str = "1"
    files: tuple[DataFileDigest, ...] = ()  # every other file of the dataset, sorted by path
    thumbnails: Mapping[str, str] = field(default_factory=dict)  # path -> data: URI, for the HTML report only


@dataclass(frozen=True)
class ReportFile:
    """The delivered report an export points to: its file name and the sha256 of its bytes, and the key id
    of the detached signature found beside it (REPORT.sig), if any."""

    name: str
    sha256: str
    signed_by: str | None = None
    signature_sha256: str | None = None
