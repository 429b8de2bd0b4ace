"""`explain PATH`: what was considered for one image, with distances, and the reason that decided."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import imagehash
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import FIXTURES, MANIFESTS, SCRAPED
from consentaudit.cli.app import app

R = CliRunner()
DATASET = FIXTURES / "dataset"


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("explain")
    db, report = f"sqlite:///{tmp / 'db'}", tmp / "audit.json"
    args = ["scan", str(DATASET), "-m", str(MANIFESTS / "fixtures.csv"), "-m", str(MANIFESTS / "fixtures-extra.jsonl")]
    args += ["--reference", str(SCRAPED), "--as-of", "2026-11-26", "--db", db, "--report", str(report)]
    R.invoke(app, [*args, "--quiet", "--no-thumbnails", "--fail-on", "none"])
    return db, report


def _explain(audited: tuple[str, Path], path: str, *extra: str) -> dict[str, object]:
    result = R.invoke(app, ["explain", path, "--db", audited[0], "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.output)
    return doc


def _record_phashes() -> dict[str, str]:
    with (MANIFESTS / "fixtures.csv").open(encoding="utf-8") as f:
        out = {r["record_id"]: r["phash"] for r in csv.DictReader(f) if r["phash"]}
    for line in (MANIFESTS / "fixtures-extra.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("phash"):
            out[r["record_id"]] = r["phash"]
    return out


def test_an_unconsented_image_lists_its_nearest_records_with_true_distances(audited: tuple[str, Path]) -> None:
    doc = _explain(audited, "unconsented/sanyo-vpcsx550.jpg")
    assert doc["derived"]["verdict"] == "unconsented" == doc["claimed"]["verdict"]  # type: ignore[index]
    assert doc["records"] == []
    nearest = doc["nearest"]
    assert isinstance(nearest, list) and len(nearest) == 5
    # the distances are those imagehash gives for the file against each record's pHash, smallest first
    with Image.open(DATASET / "unconsented/sanyo-vpcsx550.jpg") as im:
        own = imagehash.phash(im.convert("L"))
        mirrored = imagehash.phash(im.convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    phashes = _record_phashes()
    expected = sorted(
        min(own - imagehash.hex_to_hash(h), mirrored - imagehash.hex_to_hash(h)) for h in phashes.values()
    )[:5]
    assert [c["distance"] for c in nearest] == expected
    assert all(c["within"] is False for c in nearest)


def test_a_revoked_copy_shows_the_record_what_it_says_and_its_duplicates(audited: tuple[str, Path]) -> None:
    doc = _explain(audited, "revoked/olympus-c960-small.jpg")
    (record,) = [c for c in doc["records"] if c["within"]]  # type: ignore[union-attr]
    assert record["id"] == "r-0101" and record["how"].startswith("phash d=")
    assert record["says"] == ["record r-0101: consent revoked on 2026-06-01"]
    assert doc["duplicates"] == ["revoked/olympus-c960.jpg"]
    assert doc["derived"]["reasons"][0]["verdict"] == "revoked"  # type: ignore[index]


def test_text_output_names_the_deciding_reason_signals_and_reference(audited: tuple[str, Path]) -> None:
    db, report = audited
    # a file path inside the dataset and a report file work as well as a report path and a stored scan
    out = R.invoke(app, ["explain", str(DATASET / "opted-out/sony-cybershot.jpg"), "--scan", str(report)]).output
    assert "-> opted_out: XMP plus:DataMining = DMI-PROHIBITED-AIMLTRAINING prohibits ai-training" in out
    assert "iptc-data-mining: DMI-PROHIBITED-AIMLTRAINING from XMP plus:DataMining" in out
    assert "verdict re-derived now: opted_out (agrees)" in out
    out = R.invoke(app, ["explain", "web/sony-d700-q50.jpg", "--db", db]).output
    assert "MATCH scraped:web-0001.jpg" in out and "-> known_scraped" in out
    assert R.invoke(app, ["explain", "no/such.jpg", "--db", db]).exit_code == 2


def test_explain_notices_a_changed_file(audited: tuple[str, Path], tmp_path: Path) -> None:
    import shutil

    _, report = audited
    copy = tmp_path / "ds"
    shutil.copytree(DATASET, copy)
    shutil.copy(DATASET / "unconsented/sanyo-vpcsx550.jpg", copy / "consented/canon-ixus.jpg")
    result = R.invoke(app, ["explain", "consented/canon-ixus.jpg", "--scan", str(report), "--dataset", str(copy)])
    assert "DIFFERS: the report says consented" in result.output
    assert "the file's bytes are not those the report recorded" in result.output


def test_a_revocation_spread_from_a_copy_is_re_derived(tmp_path: Path) -> None:
    """B has no record of its own; A's record (sha256 only) is revoked; B is a re-encoded copy of A, so the
    report revokes B through their duplicate group — and explain, reading the group, agrees."""
    import hashlib
    import io

    from conftest import PHOTOS

    ds = tmp_path / "ds"
    ds.mkdir()
    original = (PHOTOS / "canon-ixus.jpg").read_bytes()
    (ds / "a.jpg").write_bytes(original)
    with Image.open(io.BytesIO(original)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=80)
    (ds / "b.jpg").write_bytes(buf.getvalue())
    manifest = tmp_path / "m.csv"
    sha = hashlib.sha256(original).hexdigest()
    manifest.write_text(
        f"record_id,sha256,status,purposes,granted_at,revoked_at\nr-1,{sha},revoked,ai-training,2025-01-01,2026-01-01\n"
    )
    report = tmp_path / "r.json"
    args = ["scan", str(ds), "-m", str(manifest), "--as-of", "2026-11-26", "--db", f"sqlite:///{tmp_path / 'db'}"]
    R.invoke(app, [*args, "--report", str(report), "--quiet", "--fail-on", "none"])
    verdicts = {f["path"]: f["verdict"] for f in json.loads(report.read_text())["findings"]}
    assert verdicts == {"a.jpg": "revoked", "b.jpg": "revoked"}
    out = R.invoke(app, ["explain", "b.jpg", "--scan", str(report)]).output
    assert "verdict re-derived now: revoked (agrees)" in out
    assert "-> revoked:" in out and "a.jpg" in out


def test_a_file_given_by_its_own_name_is_found_under_the_name_the_report_shows(tmp_path: Path) -> None:
    """A file whose name holds a byte that is not UTF-8 is reported as `a\\xff.jpg`; given by its path on
    disk, `explain` finds it under that name."""
    import os
    import shutil

    from conftest import PHOTOS

    root = tmp_path / "ds"
    root.mkdir()
    raw = (os.fsencode(str(root)) + b"/a\xff.jpg").decode("utf-8", "surrogateescape")
    shutil.copy(PHOTOS / "canon-ixus.jpg", raw)
    db = f"sqlite:///{tmp_path / 'db'}"
    assert R.invoke(app, ["scan", str(root), "--db", db, "-q", "--fail-on", "none"]).exit_code == 0
    doc = _explain((db, tmp_path / "unused.json"), raw)
    assert doc["path"] == "a\\xff.jpg"
