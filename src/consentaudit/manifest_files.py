"""Manifest files as the `manifest` commands use them: validate a set together, write a skeleton for a
dataset, merge several into one."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from consentaudit.consent_record import FIELDS, LIST_SEPARATOR, parse_record
from consentaudit.errors import InputError, ManifestError, OutputError, Problem
from consentaudit.inputs import REFERENCE, read_manifest
from consentaudit.manifest import MANIFEST_VERSION, ParsedManifest, check_unique
from consentaudit.mapper import fingerprint_source
from consentaudit.models import SourceRef
from consentaudit.progress import ProgressCallback

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
    jobs: int = 1,
) -> SkeletonResult:
    """A skeleton manifest: one row per image with sha256, phash, phash256 and path filled in (and
    phash_upright for a file with an EXIF Orientation tag), and the given defaults (record id prefix,
    status, purposes, granted-at)."""
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
    # the record's codes (sha256, pHash, 256-bit pHash) as a reference entry's, without its views and keypoints
    images = fingerprint_source(dataset, replace(REFERENCE, views=False), progress, jobs)
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
                **({"phash_upright": fp.phash_upright} if fp.phash_upright else {}),
                "path": img.path,
                **extra,
            }
        )
    _write_rows(output, rows, {"dataset": str(dataset), "controller": None})
    return SkeletonResult(len(rows), skipped)


def _write_rows(output: Path, rows: Sequence[Mapping[str, object]], doc_fields: Mapping[str, object]) -> None:
    """Manifest rows in the format the file name asks for; CSV gets every FIELDS column plus the x- ones."""
    ext = output.suffix.lower()
    try:
        with output.open("w", encoding="utf-8", newline="") as out:
            if ext == ".csv":
                extra = sorted({k for r in rows for k in r if k not in FIELDS})
                w = csv.DictWriter(out, fieldnames=[*FIELDS, *extra], lineterminator="\n")
                w.writeheader()
                w.writerows({k: _csv_cell(v) for k, v in r.items()} for r in rows)
            elif ext == ".jsonl":
                for row in rows:
                    out.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
            else:
                doc = {"manifest_version": MANIFEST_VERSION, **doc_fields, "records": list(rows)}
                out.write(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write manifest {output}: {exc.strerror or exc}") from None


def _csv_cell(value: object) -> object:
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


LIST_FIELDS = ("subject_ids", "purposes")


def _normal(row: Mapping[str, object]) -> dict[str, object]:
    """A row as one shape whatever format it came from: lists as lists, empty cells dropped."""
    out: dict[str, object] = {}
    for k, v in row.items():
        if k in LIST_FIELDS and isinstance(v, str):
            v = [x.strip() for x in v.split(LIST_SEPARATOR) if x.strip()]
        if v is None or v == "" or v == []:
            continue
        out[k] = v
    return out


@dataclass(frozen=True)
class MergeResult:
    written: int
    identical: int  # rows repeated with the same record_id and the same content: written once
    replaced: list[str]  # record ids a later manifest replaced (--prefer last)


def merge_manifests(paths: Sequence[Path], output: Path, prefer: str = "error", force: bool = False) -> MergeResult:
    """One manifest from several, each validated first (file:line problems, nothing written). A record id
    in more than one file is written once when the rows agree; when they differ it is a conflict listed
    with both places (`prefer="error"`), or the later file's row wins (`prefer="last"`: an update, such as
    a revocation, given after the original)."""
    if prefer not in ("error", "last"):
        raise InputError(f"--prefer must be error or last, not {prefer!r}")
    if output.suffix.lower() not in FORMATS:
        raise InputError(f"{output}: manifest format must be .csv, .jsonl or .json")
    if output.exists() and not force:
        raise InputError(f"{output} exists (use --force to overwrite)")
    if any(output.resolve() == p.resolve() for p in paths if p.exists()):
        raise InputError(f"{output} is one of the inputs: write the merge to a new file")
    parsed: list[ParsedManifest] = [read_manifest(p, keep_records=False, keep_rows=True) for p in paths]
    problems = [p for m in parsed for p in m.problems]
    if problems:
        raise ManifestError(problems)
    merged: dict[str, tuple[dict[str, object], SourceRef]] = {}
    conflicts: list[Problem] = []
    identical, replaced = 0, []
    for m in parsed:
        for line, raw in m.rows:
            row, where = _normal(raw), SourceRef(m.file, line)
            rid = str(row["record_id"])
            seen = merged.get(rid)
            if seen is None:
                merged[rid] = (row, where)
            elif seen[0] == row:
                identical += 1
            elif prefer == "last":
                merged[rid] = (row, where)
                replaced.append(rid)
            else:
                conflicts.append(
                    Problem(
                        m.file,
                        line,
                        "record_id",
                        f"record {rid!r} differs from the one at {seen[1].file}:{seen[1].line} "
                        "(--prefer last keeps the later file's)",
                    )
                )
    if conflicts:
        raise ManifestError(conflicts)
    rows = [row for row, _ in merged.values()]
    _write_rows(output, rows, {"controller": None, "merged_from": [Path(p).name for p in paths]})
    return MergeResult(len(rows), identical, replaced)
