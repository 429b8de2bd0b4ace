from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DATASET = FIXTURES / "dataset"
PHOTOS = FIXTURES / "photos"
SCRAPED = FIXTURES / "scraped"
ORIENTATION = FIXTURES / "orientation"  # one picture stored eight ways (EXIF Orientation 1-8)
MANIFESTS = ROOT / "manifests"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True, scope="session")
def _reference_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The reference cache of the tests' own, never the user's ~/.cache (a test may point it elsewhere)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CONSENTAUDIT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


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


def photo_with_gps(path: Path, caption: str | None = None) -> Path:
    """A real photo (kodak-dc240.jpg) saved with an EXIF GPS position, and a caption when given: metadata
    that only --keep-sensitive-metadata keeps."""
    from PIL import Image

    exif = Image.Exif()
    if caption is not None:
        exif[0x010E] = caption  # ImageDescription
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.0)})
    with Image.open(PHOTOS / "kodak-dc240.jpg") as im:
        im.save(path, quality=90, exif=exif)
    return path


def shard_scan_args(db: str, report: Path) -> list[str]:
    """The img2dataset-style shard fixture scanned with its manifest, the JSON report written to `report`."""
    args = ["scan", str(FIXTURES / "shards"), "-m", str(MANIFESTS / "fixtures-shards.csv"), "--as-of", "2026-11-26"]
    return [*args, "--db", db, "--quiet", "--report", str(report)]


@pytest.fixture(scope="session")
def postgres_base() -> Iterator[str]:
    from postgres_server import MISSING, binaries, postgres_server

    if binaries() is None:
        pytest.skip(MISSING)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg not installed: pip install -e '.[postgres]'")
    with postgres_server() as base:
        yield base


@pytest.fixture
def pg_url(postgres_base: str) -> str:
    """A fresh database on the session's throwaway PostgreSQL server."""
    from postgres_server import create_database

    return create_database(postgres_base)


@pytest.fixture(autouse=True)
def isolated_user_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes to the real user store: the user data folder is a temporary one, and no store comes
    from the environment unless a test sets it."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("user-data")))
    monkeypatch.delenv("CONSENTAUDIT_DB", raising=False)
