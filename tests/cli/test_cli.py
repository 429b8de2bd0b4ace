"""The core audit end to end through the CLI, on the committed fixtures."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, EXPECTED, MANIFESTS, scan_args
from consentaudit import audit as scan_command
from consentaudit.cli.app import app


def _scan(runner: CliRunner, dataset: Path, db: str, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, scan_args(dataset, db, *extra))
    return result.exit_code, result.output


def test_every_fixture_gets_its_expected_verdict(runner: CliRunner, db: str, tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    code, output = _scan(runner, DATASET, db, "--report", str(out))
    assert code == 1, output
    report = json.loads(out.read_text())
    got = {f["path"]: f["verdict"] for f in report["findings"]}
    assert got == EXPECTED["verdicts"]
    # every verdict is exercised by the fixtures
    assert set(got.values()) == {
        "consented",
        "unconsented",
        "revoked",
        "expired",
        "out_of_scope",
        "opted_out",
        "known_scraped",
        "unreadable",
    }
    assert report["summary"]["images"] == len(EXPECTED["verdicts"])


def test_report_records_match_kind_and_distance(runner: CliRunner, db: str, tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    _scan(runner, DATASET, db, "--report", str(out))
    by_path = {f["path"]: f for f in json.loads(out.read_text())["findings"]}
    assert by_path["renamed/IMG_0001.jpg"]["match"]["kind"] == "sha256"
    assert by_path["by-path/sony-powershota5.jpg"]["match"]["kind"] == "path"
    resized = by_path["resized/finepix40i-half.jpg"]["match"]
    assert resized["kind"] == "perceptual" and resized["record_id"] == "r-0003"
    assert 0 <= resized["distance"] <= 9
    opted = by_path["opted-out/sony-cybershot.jpg"]
    assert any("conflicts with record r-0010" in r["detail"] for r in opted["reasons"])
    assert any(r["verdict"] == "consented" for r in opted["reasons"])  # every reason that applied is listed
    assert opted["signals"][0]["value"] == "DMI-PROHIBITED-AIMLTRAINING"
    # the exact copy and the original form a duplicate group
    groups = json.loads(out.read_text())["duplicates"]
    assert ["consented/canon-ixus.jpg", "copies/canon-ixus (copy).jpg"] in groups


def test_json_report_header_and_determinism(runner: CliRunner, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _scan(runner, DATASET, f"sqlite:///{tmp_path / 'one.db'}", "--report", str(a))
    _scan(runner, DATASET, f"sqlite:///{tmp_path / 'two.db'}", "--report", str(b))
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ra["schema_version"] == "1"
    h = ra["header"]
    assert h["as_of"] == EXPECTED["as_of"] and h["purposes"] == ["ai-training"]
    assert [m["records"] for m in h["manifests"]] == [10, 4]
    assert all(len(m["sha256"]) == 64 for m in h["manifests"])
    assert h["references"][0]["entries"] == 2
    for r in (ra, rb):
        for key in ("started_at", "finished_at", "scan_id"):
            r["header"].pop(key)
    assert ra == rb
    assert [f["path"] for f in ra["findings"]] == sorted(f["path"] for f in ra["findings"])


def test_csv_and_markdown_reports(runner: CliRunner, db: str, tmp_path: Path) -> None:
    c, m = tmp_path / "audit.csv", tmp_path / "audit.md"
    _scan(runner, DATASET, db, "--report", str(c), "--report", str(m))
    rows = list(csv.DictReader(c.open()))
    assert {r["path"]: r["verdict"] for r in rows} == EXPECTED["verdicts"]
    md = m.read_text()
    assert "| revoked | 2 |" in md
    assert "unconsented/sanyo-vpcsx550.jpg" in md
    assert "consented/canon-ixus.jpg" not in md.split("## Findings")[1].split("## Duplicate")[0]


def test_exit_zero_when_nothing_falls_under_fail_on(runner: CliRunner, db: str) -> None:
    code, _ = _scan(
        runner, DATASET, db, "--fail-on", "known_scraped,unreadable,revoked,expired,out_of_scope,opted_out,unconsented"
    )
    assert code == 1
    code, _ = _scan(runner, DATASET / "consented", db, "--fail-on", "unconsented")
    assert code == 0
    code, _ = _scan(runner, DATASET, db, "--fail-on", "none")
    assert code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "no/such/dataset", "--quiet"],
        ["scan", str(DATASET), "--as-of", "26/11/2026"],
        ["scan", str(DATASET), "--fail-on", "bogus"],
        ["scan", str(DATASET), "--report", "out.pdf"],
        ["scan", str(DATASET), "--manifest", "missing.csv"],
        ["scan", str(DATASET), "--no-such-flag"],
    ],
)
def test_usage_and_input_errors_exit_2(runner: CliRunner, db: str, args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--db", db])
    assert result.exit_code == 2, result.output


def test_invalid_manifest_stops_before_scanning(runner: CliRunner, db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,sha256,status,purposes\nx1,abc,granted,ai-training\nx1,,maybe,\n")
    result = runner.invoke(app, ["scan", str(DATASET), "--manifest", str(bad), "--db", db, "--quiet"])
    assert result.exit_code == 2
    assert f"{bad}:2: sha256:" in result.output
    assert f"{bad}:3: status: unknown status 'maybe'" in result.output
    assert f"{bad}:3: record_id: duplicate record_id 'x1'" in result.output
    listed = runner.invoke(app, ["scans", "--db", db])
    assert "no scans stored" in listed.output


def test_internal_error_exits_3_and_ctrl_c_exits_130(
    runner: CliRunner, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(scan_command, "run_audit", boom)
    result = runner.invoke(app, ["scan", str(DATASET), "--db", db, "--quiet"])
    assert result.exit_code == 3 and "internal error: RuntimeError: disk on fire" in result.output

    def interrupt(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(scan_command, "run_audit", interrupt)
    result = runner.invoke(app, ["scan", str(DATASET), "--db", db, "--quiet"])
    assert result.exit_code == 130


def test_summary_is_printed(runner: CliRunner, db: str) -> None:
    args = [a for a in scan_args(DATASET, db) if a != "--quiet"]
    result = runner.invoke(app, args)
    assert "known_scraped" in result.output and "total" in result.output
    assert "12 image(s) under --fail-on" in result.output


def test_scans_listing_and_report_rerender(runner: CliRunner, db: str, tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    _scan(runner, DATASET, db, "--report", str(first))
    listing = runner.invoke(app, ["scans", "--db", db])
    assert listing.exit_code == 0 and "complete" in listing.output
    scan_id = json.loads(first.read_text())["header"]["scan_id"]
    again = tmp_path / "again.json"
    result = runner.invoke(app, ["report", str(scan_id), "--report", str(again), "--db", db])
    assert result.exit_code == 0, result.output
    assert json.loads(again.read_text()) == json.loads(first.read_text())
    assert runner.invoke(app, ["report", "999", "--report", str(again), "--db", db]).exit_code == 2


def test_fingerprint_file_works_as_reference(runner: CliRunner, db: str, tmp_path: Path) -> None:
    refs = tmp_path / "refs.jsonl"
    result = runner.invoke(app, ["fingerprint", str(DATASET.parent / "scraped"), "-o", str(refs), "--quiet"])
    assert result.exit_code == 0, result.output
    args = scan_args(DATASET, db, "--report", str(tmp_path / "a.json"))
    args[args.index("--reference") + 1] = str(refs)
    runner.invoke(app, args)
    findings = json.loads((tmp_path / "a.json").read_text())["findings"]
    assert {f["path"] for f in findings if f["verdict"] == "known_scraped"} == {"web/sony-d700-q50.jpg"}


def test_caches_damaged_but_still_parseable_change_no_verdict(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest and reference caches after a first scan, damaged so that they still parse (every consent
    turned to a revocation; every reference array zeroed): a second scan notices, reads the files again and
    gives every verdict of the first."""
    import numpy as np

    cache = tmp_path / "cache"
    monkeypatch.setenv("CONSENTAUDIT_CACHE_DIR", str(cache))
    refs = tmp_path / "refs.jsonl"
    assert runner.invoke(app, ["fingerprint", str(DATASET.parent / "scraped"), "-o", str(refs), "-q"]).exit_code == 0

    def verdicts(name: str) -> dict[str, str]:
        args = scan_args(DATASET, f"sqlite:///{tmp_path / name}.db", "--report", str(tmp_path / f"{name}.json"))
        args[args.index("--reference") + 1] = str(refs)
        runner.invoke(app, args)
        return {f["path"]: f["verdict"] for f in json.loads((tmp_path / f"{name}.json").read_text())["findings"]}

    first = verdicts("first")
    assert first == EXPECTED["verdicts"]
    entries = list((cache / "manifests").iterdir())
    assert len(entries) == 2
    for entry in entries:
        entry.write_bytes(entry.read_bytes().replace(b'"granted"', b'"revoked"'))
    npy = list((cache / "references").rglob("*.npy"))
    assert npy
    for f in npy:
        data = np.load(f)
        with f.open("r+b") as fh:
            fh.seek(-data.nbytes, os.SEEK_END)
            fh.write(bytes(data.nbytes))
        assert not np.load(f).any()  # still a valid array, of zeros
    assert verdicts("second") == first


