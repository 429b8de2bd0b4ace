"""The canonical report: stable JSON (sorted keys, findings sorted by path)."""

from __future__ import annotations

import json
from typing import TextIO

from consentaudit.codec import report_to_dict
from consentaudit.models import Report


def canonical_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json(report: Report, out: TextIO) -> None:
    out.write(canonical_json(report))
