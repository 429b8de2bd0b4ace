"""A picture is recognised whichever way its pixels are stored: a camera file tagged with an EXIF
Orientation and a copy saved upright (the tag applied, as editors and web pipelines save it) match as
references, as consent records and as duplicates. Real files: fixtures/orientation, one photo stored eight
ways (EXIF Orientation 1-8)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from conftest import ORIENTATION, PHOTOS
from consentaudit.cli.app import app

R = CliRunner()


def _scan(tmp_path: Path, ds: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "r.json"
    db = f"sqlite:///{tmp_path / 'db'}"
    result = R.invoke(app, ["scan", str(ds), "--db", db, "-q", "--fail-on", "none", "--report", str(out), *args])
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text()))


def _findings(report: dict[str, object]) -> dict[str, dict[str, object]]:
    return {f["path"]: f for f in report["findings"]}  # type: ignore[attr-defined]


def _dataset(tmp_path: Path, turns: range) -> Path:
    ds = tmp_path / "ds"
    ds.mkdir()
    for n in turns:
        shutil.copy(ORIENTATION / f"landscape_{n}.jpg", ds)
    shutil.copy(PHOTOS / "nikon-e950.jpg", ds / "other.jpg")  # an unrelated photo
    return ds


def test_every_stored_turn_finds_the_upright_reference_and_is_one_duplicate_group(tmp_path: Path) -> None:
    """Seven files tagged 2-8 against a reference set holding the untagged file: each is known scraped (the
    six rotated or flipped ones through the upright pHash), and the seven are one duplicate group though no
    two store their pixels alike and the untagged file is not in the dataset."""
    ds = _dataset(tmp_path, range(2, 9))
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", ref)
    report = _scan(tmp_path, ds, "--reference", str(ref))
    found = _findings(report)
    for n in range(2, 9):
        f = found[f"landscape_{n}.jpg"]
        assert f["verdict"] == "known_scraped", f
        assert f["reference"]["record_id"] == "ref:landscape_1.jpg"  # type: ignore[index]
        if n != 2:  # the mirrored file is found through its mirrored pHash
            assert f["reference"]["hash"].startswith("phash_upright"), f  # type: ignore[index]
    assert found["other.jpg"]["verdict"] != "known_scraped"
    assert report["duplicates"] == [[f"landscape_{n}.jpg" for n in range(2, 9)]]


def test_a_tagged_reference_finds_a_copy_saved_upright(tmp_path: Path) -> None:
    """The reference is the camera file (tag 6); the dataset holds the untagged file and a copy that an
    editor turned upright, shrank and saved without EXIF: both are found through the reference's upright view."""
    ds = _dataset(tmp_path, range(1, 2))
    with Image.open(ORIENTATION / "landscape_8.jpg") as im:
        baked = ImageOps.exif_transpose(im).convert("RGB")
    baked.resize((baked.width * 2 // 3, baked.height * 2 // 3)).save(ds / "saved-upright.jpg", quality=80)
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(ORIENTATION / "landscape_6.jpg", ref)
    found = _findings(_scan(tmp_path, ds, "--reference", str(ref)))
    for name in ("landscape_1.jpg", "saved-upright.jpg"):
        assert found[name]["verdict"] == "known_scraped", found[name]
        assert "@upright" in found[name]["reference"]["hash"]  # type: ignore[index]
    assert found["other.jpg"]["verdict"] != "known_scraped"


def test_a_consent_record_of_the_picture_as_shown_covers_the_tagged_file(tmp_path: Path) -> None:
    """A record made from the upright copy (its pHash only) covers the camera file tagged 6, and a re-judge
    from the store (only the date changes) keeps that match without opening an image."""
    from consentaudit import fingerprint
    from consentaudit.fingerprint import fingerprint_bytes

    ds = _dataset(tmp_path, range(6, 7))
    shown = fingerprint_bytes((ORIENTATION / "landscape_1.jpg").read_bytes()).phash
    manifest = tmp_path / "consents.csv"
    manifest.write_text(
        "record_id,phash,subject_ids,status,purposes,granted_at,license,evidence\n"
        f"r-1,{shown},subj-1,granted,ai-training,2025-03-01,CC-BY-4.0,release/r-1.pdf\n"
    )
    args = ("--manifest", str(manifest), "--purpose", "ai-training")
    first = _findings(_scan(tmp_path, ds, *args, "--as-of", "2026-11-26"))
    assert first["landscape_6.jpg"]["verdict"] == "consented", first["landscape_6.jpg"]
    assert first["other.jpg"]["verdict"] == "unconsented"
    mp = pytest.MonkeyPatch()
    opened: list[object] = []
    mp.setattr(fingerprint.Image, "open", lambda *a, **k: opened.append(a))
    try:
        again = _findings(_scan(tmp_path, ds, *args, "--as-of", "2026-11-27"))
    finally:
        mp.undo()
    assert opened == [] and again["landscape_6.jpg"]["verdict"] == "consented"


def test_explain_shows_the_upright_code_and_the_turn(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, range(6, 7))
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(ORIENTATION / "landscape_1.jpg", ref)
    _scan(tmp_path, ds, "--reference", str(ref))
    result = R.invoke(app, ["explain", "landscape_6.jpg", "--db", f"sqlite:///{tmp_path / 'db'}"])
    assert result.exit_code == 0, result.output
    assert "(EXIF orientation 6)" in result.output and "ref:landscape_1.jpg" in result.output


def test_manifest_init_records_the_upright_picture_and_covers_both_kinds_of_copy(tmp_path: Path) -> None:
    """`manifest init` over the camera file (tag 6) writes its stored pHash and its upright pHash. The record
    then covers a copy an editor saved upright (through the upright code) and a copy that kept the stored
    pixels but lost the tag, as img2dataset's re-encoding does (through the stored pHash); not another photo."""
    originals = tmp_path / "originals"
    originals.mkdir()
    shutil.copy(ORIENTATION / "landscape_6.jpg", originals)
    shutil.copy(ORIENTATION / "landscape_1.jpg", originals)
    manifest = tmp_path / "consents.csv"
    init = ["manifest", "init", str(originals), "-o", str(manifest), "--status", "granted", "--purpose", "ai-training"]
    assert R.invoke(app, [*init, "--granted-at", "2025-01-01"]).exit_code == 0
    rows = {r["path"]: r for r in csv.DictReader(manifest.open())}
    assert rows["landscape_6.jpg"]["phash_upright"] and not rows["landscape_1.jpg"]["phash_upright"]
    assert rows["landscape_6.jpg"]["phash_upright"] != rows["landscape_6.jpg"]["phash"]
    manifest.write_text("".join(line for line in manifest.open() if "landscape_1.jpg" not in line))  # one record
    ds = tmp_path / "ds"
    ds.mkdir()
    with Image.open(ORIENTATION / "landscape_6.jpg") as im:
        ImageOps.exif_transpose(im).convert("RGB").resize((300, 225)).save(ds / "saved-upright.jpg", quality=80)
        im.convert("RGB").save(ds / "stored-pixels.jpg", quality=90)  # no exif= : the tag is gone
    shutil.copy(PHOTOS / "nikon-e950.jpg", ds / "other.jpg")
    found = _findings(_scan(tmp_path, ds, "--manifest", str(manifest), "--purpose", "ai-training"))
    assert found["saved-upright.jpg"]["verdict"] == "consented", found["saved-upright.jpg"]
    assert found["saved-upright.jpg"]["match"]["hash"] == "phash@upright"  # type: ignore[index]
    assert found["stored-pixels.jpg"]["verdict"] == "consented", found["stored-pixels.jpg"]
    assert found["other.jpg"]["verdict"] == "unconsented"