def test_manifest_init_then_validate(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "consents.csv"
    result = runner.invoke(app, ["manifest", "init", str(DATASET / "consented"), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert {r["path"] for r in rows} == {"broken-exif.jpg", "canon-ixus.jpg"}
    two = tmp_path / "two-jobs.csv"  # fingerprinted on two processes: the same manifest
    args = ["manifest", "init", str(DATASET / "consented"), "-o", str(two), "--jobs", "2", "--quiet"]
    assert runner.invoke(app, args).exit_code == 0 and two.read_bytes() == out.read_bytes()
    assert all(len(r["sha256"]) == 64 and len(r["phash"]) == 16 and len(r["phash256"]) == 64 for r in rows)
    # a skeleton has no status yet: validation lists that for every row
    result = runner.invoke(app, ["manifest", "validate", str(out)])
    assert result.exit_code == 2 and result.output.count(": status: required") == 2
    ok = runner.invoke(
        app, ["manifest", "validate", str(MANIFESTS / "fixtures.csv"), str(MANIFESTS / "fixtures-extra.jsonl")]
    )
    assert ok.exit_code == 0 and "14 record(s)" in ok.output


def test_summary_prints_file_text_literally(runner: CliRunner, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "[bold]x[red].jpg").write_bytes((DATASET / "consented" / "canon-ixus.jpg").read_bytes())
    result = runner.invoke(app, ["scan", str(ds), "--db", f"sqlite:///{tmp_path / 'db'}"])
    assert "[bold]x[red].jpg" in result.output  # not swallowed as terminal markup


def test_a_near_flat_image_is_not_matched_perceptually(runner: CliRunner, db: str, tmp_path: Path) -> None:
    """Two different near-blank frames share their pHash layout; a record for one must not cover the other."""
    import imagehash
    from PIL import Image, ImageDraw

    ds = tmp_path / "ds"
    ds.mkdir()
    a = Image.new("RGB", (640, 480), (20, 20, 24))
    ImageDraw.Draw(a).rectangle((0, 0, 320, 480), fill=(30, 30, 34))  # a dark frame, faintly two-tone
    b = Image.new("RGB", (640, 480), (200, 190, 180))
    ImageDraw.Draw(b).rectangle((0, 0, 320, 480), fill=(215, 205, 195))  # another picture, same layout
    a.save(tmp_path / "a.jpg", quality=90)
    b.save(ds / "b.jpg", quality=90)
    phash_a = str(imagehash.phash(Image.open(tmp_path / "a.jpg")))
    phash_b = str(imagehash.phash(Image.open(ds / "b.jpg")))
    assert bin(int(phash_a, 16) ^ int(phash_b, 16)).count("1") <= 9  # within the threshold: they would match
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"record_id,phash,status,purposes,granted_at\nr-a,{phash_a},granted,ai-training,2025-01-01\n")
    out = tmp_path / "r.json"
    args = ["scan", str(ds), "--manifest", str(manifest), "--purpose", "ai-training", "--as-of", "2026-11-26"]
    result = runner.invoke(app, [*args, "--db", db, "--quiet", "--report", str(out), "--fail-on", "none"])
    assert result.exit_code == 0, result.output
    (finding,) = json.loads(out.read_text())["findings"]
    assert finding["verdict"] == "unconsented" and finding["match"] is None
    assert any("near-flat image" in r["detail"] for r in finding["reasons"])


def test_the_entry_point_leaves_with_its_status_after_closing_the_store(tmp_path: Path) -> None:
    """main() ends the process without interpreter teardown: the exit status is the command's, the store is
    closed first (SQLite's write-ahead log checkpointed into the file), a thread that is not a daemon finishes,
    exit handlers run and buffered output is flushed."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout block-buffered, as piped
    db_file = tmp_path / "a.db"
    cli = [sys.executable, "-m", "consentaudit.cli.app"]
    scan = subprocess.run([*cli, *scan_args(DATASET, f"sqlite:///{db_file}")], env=env, capture_output=True)
    assert scan.returncode == 1, scan.stderr  # findings fail the default --fail-on
    wal = db_file.with_name("a.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # everything is in the database file itself
    import sqlite3

    with sqlite3.connect(db_file) as conn:  # the file alone holds the scan and every finding
        assert conn.execute("SELECT count(*) FROM finding").fetchone()[0] == len(EXPECTED["verdicts"])

    code = (
        "import atexit, threading, time; atexit.register(print, 'handler ran'); print('buffered')\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
        "from consentaudit.cli.app import leave\n"
        "leave({arg})\n"
    )
    for arg, status in (("4", 4), ("None", 0), ("'no such scan'", 1)):
        done = subprocess.run([sys.executable, "-c", code.format(arg=arg)], env=env, capture_output=True, text=True)
        assert done.returncode == status
        assert done.stdout.split() == ["buffered", "thread", "done", "handler", "ran"]
        assert ("no such scan" in done.stderr) == (status == 1)
