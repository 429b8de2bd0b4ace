"""A damaged store is an input error that names the store and says what to do, never an internal error: a
SQLite file whose pages are malformed, a row whose JSON or codes are not what consentaudit writes (a damaged
page that still reads, another program's write), a schema version that is not a number. A stored reference
set whose packed columns are damaged loses nothing: it is rebuilt from its entry rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, FIXTURES, PHOTOS
from consentaudit.cli.app import app
from consentaudit.cli.errors import EXIT_INPUT

R = CliRunner()
AGAIN = ("--as-of", "2026-01-01")  # a re-judge: every cached fingerprint is read back from the store


def _scan(db: Path, dataset: Path = PHOTOS, *extra: str) -> tuple[int, str]:
    out = db.parent / "audit.json"
    args = ["scan", str(dataset), "--db", str(db), "-q", "--fail-on", "none", "-o", str(out), *extra]
    result = R.invoke(app, args)
    return result.exit_code, result.output


def _sql(db: Path, statement: str, *params: object) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement, params)


def _stored(tmp_path: Path) -> Path:
    db = tmp_path / "scans.db"
    code, output = _scan(db)
    assert code == 0, output
    return db


def test_malformed_pages_are_named_as_a_damaged_store(tmp_path: Path) -> None:
    db = _stored(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself, none in the WAL
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'image'").fetchone()[0]
    data = bytearray(db.read_bytes())
    start = (root - 1) * page
    data[start : start + page] = b"\xa5" * page  # the image table's root page: not a b-tree page any more
    db.write_bytes(bytes(data))
    code, output = _scan(db, PHOTOS, *AGAIN)
    assert code == EXIT_INPUT, output
    assert "is damaged" in output and "malformed" in output and "integrity_check" in output
    assert "internal error" not in output


def test_a_row_that_is_not_what_consentaudit_writes_is_named(tmp_path: Path) -> None:
    """A cached fingerprint a re-judge reads, and a finding `report SCAN_ID` reads: each names the store and
    the row."""
    db = _stored(tmp_path)
    _sql(db, "UPDATE finding SET data_json = ?", '{"verdict": "no-such-verdict"}')
    result = R.invoke(app, ["report", "1", "--db", str(db), "-o", str(tmp_path / "again.json")])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "the stored finding" in result.output and "damaged or not one consentaudit wrote" in result.output

    _sql(db, "UPDATE fingerprint_cache SET data_json = ?", '{"path": "broken')
    code, output = _scan(db, PHOTOS, *AGAIN)
    assert code == EXIT_INPUT, output
    assert "the stored image" in output and "damaged or not one consentaudit wrote" in output
    assert "internal error" not in output


def test_a_cached_code_that_is_not_hex_is_named_not_matched(tmp_path: Path) -> None:
    """A pHash in the cache that is not 16 hex digits would stop the matching with a ValueError deep inside
    it; it is refused where it is read, with the row named."""
    db = _stored(tmp_path)
    with sqlite3.connect(db) as conn:
        path, text = conn.execute("SELECT path, data_json FROM fingerprint_cache LIMIT 1").fetchone()
        row = json.loads(text)
        row["fingerprint"]["phash"] = "9c43b8ee439e833X"
        conn.execute("UPDATE fingerprint_cache SET data_json = ? WHERE path = ?", (json.dumps(row), path))
    code, output = _scan(db, PHOTOS, *AGAIN)
    assert code == EXIT_INPUT and f"the stored image {path!r}" in output and "9c43b8ee439e833X" in output


def test_a_schema_version_that_is_not_a_number(tmp_path: Path) -> None:
    db = _stored(tmp_path)
    _sql(db, "UPDATE store_meta SET value = '%' WHERE key = 'schema_version'")
    code, output = _scan(db)
    assert code == EXIT_INPUT and "is damaged (schema_version '%')" in output


def test_a_stored_set_with_damaged_columns_is_rebuilt_from_its_rows(tmp_path: Path) -> None:
    """The packed columns carry zip CRCs: damaged, they are read again from the set's entry rows (the scan's
    verdicts are the same); a damaged entry row itself is named."""
    db = tmp_path / "scans.db"
    result = R.invoke(app, ["reference", "build", "scraped", str(FIXTURES / "scraped"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    code, output = _scan(db, DATASET, "-r", "scraped")
    assert code == 0, output
    before = json.loads((tmp_path / "audit.json").read_text())
    with sqlite3.connect(db) as conn:
        (blob,) = conn.execute("SELECT data FROM reference_columns").fetchone()
        damaged = bytearray(blob)
        middle = len(damaged) // 2
        damaged[middle : middle + 16] = bytes(b ^ 0x5A for b in damaged[middle : middle + 16])
        conn.execute("UPDATE reference_columns SET data = ?", (bytes(damaged),))
    code, output = _scan(db, DATASET, "-r", "scraped")
    assert code == 0, output
    after = json.loads((tmp_path / "audit.json").read_text())
    verdicts = {f["path"]: (f["verdict"], f.get("reference")) for f in before["findings"]}
    assert {f["path"]: (f["verdict"], f.get("reference")) for f in after["findings"]} == verdicts
    assert any(v == "known_scraped" for v, _ in verdicts.values())

    _sql(db, "DELETE FROM reference_columns")
    _sql(db, "UPDATE reference_entry SET phash = 'not-a-code!!!!!!'")
    code, output = _scan(db, DATASET, "-r", "scraped")
    assert code == EXIT_INPUT and "of reference set 'scraped'" in output and "not-a-code" in output


def test_every_code_a_stored_fingerprint_carries_is_checked_where_it_is_read() -> None:
    """The codes a reference folder's cached fingerprints carry beyond the 64-bit ones — each view's codes and
    the 256-bit codes a probe kept — are parsed deep in the matching; a damaged one is refused when read."""
    from dataclasses import replace

    from consentaudit.codec import scanned_from_dict, scanned_to_dict
    from consentaudit.fingerprint import fingerprint_bytes
    from consentaudit.models import ScannedImage

    data = (PHOTOS / "canon-ixus.jpg").read_bytes()
    fp = fingerprint_bytes(data, 10**8, with256=True, views=True)
    fp = replace(fp, probed=(("phash256:phash_mirror", "0" * 64), ("keypoints:phash", "T1JCMQ==")))
    row = scanned_to_dict(ScannedImage("a.jpg", len(data), 1, fp))
    assert scanned_from_dict(json.loads(json.dumps(row))).fingerprint == fp
    assert fp.views, "the reference view codes this test damages"
    for damage in ("views", "probed", "phash_upright"):
        bad = json.loads(json.dumps(row))
        if damage == "views":
            bad["fingerprint"]["views"][0][1] = "not-hex-at-all!!"
        elif damage == "probed":
            bad["fingerprint"]["probed"][0][1] = "z" * 64
        else:
            bad["fingerprint"]["phash_upright"] = "0" * 15
        with pytest.raises(ValueError, match="hex digits"):
            scanned_from_dict(bad)
