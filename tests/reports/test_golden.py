"""Golden files: every report writer renders the fixtures' audit exactly as checked in.

The audit runs for real on the bundled dataset; only what differs from run to run (timestamps, scan id,
tool and imagehash versions) is pinned before rendering. After an intended change to a writer, refresh
the files and review the diff:

    CONSENTAUDIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reports/test_golden.py
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from conftest import EXPECTED, ROOT
from consentaudit.audit import run_audit
from consentaudit.models import Report
from consentaudit.reports import WRITERS
from consentaudit.request import AuditRequest
from consentaudit.store import ScanStore

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CONSENTAUDIT_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    cwd = Path.cwd()
    os.chdir(ROOT)  # relative input paths, as the README's command gives them
    try:
        req = AuditRequest(
            dataset=Path("fixtures/dataset"),
            manifests=[Path("manifests/fixtures.csv"), Path("manifests/fixtures-extra.jsonl")],
            references=[Path("fixtures/scraped")],
            purposes=("ai-training",),
            as_of=date.fromisoformat(EXPECTED["as_of"]),
            jobs=1,
        )
        store = ScanStore(f"sqlite:///{tmp_path_factory.mktemp('golden') / 'db'}")
        result = run_audit(req, store)
    finally:
        os.chdir(cwd)
    header = replace(
        result.header,
        started_at="2026-11-26T00:00:00Z",
        finished_at="2026-11-26T00:00:01Z",
        scan_id=1,
        tool_version="0.0.0",
        fingerprint_algorithm=re.sub(
            r"imagehash-[^,]+,pillow-\d+", "imagehash-X,pillow-X", result.header.fingerprint_algorithm
        ),
    )
    return replace(result, header=header, findings=list(result.findings))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_writer_output_equals_the_golden_file(report: Report, fmt: str) -> None:
    out = io.StringIO()
    WRITERS[fmt](report, out)
    path = GOLDEN / f"audit.{fmt}"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(out.getvalue(), encoding="utf-8", newline="")
    assert path.exists(), f"{path} missing: run with CONSENTAUDIT_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert out.getvalue() == expected, f"{fmt} output differs from {path} (refresh: see this module's docstring)"
