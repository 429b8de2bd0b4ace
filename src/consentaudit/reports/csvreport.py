"""One row per finding. Every cell is quoted (a `;` or `,` in a name never splits a row, whatever the
spreadsheet's delimiter), control characters are escaped (visible.py) and cells a spreadsheet would run as
a formula are neutralised."""

from __future__ import annotations

import csv
from typing import TextIO

from consentaudit.models import Report
from consentaudit.visible import visible

COLUMNS = (
    "path",
    "verdict",
    "sha256",
    "phash",
    "size",
    "match_record_id",
    "match_kind",
    "match_distance",
    "reference",
    "source_domain",
    "signals",
    "duplicate_group",
    "reasons",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = visible("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(report: Report, out: TextIO) -> None:
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow(COLUMNS)
    for f in report.findings:
        m = f.match
        w.writerow(
            [
                safe_cell(v)
                for v in (
                    f.path,
                    f.verdict.value,
                    f.sha256,
                    f.phash,
                    f.size,
                    m.record_id if m else "",
                    m.kind.value if m else "",
                    m.distance if m and m.distance is not None else "",
                    f.reference.record_id if f.reference else "",
                    next((v for k, v in f.metadata if k == "crawl.domain"), ""),
                    "; ".join(f"{s.protocol}={s.value}" for s in f.signals),
                    f.duplicate_group or "",
                    " | ".join(f"{r.verdict.value}: {r.detail}" for r in f.reasons),
                )
            ]
        )
