"""Consent manifest v1 files: parse CSV, JSONL and JSON text into rows and rows into ConsentRecords
(consent_record.py), reporting every problem with its file, line and field. Pure: callers open the files
and hand over a text stream, which CSV and JSONL read a line at a time.

Bounded by construction: a line (MAX_LINE_CHARS), a CSV cell (MAX_FIELD_CHARS), a JSON document
(MAX_JSON_CHARS: larger manifests are JSONL), the records of one file (MAX_RECORDS) and the problems listed
for one file (MAX_PROBLEMS), so no input, however large or hostile, makes memory grow without end."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TextIO

from consentaudit import strict_json
from consentaudit.consent_record import FIELDS, as_text, parse_record
from consentaudit.errors import ManifestError, Problem
from consentaudit.models import ConsentRecord, SourceRef

MANIFEST_VERSION = "1"
MAX_LINE_CHARS = 1 << 20  # one JSONL record or CSV line
MAX_FIELD_CHARS = 1 << 16  # one CSV cell
MAX_JSON_CHARS = 64 << 20  # a whole .json manifest; larger ones are written as JSONL
MAX_RECORDS = 20_000_000  # records of one file
MAX_PROBLEMS = 1000  # problems listed for one file before the rest are counted

Row = tuple[int, Mapping[str, object]]


@dataclass(frozen=True)
class ParsedManifest:
    file: str
    records: tuple[ConsentRecord, ...]
    problems: tuple[Problem, ...]
    ids: tuple[tuple[str, SourceRef], ...] = ()  # every record_id seen, valid record or not
    valid: int = 0  # valid records (held in `records` unless parsed for validation only)
    rows: tuple[Row, ...] = ()  # the valid records' rows as written (kept for `manifest merge`)


def detect_format(name: str) -> str:
    lower = name.lower()
    for ext in ("csv", "jsonl", "json"):
        if lower.endswith("." + ext):
            return ext
    if lower.endswith(".ndjson"):
        return "jsonl"
    raise ValueError(f"{name}: unknown manifest format (expected .csv, .jsonl or .json)")


class _Problems:
    """The problems of one file, the first MAX_PROBLEMS listed and the rest counted."""

    def __init__(self, name: str) -> None:
        self.name, self.items, self.more = name, list[Problem](), 0

    def add(self, line: int | None, field: str | None, message: str) -> None:
        self.extend([Problem(self.name, line, field, message)])

    def extend(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            if len(self.items) < MAX_PROBLEMS:
                self.items.append(p)
            else:
                self.more += 1

    def done(self) -> tuple[Problem, ...]:
        tail = [Problem(self.name, None, None, f"... and {self.more} more problem(s)")] if self.more else []
        return tuple(self.items + tail)


def parse_manifest(name: str, text: str, fmt: str | None = None) -> ParsedManifest:
    """Parse one manifest given as text (tests, small inputs)."""
    return parse_manifest_stream(name, io.StringIO(text.removeprefix("\ufeff"), newline=""), fmt)


def parse_manifest_stream(
    name: str, stream: TextIO, fmt: str | None = None, keep_records: bool = True, keep_rows: bool = False
) -> ParsedManifest:
    """Parse one manifest; problems are returned, not raised, so that all of them can be listed. Without
    `keep_records` (validation only) the records are checked and counted, not held."""
    try:
        kind = fmt or detect_format(name)
    except ValueError as exc:
        return ParsedManifest(name, (), (Problem(name, None, None, str(exc)),))
    problems = _Problems(name)
    rows = {"csv": _csv_rows, "jsonl": _jsonl_rows, "json": _json_rows}[kind](name, stream, problems)
    records: list[ConsentRecord] = []
    valid = 0
    ids: list[tuple[str, SourceRef]] = []
    kept: list[Row] = []
    for line, raw in rows:
        if len(ids) >= MAX_RECORDS:
            problems.add(line, None, f"more than {MAX_RECORDS} records in one file: split it")
            break
        where = SourceRef(name, line)
        record, errs = parse_record(raw, where)
        problems.extend(errs)
        if record is not None:
            if keep_rows:
                kept.append((line, raw))
            if keep_records:
                records.append(record)
            else:
                valid += 1
        rid = as_text(raw.get("record_id"))
        if rid is not None:
            ids.append((rid, where))
    return ParsedManifest(name, tuple(records), problems.done(), tuple(ids), valid + len(records), tuple(kept))


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


def _lines(stream: TextIO, name: str, problems: _Problems) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line, with overlong lines reported and skipped without being held."""
    n = 0
    while True:
        line = stream.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        n += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
            problems.add(n, None, f"line longer than {MAX_LINE_CHARS} characters: skipped")
            while (rest := stream.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                pass
            continue
        yield n, line


def _csv_rows(name: str, stream: TextIO, problems: _Problems) -> Iterator[Row]:
    numbered = _lines(stream, name, problems)
    line_of: list[int] = []

    def text() -> Iterator[str]:
        for n, line in numbered:
            line_of.append(n)
            yield line

    reader = csv.reader(text())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        problems.add(1, None, "empty file: expected a header row")
        return
    except csv.Error as exc:
        problems.add(1, None, f"CSV syntax: {exc}")
        return
    if "record_id" not in header:
        problems.add(1, "record_id", "header row has no record_id column")
    unknown = [h for h in header if h and h not in FIELDS and not h.startswith("x-")]
    for h in unknown:  # reported once, for the header, not once per row
        problems.add(1, h, "unknown column (extension fields must start with 'x-')")
    keep = [i for i, h in enumerate(header) if h and h not in unknown]
    while True:
        start = len(line_of) + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(line_of[-1] if line_of else start, None, f"CSV syntax: {exc}")
            return
        line = line_of[start - 1] if start - 1 < len(line_of) else start
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.add(line, None, f"row has {len(values)} cells, header has {len(header)}")
            continue
        long = next((header[i] for i in keep if len(values[i]) > MAX_FIELD_CHARS), None)
        if long is not None:
            problems.add(line, long, f"value longer than {MAX_FIELD_CHARS} characters")
            continue
        yield line, {header[i]: values[i] for i in keep}


def _jsonl_rows(name: str, stream: TextIO, problems: _Problems) -> Iterator[Row]:
    for n, line in _lines(stream, name, problems):
        if not line.strip():
            continue
        try:
            obj = strict_json.loads(line)
        except strict_json.StrictJsonError as exc:
            problems.add(n, None, f"{exc}" + (f" (column {exc.column})" if exc.column else ""))
            continue
        if not isinstance(obj, dict):
            problems.add(n, None, "expected a JSON object per line")
            continue
        yield n, obj


def _json_rows(name: str, stream: TextIO, problems: _Problems) -> Iterator[Row]:
    text = stream.read(MAX_JSON_CHARS + 1)
    if len(text) > MAX_JSON_CHARS:
        problems.add(None, None, f"JSON manifest larger than {MAX_JSON_CHARS} characters: write it as JSONL")
        return
    try:
        doc = strict_json.loads(text)
    except strict_json.StrictJsonError as exc:
        problems.add(exc.line, None, f"{exc}" + (f" (column {exc.column})" if exc.column else ""))
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        problems.add(1, "records", 'expected an object with a "records" array')
        return
    version = doc.get("manifest_version")
    if str(version) != MANIFEST_VERSION:
        problems.add(1, "manifest_version", f"unsupported manifest_version {version!r}, expected '1'")
    lines = _record_lines(text, len(doc["records"]))
    for i, obj in enumerate(doc["records"]):
        line = lines[i] if i < len(lines) else 1
        if not isinstance(obj, dict):
            problems.add(line, None, "each record must be a JSON object")
            continue
        merged = dict(obj)
        if "controller" not in merged and isinstance(doc.get("controller"), str):
            merged["controller"] = doc["controller"]  # the document-level controller applies to each record
        yield line, merged


def _record_lines(text: str, count: int) -> list[int]:
    """Line number where each element of the top-level "records" array starts (one pass over the text)."""
    decoder = json.JSONDecoder()
    match = re.search(r'"records"\s*:\s*\[', text)
    if not match:
        return []
    pos, line, counted = match.end(), text.count("\n", 0, match.end()) + 1, match.end()
    lines: list[int] = []
    while len(lines) < count:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            break
    return lines
