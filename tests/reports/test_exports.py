"""The standard exports (EU AI Act summary, CycloneDX, Croissant RAI) and spreadsheet-safe CSV."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from conftest import FIXTURES, MANIFESTS, SCRAPED
from consentaudit.cli.app import app

R = CliRunner()


def _scan_id(tmp_path: Path) -> tuple[int, str]:
    db = f"sqlite:///{tmp_path / 'db'}"
    out = tmp_path / "a.json"
    R.invoke(
        app,
        [
            "scan",
            str(FIXTURES / "shards"),
            "-m",
            str(MANIFESTS / "fixtures-shards.csv"),
            "--as-of",
            "2026-11-26",
            "--db",
            db,
            "--quiet",
            "--report",
            str(out),
        ],
    )
    return json.loads(out.read_text())["header"]["scan_id"], db


def test_eu_ai_act_summary_export(tmp_path: Path) -> None:
    scan_id, db = _scan_id(tmp_path)
    out = tmp_path / "summary.md"
    result = R.invoke(app, ["export", str(scan_id), "--as", "eu-ai-act-summary", "-o", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# DRAFT")
    assert "## 2.3" in text and "## 3.1" in text
    assert "| cdn.example.com | 2 |" in text  # top 10% of 4 domains: one domain
    assert "W3C TDMRep tdm-reservation HTTP header recorded at crawl | 1 | 1 |" in text
    assert "fewer than 1,000 images" in text


def test_cyclonedx_export_validates_against_the_1_6_schema(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    scan_id, db = _scan_id(tmp_path)
    result = R.invoke(app, ["export", str(scan_id), "--as", "cyclonedx", "--db", db])
    assert result.exit_code == 0, result.output
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.output)
    assert errors is None, errors
    doc = json.loads(result.output)
    (component,) = doc["components"]
    assert component["type"] == "data" and component["data"][0]["governance"]
    assert component["data"][0]["sensitiveData"]
    # the validator does catch a broken document
    doc["components"][0]["type"] = "not-a-type"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is not None


def test_croissant_rai_export(tmp_path: Path) -> None:
    scan_id, db = _scan_id(tmp_path)
    result = R.invoke(app, ["export", str(scan_id), "--as", "croissant-rai", "--db", db])
    doc = json.loads(result.output)
    assert doc["@context"]["rai"] == "http://mlcommons.org/croissant/RAI/"
    for key in (
        "rai:dataCollection",
        "rai:personalSensitiveInformation",
        "rai:dataCollectionType",
        "prov:wasGeneratedBy",
    ):
        assert doc[key]
    assert doc["rai:dataCollectionType"] == "Web Scraping"
    assert R.invoke(app, ["export", str(scan_id), "--as", "bogus", "--db", db]).exit_code == 2


def test_csv_cells_are_spreadsheet_safe(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    shutil.copy(SCRAPED / "web-0001.jpg", ds / "=HYPERLINK(evil).jpg")
    out = tmp_path / "r.csv"
    R.invoke(app, ["scan", str(ds), "--db", f"sqlite:///{tmp_path / 'db'}", "--quiet", "--report", str(out)])
    assert '\n"\'=HYPERLINK(evil).jpg",' in out.read_text()  # quoted, with the formula neutralised
