"""One consent record: its fields, and validating a raw row into a ConsentRecord with every problem found
(file, line, field). Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from consentaudit.errors import Problem
from consentaudit.models import ConsentRecord, SourceRef
from consentaudit.vocab import ConsentStatus

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
    "phash_upright",
)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


def as_text(value: object) -> str | None:
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
    text = as_text(value)
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
    parts = [s for s in p.split("/") if s not in ("", ".")]  # PurePosixPath(p).parts, without its cost
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

    record_id = as_text(raw.get("record_id"))
    if record_id is None:
        problem("record_id", "required")

    def hex_field(name: str, digits: int, what: str) -> str | None:
        value = as_text(raw.get(name))
        if value is not None and (len(value) != digits or not _HEX.match(value)):
            problem(name, f"must be {digits} hex digits ({what})")
            return None
        return value.lower() if value is not None else None

    sha256 = hex_field("sha256", 64, "the SHA-256 of the file bytes")
    phash = hex_field("phash", 16, "imagehash's default 64-bit phash")
    phash256 = hex_field("phash256", 64, "imagehash's phash with hash_size=16")
    if phash256 is not None and phash is None:
        problem("phash256", "needs the record's 64-bit phash too (candidates are found by it)")
        phash256 = None
    phash_upright = hex_field("phash_upright", 16, "imagehash's 64-bit phash of the picture as shown")
    path = as_text(raw.get("path"))
    if path is not None:
        try:
            path = normalise_path(path)
        except ValueError as exc:
            problem("path", str(exc))
            path = None
    if not any(as_text(raw.get(k)) for k in IDENTIFIERS):
        problem("sha256", "no identifier: at least one of sha256, phash or path is required")

    status_text = as_text(raw.get("status"))
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
    eb = as_text(raw.get("explicit_biometric"))
    if eb is not None:
        if eb.lower() in _TRUE:
            explicit = True
        elif eb.lower() in _FALSE:
            explicit = False
        else:
            problem("explicit_biometric", f"expected true or false, got {eb!r}")

    for key, value in raw.items():
        if (
            value is not None
            and not isinstance(value, str)
            and key in FIELDS
            and key not in ("subject_ids", "purposes")
            and as_text(value) is None
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
            phash_upright=phash_upright,
            path=path,
            subject_ids=tuple(subject_ids),
            purposes=frozenset(purposes),
            granted_at=granted,
            expires_at=expires,
            revoked_at=revoked,
            license=as_text(raw.get("license")),
            source=as_text(raw.get("source")),
            source_url=as_text(raw.get("source_url")),
            evidence=as_text(raw.get("evidence")),
            controller=as_text(raw.get("controller")),
            notice_version=as_text(raw.get("notice_version")),
            mechanism=as_text(raw.get("mechanism")),
            explicit_biometric=explicit,
            guardian=as_text(raw.get("guardian")),
            origin=where,
        ),
        [],
    )
