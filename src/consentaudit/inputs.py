"""What a scan reads besides the dataset: consent manifests and reference sets, each read in one place.

`_open_manifest` is the only code that opens a manifest file (`read_manifest` for scan, `manifest validate`
and the other manifest commands, and the hash that looks a manifest up in the manifest cache), so every
command reports the same errors the same way.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from consentaudit import manifest_cache, strict_json
from consentaudit.codec import report_from_dict
from consentaudit.digest import sha256_file, sha256_hex, sha256_stream
from consentaudit.errors import InputError
from consentaudit.fingerprint import algorithm
from consentaudit.manifest import ParsedManifest, load_records, parse_manifest_stream
from consentaudit.mapper import fingerprint_items
from consentaudit.matching.reference_table import ReferenceTable, concat, table_of
from consentaudit.models import (
    ConsentRecord,
    ManifestInfo,
    ReferenceInfo,
    Report,
    ReportFile,
    ScannedImage,
)
from consentaudit.reference_cache import read_cached_fingerprint_file
from consentaudit.reference_files import entries_from_images, read_url_list
from consentaudit.report_shape import shape_problem
from consentaudit.request import AuditRequest
from consentaudit.scanner import ScanSettings
from consentaudit.sources import is_image_source, open_source
from consentaudit.text_files import not_utf8_at
from consentaudit.vocab import unknown_purposes

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported only by what uses it: a spot-check never does
    from consentaudit.store import ScanStore, StoredKeypoints


def _open_manifest(path: Path) -> BinaryIO:
    """A manifest file opened for reading; only regular files (a folder, a device or a pipe is an input
    error, never read forever)."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a manifest file (.csv, .jsonl or .json)")
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"manifest not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise InputError(f"{path}: not a regular file (a manifest is a .csv, .jsonl or .json file)")
    return f


class _Hashing(io.RawIOBase):
    """A binary file read through, hashing every byte that passes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.hash = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.hash.update(memoryview(buffer)[:n])
        return int(n)


def read_manifest(path: Path, keep_records: bool = True, keep_rows: bool = False) -> ParsedManifest:
    """One manifest file, parsed as a stream; problems inside it are returned with the result, not raised."""
    return _read_manifest(path, keep_records, keep_rows)[0]


def _read_manifest(path: Path, keep_records: bool = True, keep_rows: bool = False) -> tuple[ParsedManifest, str]:
    """(the parsed manifest, the sha256 of exactly the bytes it was parsed from)."""
    with _open_manifest(path) as f:
        hashing = _Hashing(f)
        text = io.TextIOWrapper(io.BufferedReader(hashing), encoding="utf-8-sig", errors="strict", newline="")
        try:
            parsed = parse_manifest_stream(str(path), text, keep_records=keep_records, keep_rows=keep_rows)
            while hashing.read(1 << 16):  # the rest of the file, had the parser stopped early
                pass
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text at {not_utf8_at(path)}") from None
        except OSError as exc:
            raise InputError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
        return parsed, hashing.hash.hexdigest()


def _manifest_digest(path: Path) -> str:
    with _open_manifest(path) as f:
        try:
            return sha256_stream(f)
        except OSError as exc:
            raise InputError(f"cannot read manifest {path}: {exc.strerror or exc}") from None


def read_report_and_digest(path: Path) -> tuple[Report, str]:
    """A received JSON report (audit.json), read strictly (one meaning only, or an input error), and the
    sha256 of its bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read report {path}: {exc}") from None
    return report_from_bytes(raw, str(path)), sha256_hex(raw)


