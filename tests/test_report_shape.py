"""A received report whose fields are of the wrong type — hand-edited, tampered, or from a tool that only
looks like this one — is an input error naming the field (exit 2), for every command that reads one; it was
an internal error (exit 3) deep inside a writer or an export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import DATASET, PHOTOS, scan_args
from consentaudit.cli.app import app
from consentaudit.report_shape import REPORT, ListOf, MapOf, Opt, shape_problem

R = CliRunner()
GOLDEN = Path(__file__).parent / "reports" / "golden" / "audit.json"


def test_every_field_a_report_carries_has_a_type() -> None:
    """The shape knows every key the writer puts in a report (a new field must be given its type)."""

    def keys_missing(value: Any, spec: Any, where: str) -> list[str]:
        spec = spec.spec if isinstance(spec, Opt) else spec
        if isinstance(spec, dict) and isinstance(value, dict):
            out = [f"{where}.{k}" for k in value if k not in spec]
            return out + [m for k, v in value.items() if k in spec for m in keys_missing(v, spec[k], f"{where}.{k}")]
        if isinstance(spec, ListOf | MapOf) and isinstance(value, list | dict):
            items = value if isinstance(value, list) else list(value.values())
            return [m for v in items for m in keys_missing(v, spec.spec, f"{where}[]")]
        return []

    doc = json.loads(GOLDEN.read_text())
    assert shape_problem(doc) is None
    assert keys_missing(doc, REPORT, "") == []


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d["summary"].update(verdicts=[1]), "summary.verdicts: expected an object, got a list"),
        (lambda d: d["findings"][1]["reasons"][0].update(detail=5), "findings[1].reasons[0].detail: expected text"),
        (lambda d: d["findings"][0].update(size="12"), "findings[0].size: expected an integer, got text"),
        (lambda d: d["header"].pop("tool"), "header.tool: missing"),
        (lambda d: d["header"]["options"].update(fail_on="revoked"), "header.options.fail_on: expected a list"),
        (lambda d: d["findings"][2].update(metadata={"exif.make": None}), "findings[2].metadata['exif.make']"),
        (lambda d: d["summary"]["opt_outs"]["x-robots-tag"].update(images=True), "expected an integer, got true"),
    ],
)
def test_a_wrong_field_is_named_by_its_path(edit: Any, where: str) -> None:
    doc = json.loads(GOLDEN.read_text())
    edit(doc)
    problem = shape_problem(doc)
    assert problem is not None and where in problem


@pytest.fixture
def received(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(sorted(PHOTOS.glob("*.jpg"))[0], root / "a.jpg")
    db = f"sqlite:///{tmp_path / 'db'}"
    out = tmp_path / "audit.json"
    assert (
        R.invoke(app, ["scan", str(root), "--db", db, "-q", "--fail-on", "none", "--report", str(out)]).exit_code == 0
    )
    return out


@pytest.mark.parametrize(
    "args",
    [
        ["report", "{r}", "-o", "{t}/o.html"],
        ["report", "{r}", "-o", "{t}/o.md"],
        ["export", "{r}", "--as", "eu-ai-act-summary", "-o", "{t}/x.md"],
        ["export", "{r}", "--as", "croissant-rai", "-o", "{t}/x.json"],
        ["export", "{r}", "--as", "cyclonedx", "-o", "{t}/x.cdx.json"],
        ["explain", "a.jpg", "--scan", "{r}"],
        ["lists", "{r}", "-o", "{t}/lists"],
        ["diff", "{r}", "{r}"],
    ],
)
def test_every_command_that_reads_a_report_refuses_a_wrong_field(received: Path, args: list[str]) -> None:
    doc = json.loads(received.read_text())
    doc["summary"]["verdicts"] = ["unconsented"]
    received.write_text(json.dumps(doc))
    result = R.invoke(app, [a.format(r=received, t=received.parent) for a in args])
    assert result.exit_code == 2, result.output
    assert "summary.verdicts: expected an object, got a list" in result.output


def test_verify_dataset_refuses_a_report_whose_paths_are_not_text(received: Path) -> None:
    key = received.parent / "k"
    doc = json.loads(received.read_text())
    doc["findings"][0]["path"] = {"a.jpg": 1}
    received.write_text(json.dumps(doc))
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    assert R.invoke(app, ["sign", str(received), "--key", str(key)]).exit_code == 0  # any report can be signed
    args = ["verify", str(received), "--public-key", f"{key}.pub", "--dataset", str(received.parent / "ds")]
    result = R.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "findings[0].path: expected text, got an object" in result.output


def test_a_scan_of_the_fixtures_passes(tmp_path: Path) -> None:
    """The check refuses nothing a scan writes: the fixtures' 22 images with both manifests and the reference
    set (every verdict, signals, matches by record and by reference, duplicate groups, data files)."""
    out = tmp_path / "audit.json"
    args = scan_args(DATASET, f"sqlite:///{tmp_path / 'db'}", "--report", str(out), "--fail-on", "none")
    assert R.invoke(app, args).exit_code == 0
    doc = json.loads(out.read_text())
    assert {f["verdict"] for f in doc["findings"]} >= {"consented", "revoked", "known_scraped", "unreadable"}
    assert shape_problem(doc) is None
