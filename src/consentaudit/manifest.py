"""Consent manifest v1: parse CSV, JSONL and JSON text into ConsentRecords, reporting every problem with
its file, line and field. Pure: callers read the files."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePosixPath

from consentaudit.errors import ManifestError, Problem
from consentaudit.models import ConsentRecord, SourceRef
from consentaudit.vocab import ConsentStatus

MANIFEST_VERSION = "1"
LIST_SEPARATOR = ";"

IDENTIFIERS = ("sha256", "phash", "path")
FIELDS = (
    "record_id",
    "sha256",
    "phash",
    "path",
    "subject_ids",
    "status",
    "purposes",
    "granted_at",
    "expires_at",
    "revoked_at",
    "license",
    "source",
    "source_url",
    "evidence",
    "controller",
    "notice_version",
    "mechanism",
    "explicit_biometric",
    "guardian",
    "phash256",
)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


@dataclass(frozen=True)
class ParsedManifest:
    file: str
    records: tuple[ConsentRecord, ...]
    problems: tuple[Problem, ...]
    ids: tuple[tuple[str, SourceRef], ...] = ()  # every record_id seen, valid record or not


def detect_format(name: str) -> str:
    lower = name.lower()
    for ext in ("csv", "jsonl", "json"):
        if lower.endswith("." + ext):
            return ext
    if lower.endswith(".ndjson"):
        return "jsonl"
    raise ValueError(f"{name}: unknown manifest format (expected .csv, .jsonl or .json)")


def parse_manifest(name: str, text: str, fmt: str | None = None) -> ParsedManifest:
    """Parse one manifest; problems are returned, not raised, so that all of them can be listed."""
    try:
        kind = fmt or detect_format(name)
    except ValueError as exc:
        return ParsedManifest(name, (), (Problem(name, None, None, str(exc)),))
    text = text.removeprefix("\ufeff")
    rows: list[tuple[int, Mapping[str, object]]] = []
    problems: list[Problem] = []
    if kind == "csv":
        rows, problems = _csv_rows(name, text)
    elif kind == "jsonl":
        rows, problems = _jsonl_rows(name, text)
    else:
        rows, problems = _json_rows(name, text)
    records: list[ConsentRecord] = []
    ids: list[tuple[str, SourceRef]] = []
    for line, raw in rows:
        where = SourceRef(name, line)
        record, errs = parse_record(raw, where)
        problems.extend(errs)
        if record is not None:
            records.append(record)
        rid = _text(raw.get("record_id"))
        if rid is not None:
            ids.append((rid, where))
    return ParsedManifest(name, tuple(records), tuple(problems), tuple(ids))


def check_unique(manifests: Iterable[ParsedManifest]) -> list[Problem]:
    """record_id must be unique across every manifest loaded together."""
    first: dict[str, SourceRef] = {}
    problems: list[Problem] = []
    for m in manifests:
        for rid, where in m.ids:
            seen = first.get(rid)
            if seen is None:
                first[rid] = where
            else:
                problems.append(
                    Problem(
                        where.file,
                        where.line,
                        "record_id",
                        f"duplicate record_id {rid!r} (first defined at {seen.file}:{seen.line})",
                    )
                )
    return problems


def load_records(manifests: list[ParsedManifest]) -> list[ConsentRecord]:
    """All records of valid manifests; raise ManifestError listing every problem otherwise."""
    problems = [p for m in manifests for p in m.problems] + check_unique(manifests)
    if problems:
        raise ManifestError(problems)
    return [r for m in manifests for r in m.records]


def _csv_rows(name: str, text: str) -> tuple[list[tuple[int, Mapping[str, object]]], list[Problem]]:
    rows: list[tuple[int, Mapping[str, object]]] = []
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [Problem(name, 1, None, "empty file: expected a header row")]
    except csv.Error as exc:
        return [], [Problem(name, 1, None, f"CSV syntax: {exc}")]
    header = [h.strip() for h in header]
    if "record_id" not in header:
        problems.append(Problem(name, 1, "record_id", "header row has no record_id column"))
    prev_end = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(name, prev_end + 1, None, f"CSV syntax: {exc}"))
            break
        line = prev_end + 1
        prev_end = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(Problem(name, line, None, f"row has {len(values)} cells, header has {len(header)}"))
            continue
        rows.append((line, {k: v for k, v in zip(header, values, strict=True) if k}))
    return rows, problems


def _jsonl_rows(name: str, text: str) -> tuple[list[tuple[int, Mapping[str, object]]], list[Problem]]:
    rows: list[tuple[int, Mapping[str, object]]] = []
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(name, n, None, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(name, n, None, "expected a JSON object per line"))
            continue
        rows.append((n, obj))
    return rows, problems


def _json_rows(name: str, text: str) -> tuple[list[tuple[int, Mapping[str, object]]], list[Problem]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Problem(name, exc.lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})")]
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        return [], [Problem(name, 1, "records", 'expected an object with a "records" array')]
    problems: list[Problem] = []
    version = doc.get("manifest_version")
    if str(version) != MANIFEST_VERSION:
        problems.append(Problem(name, 1, "manifest_version", f"unsupported manifest_version {version!r}, expected '1'"))
    lines = _record_lines(text, len(doc["records"]))
    rows: list[tuple[int, Mapping[str, object]]] = []
    for i, obj in enumerate(doc["records"]):
        line = lines[i] if i < len(lines) else 1
        if not isinstance(obj, dict):
            problems.append(Problem(name, line, None, "each record must be a JSON object"))
            continue
        merged = dict(obj)
        if "controller" not in merged and isinstance(doc.get("controller"), str):
            merged["controller"] = doc["controller"]  # the document-level controller applies to each record
        rows.append((line, merged))
    return rows, problems


def _record_lines(text: str, count: int) -> list[int]:
    """Line number where each element of the top-level "records" array starts."""
    decoder = json.JSONDecoder()
    match = re.search(r'"records"\s*:\s*\[', text)
    if not match:
        return []
    pos = match.end()
    lines: list[int] = []
    while len(lines) < count:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        lines.append(text.count("\n", 0, pos) + 1)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
    return lines


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return None


def _list(value: object) -> list[str] | None:
    """A list of strings from a JSON array or a ';'-separated cell; None when the type is wrong."""
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            return None
        return [v.strip() for v in value if v.strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
    return None


def _date(value: object) -> date | None:
    """Parse an ISO date (or the date part of an ISO datetime); raise ValueError otherwise."""
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def normalise_path(value: str) -> str:
    """Dataset-relative POSIX path; raise ValueError for absolute paths or '..' components."""
    p = value.strip().replace("\\", "/")
    if p.startswith("/") or re.match(r"^[A-Za-z]:", p):
        raise ValueError(f"path must be relative to the dataset root: {value!r}")
    parts = [s for s in PurePosixPath(p).parts if s not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"path must not contain '..': {value!r}")
    if not parts:
        raise ValueError("path is empty")
    return "/".join(parts)


def parse_record(raw: Mapping[str, object], where: SourceRef) -> tuple[ConsentRecord | None, list[Problem]]:
    """Validate one record. Returns the record (None when it cannot be used) and every problem found."""
    problems: list[Problem] = []

    def problem(field: str | None, message: str) -> None:
        problems.append(Problem(where.file, where.line, field, message))

    for key in raw:
        if key not in FIELDS and not key.startswith("x-"):
            problem(key, "unknown field (extension fields must start with 'x-')")

    record_id = _text(raw.get("record_id"))
    if record_id is None:
        problem("record_id", "required")

    sha256 = _text(raw.get("sha256"))
    if sha256 is not None:
        if len(sha256) != 64 or not _HEX.match(sha256):
            problem("sha256", "must be 64 hex digits (the SHA-256 of the file bytes)")
            sha256 = None
        else:
            sha256 = sha256.lower()
    phash = _text(raw.get("phash"))
    if phash is not None:
        if len(phash) != 16 or not _HEX.match(phash):
            problem("phash", "must be 16 hex digits (imagehash's default 64-bit phash)")
            phash = None
        else:
            phash = phash.lower()
    phash256 = _text(raw.get("phash256"))
    if phash256 is not None:
        if len(phash256) != 64 or not _HEX.match(phash256):
            problem("phash256", "must be 64 hex digits (imagehash's phash with hash_size=16)")
            phash256 = None
        elif phash is None:
            problem("phash256", "needs the record's 64-bit phash too (candidates are found by it)")
            phash256 = None
        else:
            phash256 = phash256.lower()
    path = _text(raw.get("path"))
    if path is not None:
        try:
            path = normalise_path(path)
        except ValueError as exc:
            problem("path", str(exc))
            path = None
    if not any(_text(raw.get(k)) for k in IDENTIFIERS):
        problem("sha256", "no identifier: at least one of sha256, phash or path is required")

    status_text = _text(raw.get("status"))
    status: ConsentStatus | None = None
    if status_text is None:
        problem("status", "required (granted, revoked or denied)")
    else:
        try:
            status = ConsentStatus(status_text.lower())
        except ValueError:
            problem("status", f"unknown status {status_text!r} (expected granted, revoked or denied)")

    purposes = _list(raw.get("purposes"))
    if purposes is None:
        problem("purposes", "must be a list of purpose tokens")
        purposes = []
    for p in purposes:
        if not _TOKEN.match(p):
            problem("purposes", f"invalid purpose token {p!r} (lowercase letters, digits, '-', '.', '_')")
    if status == ConsentStatus.GRANTED and not purposes:
        problem("purposes", "granted consent must list the purposes it covers")

    subject_ids = _list(raw.get("subject_ids"))
    if subject_ids is None:
        problem("subject_ids", "must be a list of pseudonymous ids")
        subject_ids = []

    dates: dict[str, date | None] = {}
    for key in ("granted_at", "expires_at", "revoked_at"):
        try:
            dates[key] = _date(raw.get(key))
        except ValueError as exc:
            problem(key, str(exc))
            dates[key] = None
    granted, expires, revoked = dates["granted_at"], dates["expires_at"], dates["revoked_at"]
    if granted and expires and expires < granted:
        problem("expires_at", f"expires ({expires}) before it was granted ({granted})")
    if granted and revoked and revoked < granted:
        problem("revoked_at", f"revoked ({revoked}) before it was granted ({granted})")
    if revoked and status == ConsentStatus.GRANTED:
        problem("revoked_at", "set on a record whose status is 'granted' (use status 'revoked')")

    explicit: bool | None = None
    eb = _text(raw.get("explicit_biometric"))
    if eb is not None:
        if eb.lower() in _TRUE:
            explicit = True
        elif eb.lower() in _FALSE:
            explicit = False
        else:
            problem("explicit_biometric", f"expected true or false, got {eb!r}")

    for key in FIELDS:
        value = raw.get(key)
        if (
            key not in ("subject_ids", "purposes")
            and value is not None
            and not isinstance(value, str)
            and _text(value) is None
        ):
            problem(key, f"expected text, got {type(value).__name__}")

    if problems or record_id is None or status is None:
        return None, problems
    return (
        ConsentRecord(
            record_id=record_id,
            status=status,
            sha256=sha256,
            phash=phash,
            phash256=phash256,
            path=path,
            subject_ids=tuple(subject_ids),
            purposes=frozenset(purposes),
            granted_at=granted,
            expires_at=expires,
            revoked_at=revoked,
            license=_text(raw.get("license")),
            source=_text(raw.get("source")),
            source_url=_text(raw.get("source_url")),
            evidence=_text(raw.get("evidence")),
            controller=_text(raw.get("controller")),
            notice_version=_text(raw.get("notice_version")),
            mechanism=_text(raw.get("mechanism")),
            explicit_biometric=explicit,
            guardian=_text(raw.get("guardian")),
            origin=where,
        ),
        [],
    )