def report_from_bytes(raw: bytes, where: str) -> Report:
    """A JSON report's bytes as a Report, read strictly."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read report {where}: {exc}") from None
    from consentaudit.attest import parse_report  # attest's cryptography only for the commands that read reports

    doc = parse_report(text, where)
    problem = shape_problem(doc)
    if problem:
        raise InputError(f"{where}: not a consentaudit report this version reads: {problem}")
    try:
        return report_from_dict(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{where}: not a consentaudit report this version reads ({type(exc).__name__}: {exc})"
        ) from None


def read_report(path: Path) -> Report:
    return read_report_and_digest(path)[0]


def open_report(ref: str, store: Callable[[], ScanStore]) -> Report:
    """A report named by a file (a received audit.json), a `scan --out` folder, or the id of a scan in the
    store."""
    path = Path(ref)
    if path.is_file():
        return read_report(path)
    from consentaudit.findings_out import is_findings_dir, read_findings_dir

    if is_findings_dir(ref):  # a `scan --out` folder: its summary and a sample of its findings
        return read_findings_dir(ref)
    if ref.isdigit():
        return store().load_report(int(ref))
    raise InputError(f"{ref}: neither a report file nor a scan id (see `consentaudit scans`)")


def open_delivered_report(ref: str, store: Callable[[], ScanStore]) -> tuple[Report, ReportFile]:
    """A report (file or stored scan id) and what identifies the delivered file: for a file, the sha256 of
    its bytes and its signature (REPORT.sig beside it); for a stored scan, the bytes `consentaudit report ID
    -o scan-ID.json` writes."""
    path = Path(ref)
    if path.is_file():
        report, digest = read_report_and_digest(path)
        sig_path = path.with_name(path.name + ".sig")
        if sig_path.is_file():
            from consentaudit.attest import read_signature

            sig = read_signature(sig_path)
            return report, ReportFile(path.name, digest, sig["key_id"], sha256_file(sig_path))
        return report, ReportFile(path.name, digest)
    report = open_report(ref, store)
    from consentaudit.reports.jsonreport import canonical_json

    return report, ReportFile(f"scan-{ref}.json", sha256_hex(canonical_json(report).encode("utf-8")))


def read_json_document(path: Path) -> dict[str, Any]:
    """A JSON object from a file the user gives (a Croissant file to merge into), read strictly."""
    try:
        obj = strict_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    except strict_json.StrictJsonError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a JSON object")
    return obj


def load_manifests(paths: Sequence[Path]) -> tuple[list[ConsentRecord], list[ManifestInfo]]:
    """Parse and validate every manifest; raise ManifestError listing all problems of all files. A manifest
    whose bytes parsed without problems before comes from the manifest cache (keyed by their sha256)."""
    parsed: list[ParsedManifest] = []
    infos: list[ManifestInfo] = []
    for p in paths:
        digest = _manifest_digest(p)
        m = manifest_cache.load(digest, str(p))
        if m is None:
            m, digest = _read_manifest(p)
            manifest_cache.save(digest, m)
        parsed.append(m)
        infos.append(ManifestInfo(str(p), digest, len(m.records)))
    return load_records(parsed), infos


REFERENCE = ScanSettings(fast=False, with256=True)  # reference entries: also 256-bit pHash, views, keypoints


def reference_images(
    path: Path, settings: ScanSettings, store: ScanStore | None = None, jobs: int = 1, rehash: bool = False
) -> list[ScannedImage]:
    """The fingerprints of a reference folder or archive, on `jobs` local processes; with a store, from its
    fingerprint cache for every file whose size and mtime are unchanged (a reference folder is fingerprinted
    once, not on every scan) unless `rehash`, and cached there."""
    source = open_source(path)
    items = list(source.items())
    if store is None:
        return fingerprint_items(items, settings, jobs=jobs)
    key = f"reference:{source.root / path.name if path.is_file() else source.root}"
    algo = settings.cache_key(f"{algorithm(False)};reference(256,views,orb)")
    states = {} if rehash else store.cache_states(key, algo)
    fresh = [i for i in items if i.problem is not None or states.get(i.path) != i.cache_state]
    seen = {i.path for i in fresh}
    cached = store.cached_images(key, algo, [i.path for i in items if i.path not in seen])
    scanned = fingerprint_items(fresh, settings, jobs=jobs)
    store.cache_images(key, scanned, algo)
    return sorted(cached + scanned, key=lambda img: img.path)


def load_reference(
    path: Path,
    settings: ScanSettings = REFERENCE,
    store: ScanStore | None = None,
    jobs: int = 1,
    rehash: bool = False,
    warn: Callable[[str], None] | None = None,
) -> tuple[ReferenceInfo, ReferenceTable]:
    """A reference set from a folder, shard or Parquet file of images (fingerprinted on `jobs` processes, with
    the source URLs their crawl records give), a URL list or a fingerprint file written by `fingerprint` (read
    through the reference cache: a file parsed once loads as columns afterwards). `warn` hears of the files of
    a folder, shard or Parquet file that could not be read: they are not in the set."""
    if is_image_source(path):
        name = path.name
        images = reference_images(path, settings, store, jobs, rehash)
        unreadable = [img for img in images if img.fingerprint is None]
        if unreadable and warn is not None:
            first = unreadable[0]
            why = " ".join((first.error or "unreadable").split())[:300]  # pyarrow's messages run over lines
            n = len(unreadable)
            warn(f"reference {path}: {n} file(s) unreadable, not in the set (the first: {first.path}: {why})")
        table = table_of(entries_from_images(name, images))
        return ReferenceInfo(name, str(path), len(table)), table
    if path.is_file() and path.suffix.lower() in (".txt", ".csv", ".parquet"):
        table = table_of(read_url_list(path, path.stem))
        return ReferenceInfo(path.stem, str(path), len(table)), table
    if path.is_file():
        name, table, header, _ = read_cached_fingerprint_file(path)
        return ReferenceInfo(
            name, str(path), len(table), header.get("description", ""), header.get("license", "")
        ), table
    raise InputError(f"reference set not found: {path} is neither a file nor a folder")


def with_digest(info: ReferenceInfo, entries: ReferenceTable) -> ReferenceInfo:
    """The set's description with the digest of its fingerprints, as the report header records it."""
    return replace(info, sha256=entries.entries_digest())


