"""The canonical report: stable JSON (sorted keys, two-space indent, findings sorted by path), written as
a stream so that a million findings never sit in memory as one document. The bytes are exactly those of
`json.dumps(report_to_dict(report), sort_keys=True, indent=2, ensure_ascii=False)`."""

from __future__ import annotations

import io
import json
from typing import Any, TextIO

from consentaudit.codec import file_to_dict, finding_to_dict, header_to_dict, summary_to_dict
from consentaudit.models import Report


def _nested(value: Any, level: int) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * level)


def write_json(report: Report, out: TextIO) -> None:
    out.write("{\n")
    out.write(f'  "duplicates": {_nested([list(g) for g in report.duplicates], 1)},\n')
    out.write(f'  "files": {_nested([file_to_dict(f) for f in report.files], 1)},\n')
    out.write('  "findings": [')
    first = True
    for f in report.findings:
        out.write(("\n" if first else ",\n") + "    " + _nested(finding_to_dict(f), 2))
        first = False
    out.write("],\n" if first else "\n  ],\n")
    out.write(f'  "header": {_nested(header_to_dict(report.header), 1)},\n')
    out.write(f'  "schema_version": {json.dumps(report.schema_version)},\n')
    out.write(f'  "summary": {_nested(summary_to_dict(report.summary), 1)}\n')
    out.write("}\n")


def canonical_json(report: Report) -> str:
    buf = io.StringIO()
    write_json(report, buf)
    return buf.getvalue()
