from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DATASET = FIXTURES / "dataset"
PHOTOS = FIXTURES / "photos"
SCRAPED = FIXTURES / "scraped"
MANIFESTS = ROOT / "manifests"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scans.db'}"


@pytest.fixture
def dataset_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "dataset"
    shutil.copytree(DATASET, dst)
    return dst


def scan_args(dataset: Path, db: str, *extra: str) -> list[str]:
    return [
        "scan",
        str(dataset),
        "--manifest",
        str(MANIFESTS / "fixtures.csv"),
        "--manifest",
        str(MANIFESTS / "fixtures-extra.jsonl"),
        "--reference",
        str(SCRAPED),
        "--purpose",
        "ai-training",
        "--as-of",
        EXPECTED["as_of"],
        "--db",
        db,
        "--quiet",
        *extra,
    ]
