"""Consent manifest v1 files: parse CSV, JSONL and JSON text into rows and rows into ConsentRecords
(consent_record.py), reporting every problem with its file, line and field. Pure: callers read the files."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from consentaudit.consent_record import as_text, parse_record
from consentaudit.errors import ManifestError, Problem
from consentaudit.models import ConsentRecord, SourceRef

MANIFEST_VERSION = "1"


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
        rid = as_text(raw.get("record_id"))
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