@dataclass(frozen=True)
class Inputs:
    records: list[ConsentRecord]
    manifests: list[ManifestInfo]
    references: list[ReferenceInfo]
    entries: ReferenceTable  # every set's entries, as columns
    keypoints_of: StoredKeypoints | None  # stored sets leave their entries' keypoints in the store
    warnings: list[str] = field(default_factory=list)  # for the report: reference files that could not be read


def check_purposes(req: AuditRequest, records: Sequence[ConsentRecord]) -> None:
    """Every requested purpose must be known, declared by the policy file or used by a manifest record: a
    typo would otherwise switch the opt-outs for the intended purpose off without a word."""
    used = {p for r in records for p in r.purposes}
    unknown = unknown_purposes(req.purposes, [*req.declared_purposes, *used])
    if unknown:
        p, near = unknown[0]
        hint = f" (did you mean {near!r}?)" if near else ""
        raise InputError(
            f"--purpose: unknown purpose {p!r}{hint}; `consentaudit purposes` lists the known ones, and a policy "
            "file may declare more (declare_purposes)"
        )


def needs_store(req: AuditRequest) -> bool:
    """Whether loading the request's inputs uses the store: a reference that is not a file may be a stored
    set's name, and a reference folder, archive or Parquet file of images keeps its fingerprints in the store's
    cache. Manifests, URL lists and fingerprint files do not."""
    return any(not rp.is_file() or is_image_source(rp) for rp in req.references)


def load_inputs(req: AuditRequest, settings: ScanSettings, store: ScanStore | None) -> Inputs:
    """The manifests and reference sets a scan checks against. `store` may be None only where
    `needs_store(req)` is False."""
    records, manifest_infos = load_manifests(req.manifests)
    check_purposes(req, records)
    ref_infos: list[ReferenceInfo] = []
    ref_tables: list[ReferenceTable] = []
    stored: list[str] = []
    warnings: list[str] = []
    exact = replace(settings, fast=False, with256=True)  # reference hashes: imagehash-exact, with 256-bit
    for rp in req.references:
        if not rp.exists():
            if store is None:
                raise ValueError(f"load_inputs: {rp} may be a stored set, and no store was given")
            from consentaudit.store import ReferenceSets

            sets = ReferenceSets(store)
            if not sets.exists(str(rp)):
                raise InputError(
                    f"reference set not found: {rp} is neither a file, a folder nor a set stored in {store.describe()}"
                )
            info, entries = sets.load_table(str(rp))
            stored.append(info.name)
        else:
            info, entries = load_reference(rp, exact, store, req.jobs, req.rehash, warnings.append)  # local pool
        ref_infos.append(with_digest(info, entries))
        ref_tables.append(entries)
    keypoints = None
    if stored:
        from consentaudit.store import StoredKeypoints

        assert store is not None
        keypoints = StoredKeypoints(store.url, stored)
    return Inputs(records, manifest_infos, ref_infos, concat(ref_tables), keypoints, warnings)
