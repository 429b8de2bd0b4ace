"""The team store on a real PostgreSQL server (started by the test session, tests/postgres_server.py):
the same verdicts as SQLite, concurrent writers, and a store made by the previous release migrated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, FIXTURES, scan_args
from consentaudit.cli.app import app
from consentaudit.store import ScanStore

R = CliRunner()


def _report(db: str, out: Path, *extra: str) -> dict[str, object]:
    result = R.invoke(app, scan_args(DATASET, db, "--report", str(out), "--fail-on", "none", *extra))
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(out.read_text())
    return doc


def _comparable(doc: dict[str, object]) -> dict[str, object]:
    header = dict(doc["header"])  # type: ignore[arg-type]
    for key in ("started_at", "finished_at", "scan_id"):
        header.pop(key)
    return {**doc, "header": header}


def test_postgres_gives_the_sqlite_verdicts(pg_url: str, tmp_path: Path) -> None:
    on_pg = _report(pg_url, tmp_path / "pg.json")
    on_sqlite = _report(f"sqlite:///{tmp_path / 'db'}", tmp_path / "sqlite.json")
    assert _comparable(on_pg) == _comparable(on_sqlite)
    assert len(on_pg["findings"]) == 22  # type: ignore[arg-type]
    # a re-scan answers from the store, a re-judge (new date) re-uses the cache: same as on SQLite
    again = _report(pg_url, tmp_path / "pg2.json")
    assert _comparable(again) == _comparable(on_pg)
    with ScanStore(pg_url).engine.connect() as conn:
        kinds = dict(
            conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'image' AND column_name IN ('size', 'mtime_ns')"
            ).all()
        )
    assert kinds == {"size": "bigint", "mtime_ns": "bigint"}


def _spawn(db: str, *extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "consentaudit.cli.app", *scan_args(DATASET, db, "--fail-on", "none", *extra)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _concurrent_scans(db: str) -> None:
    """Four processes at once on one store: two different audits of the dataset (both write the shared
    fingerprint cache), and the same audit twice. Every process finishes; every scan holds every image
    exactly once."""
    procs = [
        _spawn(db, "--jobs", "1"),
        _spawn(db, "--jobs", "1"),
        _spawn(db, "--jobs", "1", "--purpose", "research"),
        _spawn(db, "--jobs", "1", "--as-of", "2026-12-01", "--batch-size", "3"),
    ]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out
    store = ScanStore(db)
    scans = [s for s in store.list_scans() if s.status == "complete"]
    assert len(scans) == 4, [(s.id, s.status) for s in store.list_scans()]
    for s in scans:
        assert s.images == 22
        with store.engine.connect() as conn:
            n, distinct = conn.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT path) FROM image WHERE scan_id = {s.id}"
            ).one()
            findings = conn.exec_driver_sql(f"SELECT count(*) FROM finding WHERE scan_id = {s.id}").scalar()
        assert n == distinct == findings == 22
    listing = R.invoke(app, ["scans", "--db", db])
    assert listing.exit_code == 0 and listing.output.count("complete") == 4


def test_concurrent_scans_on_postgres(pg_url: str) -> None:
    _concurrent_scans(pg_url)


def test_concurrent_scans_on_one_sqlite_file(tmp_path: Path) -> None:
    _concurrent_scans(f"sqlite:///{tmp_path / 'shared.db'}")


def test_a_postgres_store_of_the_previous_release_migrates(pg_url: str, tmp_path: Path) -> None:
    import psycopg

    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((FIXTURES / "stores" / "schema4-postgres.sql").read_text())  # type: ignore[arg-type]
    store = ScanStore(pg_url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM store_meta WHERE key = 'schema_version'").scalar() == "7"
        kinds = dict(
            conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'scan'"
            ).all()
        )
        upright = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'phash_upright' ORDER BY 1"
        ).all()
        sidecars = conn.exec_driver_sql(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'sidecars' ORDER BY 1"
        ).all()
    assert kinds["images"] == kinds["failing"] == "bigint"
    assert [t for (t,) in upright] == ["fingerprint_cache", "image"]  # schema 6 added them
    assert [t for (t,) in sidecars] == ["fingerprint_cache", "image"]  # schema 7 added them
    listing = R.invoke(app, ["reference", "list", "--db", pg_url])
    assert "laion-sample\t2 entries" in listing.output
    doc = _report(pg_url, tmp_path / "r.json", "--reference", "laion-sample")  # the stored set, by name
    assert len(doc["findings"]) == 22  # type: ignore[arg-type]
    assert any(f["verdict"] == "known_scraped" for f in doc["findings"])  # type: ignore[index,union-attr]


def test_a_sqlite_store_of_the_previous_release_migrates(tmp_path: Path) -> None:
    import shutil
    import sqlite3

    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "stores" / "schema4.db", path)
    db = f"sqlite:///{path}"
    listing = R.invoke(app, ["scans", "--db", db])
    assert listing.exit_code == 0 and "1\tcomplete" in listing.output
    out = tmp_path / "old.json"
    assert R.invoke(app, ["report", "1", "--db", db, "--report", str(out)]).exit_code == 0
    assert len(json.loads(out.read_text())["findings"]) == 22
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM store_meta").fetchone() == ("7",)
    for table in ("image", "fingerprint_cache"):  # schema 6 added the upright pHash, 7 the sidecars' digest
        assert {"phash_upright", "sidecars"} <= {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
    assert "laion-sample" in R.invoke(app, ["reference", "list", "--db", db]).output
    doc = _report(db, tmp_path / "new.json")
    assert len(doc["findings"]) == 22  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [1, 99])
def test_a_store_of_an_unknown_schema_is_refused_by_name(tmp_path: Path, version: int) -> None:
    import sqlite3

    path = tmp_path / "x.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
        conn.execute("INSERT INTO store_meta VALUES ('schema_version', ?)", (str(version),))
    result = R.invoke(app, ["scans", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 2 and f"has schema {version}" in result.output


def test_a_path_longer_than_an_index_key_is_a_finding_on_both_stores(pg_url: str, tmp_path: Path) -> None:
    """A path of 3,000+ bytes (legal on Linux) exceeds what PostgreSQL indexes (~2,700 bytes): it was an
    internal error there. It is now an unreadable finding under a shortened key, the same on both stores,
    and the sidecar beside it is bound into the digest under its own shortened key."""
    import hashlib
    import os
    import shutil

    from consentaudit.attest import compare_dataset
    from consentaudit.sources.item import MAX_PATH_BYTES

    dataset = tmp_path / "set"
    folder = str(dataset)
    for i in range(30):  # names that do not compress: hex of a hash
        folder = os.path.join(folder, hashlib.sha256(str(i).encode()).hexdigest() * 2)
    os.makedirs(folder)
    shutil.copy(FIXTURES / "photos" / "canon-ixus.jpg", os.path.join(folder, "deep.jpg"))
    Path(folder, "deep.json").write_text('{"url": "https://example.org/deep.jpg"}')
    shutil.copy(FIXTURES / "photos" / "canon-ixus.jpg", dataset / "near.jpg")
    docs = []
    for db, name in ((pg_url, "pg.json"), (f"sqlite:///{tmp_path / 'db'}", "sqlite.json")):
        args = ["scan", str(dataset), "--db", db, "-q", "--fail-on", "none", "--report", str(tmp_path / name)]
        result = R.invoke(app, args)
        assert result.exit_code == 0, result.output
        docs.append(json.loads((tmp_path / name).read_text()))
    pg, lite = docs
    assert _comparable(pg)["findings"] == _comparable(lite)["findings"]
    deep = next(f for f in pg["findings"] if f["path"] != "near.jpg")
    assert len(deep["path"].encode()) <= MAX_PATH_BYTES < 3000
    assert deep["verdict"] == "unreadable" and "longer than the 2048" in deep["reasons"][0]["detail"]
    assert deep["path"].endswith("/deep.jpg")
    assert [len(f["path"].encode()) <= MAX_PATH_BYTES for f in pg["files"]] == [True]
    assert compare_dataset(pg, dataset).matches
