"""A certification bundle: one folder or zip a vendor hands over, with the report, its HTML and Markdown
renderings, the standard exports, the digests of the inputs, the tool version, and one Ed25519 signature
over an index of every file's sha256 — and the check a regulator runs on it (`verify BUNDLE`).

The bundle is flat: `BUNDLE.json` (the index), `BUNDLE.json.sig` (the signature over the index's canonical
JSON) and the files the index lists. Nothing else may be in it: an extra, missing or changed file, a
member name that climbs out, or an export that does not follow from the bundled report fails the check.
Manifests are never copied in (they hold personal data); only their sha256, as the report records them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentaudit import __version__, attest
from consentaudit.digest import sha256_file, sha256_hex
from consentaudit.errors import InputError, OutputError
from consentaudit.inputs import report_from_bytes
from consentaudit.models import Report, ReportFile
from consentaudit.reports import WRITERS
from consentaudit.reports.exports import EXPORTS, render_export
from consentaudit.sources.archive_reader import ARCHIVE_ERRORS
from consentaudit.sources.archives import unsafe_name
from consentaudit.timestamps import now_utc

BUNDLE_FORMAT = "consentaudit-bundle/1"
INDEX = "BUNDLE.json"
SIGNATURE = INDEX + ".sig"
REPORT = "audit.json"
INPUTS = "inputs.json"
EXPORT_FILES = {name: f"{name}.{ext}" for name, (ext, _) in EXPORTS.items()}
MAX_MEMBER_BYTES = 8 << 30
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same bundle twice gives the same zip


@dataclass(frozen=True)
class CertifyRequest:
    report: Path
    key: Path
    out: Path  # a folder (created, must be empty) or a .zip file
    passphrase: bytes | None = None
    manifests: tuple[Path, ...] = ()  # checked against the digests the report records
    references: tuple[Path, ...] = ()  # fingerprint files / folders: their sha256 recorded
    thumbnails: Report | None = None  # the report with thumbnails, when the HTML should carry them


@dataclass
class BundleCheck:
    index: dict[str, Any] = field(default_factory=dict)
    key_id: str = ""
    problems: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _inputs_doc(report: Report, req: CertifyRequest) -> dict[str, Any]:
    h = report.header
    recorded = {m.sha256: m for m in h.manifests}
    given: set[str] = set()
    for path in req.manifests:
        digest = sha256_file(path) if path.is_file() else None
        if digest is None or digest not in recorded:
            raise InputError(f"manifest {path} is not one the report used (its sha256 is not in the header)")
        given.add(digest)
    refs = []
    for path in req.references:
        if not path.exists():
            raise InputError(f"reference not found: {path}")
        refs.append({"name": path.name, "sha256": _tree_digest(path)})
    return {
        "dataset": h.dataset,
        "dataset_digest": h.dataset_digest,
        "fingerprint_algorithm": h.fingerprint_algorithm,
        "settings": {
            "purposes": list(h.options.purposes),
            "as_of": str(h.options.as_of),
            "phash_threshold": h.options.phash_threshold,
            "fail_on": list(h.options.fail_on),
            "max_image_pixels": h.options.max_image_pixels,
        },
        "manifests": [
            {"name": Path(m.path).name, "sha256": m.sha256, "records": m.records, "given": m.sha256 in given}
            for m in h.manifests
        ],
        "references": [{"name": r.name, "entries": r.entries, "sha256": r.sha256 or None} for r in h.references],
        "reference_files": refs,
        "tool_version": h.tool_version,
    }


def _tree_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's sorted (relative path, sha256) lines."""
    if path.is_file():
        return sha256_file(path)
    lines = sorted(f"{p.relative_to(path).as_posix()}\t{sha256_file(p)}\n" for p in path.rglob("*") if p.is_file())
    return sha256_hex("".join(lines).encode("utf-8"))


def _render(report: Report, fmt: str) -> bytes:
    buf = io.StringIO()
    WRITERS[fmt](report, buf)
    return buf.getvalue().encode("utf-8")


def bundle_files(req: CertifyRequest, raw: bytes, report: Report) -> dict[str, bytes]:
    """Every file of the bundle but the index and its signature, by name (`raw`: the report's bytes)."""
    delivered = ReportFile(REPORT, sha256_hex(raw))
    files: dict[str, bytes] = {REPORT: raw}
    files["audit.html"] = _render(req.thumbnails or report, "html")
    files["audit.md"] = _render(report, "md")
    for name, file_name in EXPORT_FILES.items():
        files[file_name] = render_export(report, name, delivered).encode("utf-8")
    files[INPUTS] = (json.dumps(_inputs_doc(report, req), indent=2, sort_keys=True) + "\n").encode("utf-8")
    return files


def certify(req: CertifyRequest) -> tuple[Path, dict[str, Any]]:
    """Write the bundle; returns where it went and its signed index."""
    try:
        raw = req.report.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read report {req.report}: {exc}") from None
    report, digest = report_from_bytes(raw, str(req.report)), sha256_hex(raw)
    files = bundle_files(req, raw, report)
    index = {
        "format": BUNDLE_FORMAT,
        "tool": "consentaudit",
        "tool_version": __version__,
        "created_at": now_utc(),
        "report": REPORT,
        "report_sha256": digest,
        "dataset": report.header.dataset,
        "dataset_digest": report.header.dataset_digest,
        "scan_id": report.header.scan_id,
        "files": {name: {"sha256": sha256_hex(data), "size": len(data)} for name, data in sorted(files.items())},
    }
    sig = attest.sign_payload(attest.canonical_json(index), req.key, req.passphrase)
    files[INDEX] = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8")
    files[SIGNATURE] = (json.dumps(sig, indent=2, sort_keys=True) + "\n").encode("utf-8")
    _write(req.out, files)
    return req.out, index


