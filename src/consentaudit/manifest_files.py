"""Manifest files as the `manifest` commands use them: validate a set together, write a skeleton for a
dataset."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from consentaudit.consent_record import FIELDS, LIST_SEPARATOR, parse_record
from consentaudit.errors import InputError, ManifestError
from consentaudit.inputs import REFERENCE, read_manifest
from consentaudit.manifest import MANIFEST_VERSION, check_unique
from consentaudit.models import SourceRef
from consentaudit.progress import ProgressCallback
from consentaudit.scanner import fingerprint_source

FORMATS = (".csv", ".jsonl", ".json")
WHERE = SourceRef("manifest init", 0)


def validate_manifests(paths: Sequence[Path]) -> tuple[int, int]:
    """(records, manifests) when every file is valid; ManifestError listing every problem otherwise."""
    parsed = [read_manifest(p, keep_records=False) for p in paths]
    problems = [p for m in parsed for p in m.problems] + check_unique(parsed)
    if problems:
        raise ManifestError(problems)
    return sum(m.valid for m in parsed), len(parsed)


@dataclass(frozen=True)
class SkeletonResult:
    written: int
    skipped: list[tuple[str, str]]  # (path, why) of files that could not be fingerprinted


@dataclass(frozen=True)
class RecordDefaults:
    """What `manifest init` fills in for every row besides the identifiers (empty: left for the controller)."""

    id_prefix: str = "r"
    status: str = ""
    purposes: tuple[str, ...] = ()
    granted_at: str = ""


def write_skeleton(
    dataset: Path,
    output: Path,
    force: bool = False,
    progress: ProgressCallback | None = None,
    defaults: RecordDefaults = RecordDefaults(),
) -> SkeletonResult:
    """A skeleton manifest: one row per image with sha256, phash, phash256 and path filled in, and the
    given defaults (record id prefix, status, purposes, granted-at)."""
    if output.exists() and not force:
        raise InputError(f"{output} exists (use --force to overwrite)")
    ext = output.suffix.lower()
    if ext not in FORMATS:
        raise InputError(f"{output}: manifest format must be .csv, .jsonl or .json")
    extra: dict[str, object] = {
        k: v
        for k, v in (
            ("status", defaults.status),
            ("purposes", LIST_SEPARATOR.join(defaults.purposes) if ext == ".csv" else list(defaults.purposes)),
            ("granted_at", defaults.granted_at),
        )
        if v
    }
    checked = {"record_id": "x", "path": "x", "status": "granted", "purposes": ["x"], **extra}
    problems = parse_record(checked, WHERE)[1]
    if problems:
        raise InputError("; ".join(f"--{(p.field or '').replace('_', '-')}: {p.message}" for p in problems))
    images = fingerprint_source(dataset, REFERENCE, progress)  # with the 256-bit pHash
    rows = []
    skipped = []
    for n, img in enumerate(images, start=1):
        if img.fingerprint is None:
            skipped.append((img.path, img.error or "unreadable"))
            continue
        fp = img.fingerprint
        rows.append(
            {
                "record_id": f"{defaults.id_prefix}{n:06d}",
                "sha256": fp.sha256,
                "phash": fp.phash,
                "phash256": fp.phash256,
                "path": img.path,
                **extra,
            }
        )
    with output.open("w", encoding="utf-8", newline="") as out:
        if ext == ".csv":
            w = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        elif ext == ".jsonl":
            for row in rows:
                out.write(json.dumps(row, sort_keys=True) + "\n")
        else:
            doc = {"manifest_version": MANIFEST_VERSION, "dataset": str(dataset), "controller": None, "records": rows}
            out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return SkeletonResult(len(rows), skipped)
