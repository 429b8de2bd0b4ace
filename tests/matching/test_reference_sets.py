"""Named reference sets: build, list, export/import round trip, remove, URL lists, and scans against them."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from conftest import FIXTURES, PHOTOS, SCRAPED
from consentaudit.cli.app import app
from consentaudit.matching.keypoints import MIN_KEYPOINTS, Keypoints

R = CliRunner()


def _copies(ds: Path) -> None:
    """Transformed copies of the scraped originals, plus an unrelated photo."""
    ds.mkdir()
    with Image.open(SCRAPED / "web-0001.jpg") as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(ds / "half.jpg", quality=60)
        ImageOps.mirror(im.convert("RGB")).save(ds / "flipped.jpg", quality=85)
    with Image.open(SCRAPED / "web-0002.jpg") as im:
        buf = io.BytesIO()
        im.convert("L").save(buf, "PNG")
        (ds / "gray.png").write_bytes(buf.getvalue())
    (ds / "own.jpg").write_bytes((PHOTOS / "nikon-e950.jpg").read_bytes())


def _verdicts(out: Path) -> dict[str, str]:
    return {f["path"]: f["verdict"] for f in json.loads(out.read_text())["findings"]}


def test_build_list_export_import_remove_round_trip(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    r = R.invoke(
        app,
        [
            "reference",
            "build",
            "web-sample",
            str(SCRAPED),
            "--description",
            "two scraped photos",
            "--license",
            "mixed",
            "--db",
            db,
        ],
    )
    assert r.exit_code == 0, r.output
    listed = R.invoke(app, ["reference", "list", "--db", db]).output
    assert "web-sample\t2 entries" in listed and "two scraped photos" in listed
    exported = tmp_path / "web.jsonl"
    assert R.invoke(app, ["reference", "export", "web-sample", "-o", str(exported), "--db", db]).exit_code == 0
    lines = [json.loads(x) for x in exported.read_text().splitlines()]
    assert lines[0]["description"] == "two scraped photos" and lines[0]["license"] == "mixed"
    assert {x["path"] for x in lines[1:]} == {"web-0001.jpg", "web-0002.jpg"}
    assert all(len(x["phash256"]) == 64 and x["detail"] > 20 for x in lines[1:])  # real photos: full detail
    assert all(len(Keypoints.decode(x["keypoints"])) >= MIN_KEYPOINTS for x in lines[1:])  # and keypoints
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert R.invoke(app, ["reference", "import", str(exported), "--db", other]).exit_code == 0
    again = tmp_path / "again.jsonl"
    R.invoke(app, ["reference", "export", "web-sample", "-o", str(again), "--db", other])
    assert again.read_text() == exported.read_text()  # the round trip loses nothing
    assert R.invoke(app, ["reference", "build", "web-sample", str(SCRAPED), "--db", db]).exit_code == 2  # exists
    assert R.invoke(app, ["reference", "remove", "web-sample", "--db", db]).exit_code == 0
    assert "no reference sets stored" in R.invoke(app, ["reference", "list", "--db", db]).output
    assert R.invoke(app, ["reference", "remove", "web-sample", "--db", db]).exit_code == 2


def test_scan_with_a_stored_set_flags_transformed_copies(tmp_path: Path, monkeypatch: object) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    R.invoke(app, ["reference", "build", "web-sample", str(SCRAPED), "--db", db])
    ds = tmp_path / "ds"
    _copies(ds)
    out = tmp_path / "r.json"
    result = R.invoke(app, ["scan", str(ds), "--reference", "web-sample", "--db", db, "--quiet", "--report", str(out)])
    assert result.exit_code == 1, result.output
    got = _verdicts(out)
    assert got == {
        "flipped.jpg": "known_scraped",
        "gray.png": "known_scraped",
        "half.jpg": "known_scraped",
        "own.jpg": "unconsented",
    }
    report = json.loads(out.read_text())
    flipped = next(f for f in report["findings"] if f["path"] == "flipped.jpg")
    assert flipped["reference"]["hash"] == "phash_mirror+phash256"  # mirrored code, confirmed on 256 bits
    assert report["header"]["references"][0]["name"] == "web-sample"
    # the same set given as a path works the same
    out2 = tmp_path / "r2.json"
    R.invoke(app, ["scan", str(ds), "--reference", str(SCRAPED), "--db", db, "--quiet", "--report", str(out2)])
    assert _verdicts(out2) == got


def test_url_and_domain_lists_match_recorded_source_urls(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    urls = tmp_path / "laion-urls.txt"
    urls.write_text("# known scraped URLs\nhttps://photos.example.org/p/1.jpg\nexample.net\n")
    assert R.invoke(app, ["reference", "build", "laion-urls", str(urls), "--db", db]).exit_code == 0
    out = tmp_path / "r.json"
    R.invoke(
        app,
        ["scan", str(FIXTURES / "shards"), "--reference", "laion-urls", "--db", db, "--quiet", "--report", str(out)],
    )
    findings = {f["path"]: f for f in json.loads(out.read_text())["findings"]}
    assert findings["00000.tar/000000000.jpg"]["reference"]["kind"] == "url"
    assert findings["00000.tar/000000000.jpg"]["verdict"] == "known_scraped"
    assert findings["00000.tar/000000001.jpg"]["reference"]["kind"] == "domain"  # www.example.net
    assert findings["00000.tar/000000004.jpg"]["reference"] is None  # photos.example.org/p/5.jpg: not listed


def test_a_crawled_url_that_does_not_parse_is_no_match_not_a_failed_scan(tmp_path: Path) -> None:
    """A crawl record's URL is the crawled site's text: `http://[::1` makes urlsplit raise, which stopped
    the scan with an internal error in the domain lookup. It matches nothing; the other samples still do."""
    import io
    import tarfile

    shard = tmp_path / "00000.tar"
    photo = (FIXTURES / "photos" / "canon-ixus.jpg").read_bytes()
    with tarfile.open(shard, "w") as tf:
        for key, url in (("000000000", "http://[::1/a.jpg"), ("000000001", "https://www.example.net/b.jpg")):
            for name, data in (
                (f"{key}.jpg", photo + key.encode()),
                (f"{key}.json", json.dumps({"url": url}).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    urls = tmp_path / "domains.txt"
    urls.write_text("example.net\n")
    out = tmp_path / "r.json"
    result = R.invoke(app, ["scan", str(shard), "-r", str(urls), "--db", str(tmp_path / "db"), "-q", "-o", str(out)])
    assert result.exit_code == 1, result.output
    findings = {f["path"]: f for f in json.loads(out.read_text())["findings"]}
    assert findings["00000.tar/000000000.jpg"]["reference"] is None
    assert findings["00000.tar/000000001.jpg"]["reference"]["kind"] == "domain"


def test_parquet_url_column_builds_a_set(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    r = R.invoke(app, ["reference", "build", "crawl", str(FIXTURES / "shards" / "00000.parquet"), "--db", db])
    assert r.exit_code == 0 and "8 entries" in r.output  # every crawled URL, refused ones too


def _edit(src: Path, dst: Path, how: str) -> None:
    with Image.open(src) as im:
        im = im.convert("RGB")
        w, h = im.size
        if how in ("crop90", "crop95"):
            dx, dy = round(w * (0.05 if how == "crop90" else 0.025)), round(h * (0.05 if how == "crop90" else 0.025))
            im = im.crop((dx, dy, w - dx, h - dy))
        elif how == "rotate4":
            im = im.rotate(-4, resample=Image.Resampling.BICUBIC)
        elif how == "border10":
            im = ImageOps.expand(im, border=round(max(w, h) * 0.10), fill=(0, 0, 0))
        im.save(dst, quality=88)


def test_crops_rotations_and_borders_are_found_and_other_photos_are_not(tmp_path: Path) -> None:
    refs = tmp_path / "refs"
    refs.mkdir()
    originals = sorted(p for p in PHOTOS.glob("*.jpg") if "broken" not in p.name)
    outsiders = {"nikon-e950", "sony-d700"}  # their copies are scanned, the originals are not in the set
    for p in originals:
        if p.stem not in outsiders:
            (refs / p.name).write_bytes(p.read_bytes())
    ds = tmp_path / "ds"
    ds.mkdir()
    for p in originals:
        _edit(p, ds / f"{p.stem}-crop90.jpg", "crop90")
        _edit(p, ds / f"{p.stem}-crop95.jpg", "crop95")
        _edit(p, ds / f"{p.stem}-rotate4.jpg", "rotate4")
        _edit(p, ds / f"{p.stem}-border10.jpg", "border10")
    db = f"sqlite:///{tmp_path / 'db'}"
    R.invoke(app, ["reference", "build", "refs", str(refs), "--db", db])
    out = tmp_path / "r.json"
    R.invoke(app, ["scan", str(ds), "--reference", "refs", "--db", db, "--quiet", "--report", str(out)])
    findings = json.loads(out.read_text())["findings"]
    inside = [f for f in findings if f["path"].rsplit("-", 1)[0] not in outsiders]
    outside = [f for f in findings if f["path"].rsplit("-", 1)[0] in outsiders]
    wrong = [
        f["path"]
        for f in inside
        if f["reference"] is None or f["reference"]["record_id"] != "refs:" + f["path"].rsplit("-", 1)[0] + ".jpg"
    ]
    assert wrong == [], wrong  # every copy found, and found as a copy of its own original
    # borders are trimmed before hashing, and the 256-bit confirmation is computed on the trimmed image too
    assert {f["reference"]["hash"] for f in inside} >= {"phash_trim+phash256"}
    # 10% crops and small rotations are found through the entries' views
    views = {f["reference"]["hash"].rsplit("@", 1)[-1] for f in inside if "@" in f["reference"]["hash"]}
    assert {"c90", "r-5"} <= views, views
    # copies whose 256-bit codes fall short of SURE_SLACK are confirmed by their keypoints
    assert any(f["reference"]["hash"].startswith("phash+keypoints(") for f in inside)
    assert [f["path"] for f in outside if f["reference"] is not None] == []  # never tied to another photo


@pytest.mark.parametrize("version", [2, 3])
def test_an_older_store_is_migrated(tmp_path: Path, version: int) -> None:
    import sqlite3

    db_path = tmp_path / "db"
    db = f"sqlite:///{db_path}"
    assert R.invoke(app, ["reference", "build", "web-sample", str(SCRAPED), "--db", db]).exit_code == 0
    con = sqlite3.connect(db_path)  # make it what that release wrote: 2 had no `detail`, `views`, 3 no `keypoints`
    for column in ["keypoints", *(["detail", "views"] if version == 2 else [])]:
        con.execute(f"ALTER TABLE reference_entry DROP COLUMN {column}")
    for table in ("image", "fingerprint_cache"):  # ... and none had `phash_upright` (6) or `sidecars` (7)
        con.execute(f"ALTER TABLE {table} DROP COLUMN phash_upright")
        con.execute(f"ALTER TABLE {table} DROP COLUMN sidecars")
    con.execute(f"UPDATE store_meta SET value = '{version}' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    listed = R.invoke(app, ["reference", "list", "--db", db])
    assert listed.exit_code == 0 and "web-sample\t2 entries" in listed.output
    ds = tmp_path / "ds"
    _copies(ds)
    out = tmp_path / "r.json"
    R.invoke(app, ["scan", str(ds), "--reference", "web-sample", "--db", db, "--quiet", "--report", str(out)])
    assert _verdicts(out)["half.jpg"] == "known_scraped"  # old entries (detail unknown) still match


def test_a_stored_sets_keypoints_are_read_only_when_asked(tmp_path: Path) -> None:
    import pickle
    from dataclasses import replace

    from consentaudit.store import ReferenceSets, ScanStore, StoredKeypoints

    db = f"sqlite:///{tmp_path / 'db'}"
    assert R.invoke(app, ["reference", "build", "web-sample", str(SCRAPED), "--db", db]).exit_code == 0
    sets = ReferenceSets(ScanStore(db))
    _, full = sets.load("web-sample")
    _, light = sets.load("web-sample", keypoints=False)
    assert all(e.keypoints for e in full) and not any(e.keypoints for e in light)
    assert [replace(e, keypoints=None) for e in full] == light  # nothing else is left out
    reader = pickle.loads(pickle.dumps(StoredKeypoints(db, ["web-sample"])))  # as a worker receives it
    assert [reader(e) for e in light] == [e.keypoints for e in full]
    assert reader(replace(light[0], set_name="another")) is None


def test_a_reference_folder_is_fingerprinted_once_and_again_when_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from consentaudit import inputs
    from consentaudit.audit import run_audit
    from consentaudit.request import AuditRequest
    from consentaudit.store import ScanStore

    refs = tmp_path / "scraped"
    shutil.copytree(SCRAPED, refs)
    dataset = tmp_path / "ds"
    shutil.copytree(FIXTURES / "dataset" / "copies", dataset)
    scanned: list[str] = []
    real = inputs.fingerprint_items

    def counting(items: list[object], *args: object, **kwargs: object) -> object:
        scanned.extend(str(getattr(i, "path", "")) for i in items)
        return real(items, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inputs, "fingerprint_items", counting)
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")

    def audit(day: int) -> dict[str, str]:
        req = AuditRequest(dataset=dataset, references=[refs], jobs=1, as_of=date(2026, 11, day))
        return {f.path: f.verdict.value for f in run_audit(req, store).findings}

    first = audit(1)
    assert sorted(scanned) == sorted(p.name for p in refs.iterdir())
    scanned.clear()
    assert audit(2) == first  # another date: the references come from the cache
    assert scanned == []
    changed = sorted(refs.iterdir())[0]
    changed.write_bytes((PHOTOS / "kodak-dc210.jpg").read_bytes())
    audit(3)
    assert scanned == [changed.name]  # only the changed file is fingerprinted again


def test_a_crawl_records_sha256_of_the_download_ties_a_resized_sample_to_a_known_scraped_original(
    tmp_path: Path,
) -> None:
    """img2dataset hashes the bytes it downloaded (`--compute_hash sha256`, its default) and then resizes and
    re-encodes them: the sample's own sha256 is another, but its crawl record names the original. A
    reference entry that has only that original's sha256 (a hash list) catches it as known scraped. The same
    claim never ties a sample to a consent record: it is the submitter's word, good against their interest
    only. A record that gives no sha256, or an ill-formed one, ties nothing."""
    import hashlib
    import io
    import tarfile

    originals = {k: (PHOTOS / f"{name}.jpg").read_bytes() for k, name in enumerate(["kodak-dc240", "sony-d700"])}
    sha = {k: hashlib.sha256(data).hexdigest() for k, data in originals.items()}
    shard = tmp_path / "ds" / "00000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for k, data in originals.items():
            out = io.BytesIO()
            with Image.open(io.BytesIO(data)) as im:  # as img2dataset stores it: smaller, re-encoded
                im.convert("RGB").resize((im.width // 3, im.height // 3)).save(out, "JPEG", quality=80)
            record = {"url": f"https://photos.example/{k}.jpg", "key": f"{k:09d}", "status": "success"}
            record["sha256"] = sha[k].upper() if k == 0 else sha[k]
            for name, payload in ((f"{k:09d}.jpg", out.getvalue()), (f"{k:09d}.json", json.dumps(record).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    refs = tmp_path / "hashes.jsonl"
    head = {"kind": "consentaudit-fingerprints", "schema_version": "1", "name": "takedowns"}
    refs.write_text(f"{json.dumps(head)}\n{json.dumps({'sha256': sha[0], 'path': 'original-0'})}\n")
    manifest = tmp_path / "consents.csv"  # a record for the second original, by its sha256 alone
    manifest.write_text(
        "record_id,sha256,subject_ids,status,purposes,granted_at,license,source,evidence,controller\n"
        f"r-1,{sha[1]},subj-1,granted,ai-training,2025-03-01,CC-BY-4.0,contributor-upload,release/r-1.pdf,Ex Ltd\n"
    )
    out = tmp_path / "r.json"
    args = ["scan", str(shard.parent), "--reference", str(refs), "-m", str(manifest), "--report", str(out)]
    result = R.invoke(app, [*args, "--purpose", "ai-training", "--db", f"sqlite:///{tmp_path / 'db'}", "-q"])
    assert result.exit_code == 1, result.output
    found = {f["path"]: f for f in json.loads(out.read_text())["findings"]}
    first, second = found["00000.tar/000000000.jpg"], found["00000.tar/000000001.jpg"]
    assert first["sha256"] != sha[0] and first["verdict"] == "known_scraped"
    assert first["reference"] == {"record_id": "takedowns:original-0", "kind": "crawl_sha256", "distance": None,
                                  "hash": None}  # fmt: skip
    assert any("crawl record's sha256" in r["detail"] for r in first["reasons"])
    assert first["metadata"]["crawl.sha256"] == sha[0]  # lower-cased as read
    assert second["verdict"] == "unconsented" and second["match"] is None  # the claim grants nothing
    assert second["reference"] is None
    why = R.invoke(app, ["explain", "00000.tar/000000000.jpg", "--scan", str(out), "--format", "json"])
    assert why.exit_code == 0, why.output
    assert [(c["id"], c["how"], c["within"]) for c in json.loads(why.output)["references"]] == [
        ("takedowns:original-0", "crawl sha256", True)
    ]  # explain re-derives the same tie
    from consentaudit.signals.provenance import crawl_record

    assert [crawl_record({"sha256": v}).sha256 for v in (sha[0][:63], "z" * 64, 12, None)] == [None] * 4


HF_SHARD = FIXTURES / "huggingface" / "train-00000-of-00001.parquet"  # canon-ixus, kodak-dc210, nikon-e950, sony-d700
I2D = FIXTURES / "img2dataset"


def _scan(ds: Path, out: Path, *refs: Path | str, db: str) -> dict[str, dict]:
    args = ["scan", str(ds), "--db", db, "--report", str(out), "--fail-on", "none", "-q"]
    for ref in refs:
        args += ["--reference", str(ref)]
    r = R.invoke(app, args)
    assert r.exit_code == 0, r.output
    return {f["path"]: f for f in json.loads(out.read_text())["findings"]}


def test_a_parquet_file_of_images_is_a_reference_set_of_images(tmp_path: Path) -> None:
    """A Hugging Face shard with an Image column was read as a URL list (no `url` column: an input error); its
    photos are now fingerprinted, so a re-encoded, resized copy of one is found and an unrelated photo is not."""
    ds = tmp_path / "ds"
    ds.mkdir()
    with Image.open(PHOTOS / "kodak-dc210.jpg") as im:
        im.convert("RGB").resize((im.width * 3 // 4, im.height * 3 // 4)).save(ds / "resized.jpg", quality=70)
    (ds / "same.jpg").write_bytes((PHOTOS / "sony-d700.jpg").read_bytes())
    (ds / "other.jpg").write_bytes((PHOTOS / "kodak-dc240.jpg").read_bytes())
    db = f"sqlite:///{tmp_path / 'db'}"
    found = _scan(ds, tmp_path / "a.json", HF_SHARD, db=db)
    assert found["resized.jpg"]["verdict"] == "known_scraped"
    assert found["resized.jpg"]["reference"]["record_id"] == f"{HF_SHARD.name}:{HF_SHARD.name}/000000001.jpg"
    assert found["same.jpg"]["reference"]["kind"] == "sha256"
    assert found["other.jpg"]["reference"] is None

    r = R.invoke(app, ["reference", "build", "hf", str(HF_SHARD), "--db", db])
    assert r.exit_code == 0 and "4 entries" in r.output, r.output  # four photos; the shard has no URLs

    # a second scan takes the shard's fingerprints from the store's cache: the same findings
    again = _scan(ds, tmp_path / "b.json", HF_SHARD, db=db)
    assert {p: f["reference"] for p, f in again.items()} == {p: f["reference"] for p, f in found.items()}


def test_a_set_built_from_a_download_holds_its_source_urls(tmp_path: Path) -> None:
    """img2dataset's parquet output as a set: its 14 images and the 14 URLs they were downloaded from. A
    dataset image crawled from one of those URLs is found by the URL even when its picture matches nothing."""
    db = f"sqlite:///{tmp_path / 'db'}"
    r = R.invoke(app, ["reference", "build", "download", str(I2D / "parquet" / "00000.parquet"), "--db", db])
    assert r.exit_code == 0 and "28 entries" in r.output, r.output
    out = tmp_path / "set.jsonl"
    assert R.invoke(app, ["reference", "export", "download", "-o", str(out), "--db", db]).exit_code == 0
    entries = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    urls = {e["url"] for e in entries if e.get("url")}
    crawled = json.loads((I2D / "files" / "00000" / "000000000.json").read_text())["url"]
    assert len(urls) == 14 and crawled in urls
    assert sum(1 for e in entries if e.get("sha256")) == 14

    ds = tmp_path / "ds"
    ds.mkdir()
    other = (PHOTOS / "nikon-e950.jpg").read_bytes()  # refused at crawl (X-Robots-Tag): not in the download
    (ds / "000000000.jpg").write_bytes(other)
    (ds / "000000000.json").write_text(json.dumps({"url": crawled, "key": "000000000", "status": "success"}))
    (ds / "000000001.jpg").write_bytes(other)
    (ds / "000000001.json").write_text(json.dumps({"url": "http://elsewhere.example/a.jpg", "status": "success"}))
    # a stored set, a tar shard (twice: the second time from the store's fingerprint cache), a folder
    for ref in ("download", I2D / "webdataset" / "00000.tar", I2D / "webdataset" / "00000.tar", I2D / "files"):
        found = _scan(ds, tmp_path / "r.json", ref, db=db)
        assert found["000000000.jpg"]["verdict"] == "known_scraped", ref
        assert found["000000000.jpg"]["reference"]["kind"] == "url", ref
        assert found["000000001.jpg"]["reference"] is None, ref


def test_fingerprint_of_a_download_counts_images_and_writes_their_urls(tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    r = R.invoke(app, ["fingerprint", str(I2D / "files"), "-o", str(out), "-q"])
    assert r.exit_code == 0 and "wrote 14 fingerprint(s)" in r.output and "unreadable" not in r.output, r.output
    entries = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert sum(1 for e in entries if e.get("url")) == 14 and len(entries) == 28


def test_reference_files_that_cannot_be_read_are_reported_not_dropped_silently(tmp_path: Path) -> None:
    """A reference folder's file that is not a readable image, or a Parquet file of images damaged past reading,
    adds nothing to the set: the scan's report and `reference build` say so, naming the file and why."""
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / "a.jpg").write_bytes((PHOTOS / "kodak-dc210.jpg").read_bytes())
    (refs / "cut.jpg").write_bytes((PHOTOS / "kodak-dc240.jpg").read_bytes()[:400])
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "x.jpg").write_bytes((PHOTOS / "kodak-dc210.jpg").read_bytes())
    out = tmp_path / "r.json"
    db = f"sqlite:///{tmp_path / 'db'}"
    found = _scan(ds, out, refs, db=db)
    assert found["x.jpg"]["verdict"] == "known_scraped"  # the readable file is in the set
    errors = json.loads(out.read_text())["header"]["errors"]
    assert any(f"reference {refs}: 1 file(s) unreadable" in e and "cut.jpg" in e for e in errors), errors

    damaged = bytearray(HF_SHARD.read_bytes())
    footer = len(damaged) - 8 - int.from_bytes(damaged[-8:-4], "little")
    for at in range(4, footer, 61):  # every page; the footer stays, so it is still told to be a Parquet file
        damaged[at] ^= 0xFF
    (tmp_path / "hf.parquet").write_bytes(bytes(damaged))
    r = R.invoke(app, ["reference", "build", "hf", str(tmp_path / "hf.parquet"), "--db", db])
    assert r.exit_code == 0, r.output
    assert "warning: reference" in r.output and "hf.parquet" in r.output and "unreadable" in r.output, r.output