def _write(out: Path, files: dict[str, bytes]) -> None:
    try:
        if out.suffix.lower() == ".zip":
            if out.exists():
                raise OutputError(f"{out} exists: a bundle is never overwritten")
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for name in sorted(files):
                    info = zipfile.ZipInfo(name, ZIP_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, files[name])
            os.replace(tmp, out)
            return
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise OutputError(f"{out} exists and is not an empty folder: a bundle is never overwritten")
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write bundle {out}: {exc}") from None


def is_bundle(path: Path) -> bool:
    """Whether `path` is a bundle (a folder with BUNDLE.json, or a zip) rather than a report file."""
    if path.is_dir():
        return (path / INDEX).is_file()
    return path.is_file() and path.suffix.lower() == ".zip"


def _members(path: Path, check: BundleCheck) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every bundle member; unsafe or unexpected entries become problems."""
    if path.is_dir():
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                check.problems.append(f"unexpected entry {entry.name!r}: a bundle holds plain files only")
                continue
            if entry.stat().st_size > MAX_MEMBER_BYTES:
                check.problems.append(f"{entry.name}: larger than {MAX_MEMBER_BYTES} bytes")
                continue
            yield entry.name, Path(entry.path).read_bytes()
        return
    try:
        with zipfile.ZipFile(path) as zf:
            seen: set[str] = set()
            for info in zf.infolist():
                why = unsafe_name(info.filename)
                if why is None and ("/" in info.filename or info.is_dir()):
                    why = f"member {info.filename!r} is in a folder: a bundle is flat"
                if why is None and info.filename in seen:
                    why = f"member {info.filename!r} appears twice"
                if why is None and info.file_size > MAX_MEMBER_BYTES:
                    why = f"member {info.filename!r} is larger than {MAX_MEMBER_BYTES} bytes"
                if why is not None:
                    check.problems.append(why)
                    continue
                seen.add(info.filename)
                yield info.filename, zf.read(info)
    except ARCHIVE_ERRORS as exc:  # also a member whose compressed data is damaged (zlib.error)
        raise InputError(f"{path}: not a readable bundle zip ({type(exc).__name__}: {exc})") from None


def verify_bundle(path: Path, public_key: Path) -> BundleCheck:
    """Check a bundle: the index's signature (SignatureInvalid when it fails), then every listed file's
    sha256 and size, no file beyond the list, the report readable and the one the index names, and each
    export exactly what this tool renders from the bundled report."""
    check = BundleCheck()
    members = dict(_members(path, check))
    if INDEX not in members or SIGNATURE not in members:
        raise InputError(f"{path}: not a consentaudit bundle (no {INDEX} and {SIGNATURE})")
    try:
        index = json.loads(members.pop(INDEX))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}/{INDEX}: not JSON ({exc})") from None
    if not isinstance(index, dict) or index.get("format") != BUNDLE_FORMAT or not isinstance(index.get("files"), dict):
        raise InputError(f"{path}/{INDEX}: not a {BUNDLE_FORMAT} index")
    sig = attest.parse_signature(members.pop(SIGNATURE).decode("utf-8", "replace"), f"{path}/{SIGNATURE}")
    attest.check_payload(attest.canonical_json(index), sig, public_key, what="the bundle index")
    check.index, check.key_id = index, sig["key_id"]
    listed: dict[str, Any] = index["files"]
    for name in sorted(set(members) - set(listed)):
        check.problems.append(f"{name}: in the bundle but not in its signed index")
    for name, want in sorted(listed.items()):
        data = members.get(name)
        if data is None:
            check.problems.append(f"{name}: listed in the index but missing")
        elif not isinstance(want, dict) or hashlib.sha256(data).hexdigest() != want.get("sha256"):
            check.problems.append(f"{name}: changed (its sha256 differs from the signed index)")
    raw = members.get(str(index.get("report", REPORT)))
    if raw is None:
        return check
    if hashlib.sha256(raw).hexdigest() != index.get("report_sha256"):
        check.problems.append(f"{REPORT}: not the report the index names")
    try:
        check.report = attest.parse_report(raw.decode("utf-8"), f"{path}/{REPORT}")
    except (InputError, UnicodeDecodeError) as exc:
        check.problems.append(f"{REPORT}: unreadable ({exc})")
        return check
    if check.report["header"].get("dataset_digest") != index.get("dataset_digest"):
        check.problems.append(f"{REPORT}: its dataset digest is not the one the index names")
    _check_exports(path, raw, members, check)
    return check


def _check_exports(path: Path, raw: bytes, members: dict[str, bytes], check: BundleCheck) -> None:
    report = report_from_bytes(raw, f"{path}/{REPORT}")
    delivered = ReportFile(REPORT, hashlib.sha256(raw).hexdigest())
    for name, file_name in EXPORT_FILES.items():
        if file_name in members and members[file_name] != render_export(report, name, delivered).encode("utf-8"):
            check.problems.append(f"{file_name}: does not follow from the bundled report")
