"""The manifest cache: the records of a consent manifest that parsed without a problem, kept by the sha256 of
the file's bytes, so that a scan or re-judge against a large manifest does not validate every record again.

Parsing and validating costs ~35 µs a record (a 1M-record manifest: ~40 s on every scan); reading the
records back from the cache, ~6 µs. The key is the content, never the file's name, size or date: a file
edited in place, however quickly, is another key. Only a manifest without problems is kept (one with
problems is parsed every time, so its problems are listed with their lines). An entry is a header line (the
format and the sha256 of what follows) and the records; one whose records are not the bytes that were written
(a flipped bit that still parses, a file cut short) is not used: the manifest is parsed again and the entry
replaced. The cache lives beside the reference cache (`reference_cache.cache_root()`); deleting it loses
nothing, and when it cannot be written the manifest is simply parsed every time.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from consentaudit import __version__
from consentaudit.digest import sha256_hex
from consentaudit.manifest import ParsedManifest
from consentaudit.models import ConsentRecord, SourceRef
from consentaudit.reference_cache import cache_root
from consentaudit.vocab import ConsentStatus

# The parser's version is part of the format: records validated by another release are validated again.
FORMAT = f"consent-records-v3;consentaudit-{__version__}"  # v3: a header line with the sha256


def _entry(digest: str, root: Path | None) -> Path:
    return (root or cache_root()) / "manifests" / f"{digest}.json"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _row(r: ConsentRecord) -> list[Any]:
    return [
        r.record_id, r.status.value, r.sha256, r.phash, r.path, list(r.subject_ids), r.phash256,
        sorted(r.purposes), _day(r.granted_at), _day(r.expires_at), _day(r.revoked_at), r.license, r.source,
        r.source_url, r.evidence, r.controller, r.notice_version, r.mechanism, r.explicit_biometric, r.guardian,
        r.origin.line if r.origin else None, r.phash_upright,
    ]  # fmt: skip


def _record(row: list[Any], file: str) -> ConsentRecord:
    rid, status, sha, phash, path, subjects, p256, purposes, granted, expires, revoked = row[:11]
    lic, source, url, evidence, controller, notice, mechanism, biometric, guardian, line, upright = row[11:]
    return ConsentRecord(
        rid,
        ConsentStatus(status),
        sha,
        phash,
        path,
        tuple(subjects),
        p256,
        frozenset(purposes),
        date.fromisoformat(granted) if granted else None,
        date.fromisoformat(expires) if expires else None,
        date.fromisoformat(revoked) if revoked else None,
        lic,
        source,
        url,
        evidence,
        controller,
        notice,
        mechanism,
        biometric,
        guardian,
        SourceRef(file, line) if line is not None else None,
        upright,
    )


def load(digest: str, file: str, root: Path | None = None) -> ParsedManifest | None:
    """The parsed manifest whose bytes have this sha256, its records said to come from `file`; None when it
    is not cached (or the entry is damaged or of another format)."""
    try:
        head, _, body = _entry(digest, root).read_bytes().partition(b"\n")
        header = json.loads(head)
        if header.get("format") != FORMAT or header.get("sha256") != sha256_hex(body):
            return None
        records = tuple(_record(row, file) for row in json.loads(body))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    ids = tuple((r.record_id, r.origin or SourceRef(file, 0)) for r in records)
    return ParsedManifest(file, records, (), ids, len(records))


def save(digest: str, parsed: ParsedManifest, root: Path | None = None) -> None:
    """Keep a manifest that parsed without problems; written aside and renamed into place."""
    if parsed.problems or len(parsed.records) != parsed.valid:
        return
    entry = _entry(digest, root)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=entry.parent)
    except OSError:
        return
    try:
        body = json.dumps([_row(r) for r in parsed.records], separators=(",", ":")).encode()
        header = json.dumps({"format": FORMAT, "sha256": sha256_hex(body)}).encode()
        with os.fdopen(fd, "wb") as f:
            f.write(header + b"\n")
            f.write(body)
        os.replace(tmp, entry)
    except (OSError, ValueError):
        Path(tmp).unlink(missing_ok=True)
