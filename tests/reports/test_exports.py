"""The standard exports (EU AI Act summary, CycloneDX, Croissant RAI) and spreadsheet-safe CSV."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from conftest import FIXTURES, SCRAPED, photo_with_gps, shard_scan_args
from consentaudit.cli.app import app

R = CliRunner()


def _scan_id(tmp_path: Path) -> tuple[int, str]:
    db = f"sqlite:///{tmp_path / 'db'}"
    out = tmp_path / "a.json"
    R.invoke(app, shard_scan_args(db, out))
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
    # the shard's parquet has one row img2dataset refused for X-Robots-Tag (no image in the tar) and one
    # plain 404: only the first is an opt-out honoured at crawl time
    assert "X-Robots-Tag: noai / noimageai HTTP header recorded at crawl | 1 | 1 | 0 | 0 | 0 | 1 |" in text
    assert "Opt-outs honoured at crawl time: 1 sample(s)" in text


def test_crawl_refusals_are_counted_from_the_shards_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = tmp_path / "shards"
    shutil.copytree(FIXTURES / "shards", shards)
    rows = pq.read_table(shards / "00000.parquet").to_pylist()
    refused = [r for r in rows if r["status"] != "success"]
    assert [r["error_message"] for r in refused] == [
        "Use of image disallowed by X-Robots-Tag directive",
        "HTTP Error 404: Not Found",
    ]
    extra = [{**refused[0], "key": f"00000010{n}", "url": f"https://art.example.org/{n}.jpg"} for n in range(3)]
    pq.write_table(pa.Table.from_pylist(rows + extra), shards / "00000.parquet")
    out = tmp_path / "a.json"
    R.invoke(app, ["scan", str(shards), "--db", f"sqlite:///{tmp_path / 'db'}", "--quiet", "--report", str(out)])
    assert json.loads(out.read_text())["summary"]["crawl_refusals"] == {"x-robots-tag": 4}


def test_img2datasets_files_layout_reads_the_parquet_beside_each_shard_folder(tmp_path: Path) -> None:
    """img2dataset's `--output_format files` writes a shard as a folder (`00000/<key>.jpg`, `.txt`, `.json`, the
    `.json` only for an image it wrote) and every crawl row, refusals included, to `00000.parquet` beside it.
    The same shard as the fixture tar, laid out so: its refusal is counted as the tar's is, and an image whose
    `.json` is missing takes its crawl record (URL, headers) from its parquet row."""
    import tarfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = tmp_path / "crawl"
    folder = out_dir / "00000"
    folder.mkdir(parents=True)
    with tarfile.open(FIXTURES / "shards" / "00000.tar") as tar:
        tar.extractall(folder, filter="data")
    rows = pq.read_table(FIXTURES / "shards" / "00000.parquet").to_pylist()
    first = min(p.stem for p in folder.glob("*.jpg"))
    (folder / f"{first}.json").unlink()  # its record is the parquet row alone now
    for r in rows:
        if r["key"] == first:
            r["url"] = "https://only-in-parquet.example/a.jpg"
    pq.write_table(pa.Table.from_pylist(rows), out_dir / "00000.parquet")
    report = tmp_path / "a.json"
    args = ["scan", str(out_dir), "--db", f"sqlite:///{tmp_path / 'db'}", "--quiet", "--report", str(report)]
    R.invoke(app, [*args, "--fail-on", "none"])
    doc = json.loads(report.read_text())
    assert doc["summary"]["crawl_refusals"] == {"x-robots-tag": 1}  # as from the tar (the 404 is no opt-out)
    found = {f["path"]: f for f in doc["findings"]}
    assert found[f"00000/{first}.jpg"]["metadata"]["crawl.url"] == "https://only-in-parquet.example/a.jpg"
    assert "00000.parquet" in {f["path"] for f in doc["files"]}  # bound into the digest like any data file


def test_cyclonedx_export_validates_and_references_the_signed_report(tmp_path: Path) -> None:
    import hashlib

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    scan_id, db = _scan_id(tmp_path)
    report = tmp_path / "a.json"
    result = R.invoke(app, ["export", str(scan_id), "--as", "cyclonedx", "--db", db])
    assert result.exit_code == 0, result.output
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.output)
    assert errors is None, errors
    doc = json.loads(result.output)
    (component,) = doc["components"]
    assert component["type"] == "data" and component["data"][0]["governance"]
    assert component["data"][0]["sensitiveData"]
    # the stored scan's JSON rendering is the report the scan wrote: the same bytes, the same digest
    (ref,) = component["externalReferences"]
    assert ref["hashes"][0]["content"] == hashlib.sha256(report.read_bytes()).hexdigest()
    # a signed report file: the export names the report's bytes and the signature beside it
    key = tmp_path / "k"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    assert R.invoke(app, ["sign", str(report), "--key", str(key)]).exit_code == 0
    result = R.invoke(app, ["export", str(report), "--as", "cyclonedx"])
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.output) is None
    refs = {r["type"]: r for r in json.loads(result.output)["components"][0]["externalReferences"]}
    assert refs["attestation"]["url"] == "a.json"
    assert refs["attestation"]["hashes"][0]["content"] == hashlib.sha256(report.read_bytes()).hexdigest()
    sig = tmp_path / "a.json.sig"
    assert refs["digital-signature"]["hashes"][0]["content"] == hashlib.sha256(sig.read_bytes()).hexdigest()
    assert json.loads(sig.read_text())["key_id"] in refs["attestation"]["comment"]
    # the validator does catch a broken document
    doc["components"][0]["type"] = "not-a-type"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is not None


def test_croissant_rai_export_loads_in_mlcroissant(tmp_path: Path) -> None:
    import mlcroissant as mlc

    scan_id, db = _scan_id(tmp_path)
    out = tmp_path / "rai.json"
    result = R.invoke(app, ["export", str(tmp_path / "a.json"), "--as", "croissant-rai", "-o", str(out)])
    assert result.exit_code == 0, result.output
    meta = mlc.Dataset(jsonld=str(out)).metadata
    assert not meta.ctx.issues.errors
    assert meta.data_collection.startswith("Audited by consentaudit")
    assert meta.data_collection_type == ["Web Scraping"]
    assert "ai-training" in meta.data_use_cases[0]
    assert R.invoke(app, ["export", str(scan_id), "--as", "bogus", "--db", db]).exit_code == 2


def test_croissant_rai_merges_into_a_real_croissant_file(tmp_path: Path) -> None:
    import mlcroissant as mlc

    _scan_id(tmp_path)
    base = FIXTURES / "croissant" / "minimal_recommended.json"
    out = tmp_path / "merged.json"
    args = ["export", str(tmp_path / "a.json"), "--as", "croissant-rai", "--into", str(base), "-o", str(out)]
    result = R.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = mlc.Dataset(jsonld=str(out)).metadata
    assert not meta.ctx.issues.errors
    assert meta.name == "minimal_example_with_recommended_fields"  # the dataset's own file, kept
    assert [rs.name for rs in meta.record_sets] == ["examples"]
    assert "consentaudit" in meta.data_collection
    merged, original = json.loads(out.read_text()), json.loads(base.read_text())
    assert {k: v for k, v in merged.items() if not k.startswith(("rai:", "prov:", "@context"))} == {
        k: v for k, v in original.items() if k != "@context"
    }
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    assert R.invoke(app, [*args[:-4], "--into", str(bad)]).exit_code == 2


def test_csv_cells_are_spreadsheet_safe(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    shutil.copy(SCRAPED / "web-0001.jpg", ds / "=HYPERLINK(evil).jpg")
    out = tmp_path / "r.csv"
    R.invoke(app, ["scan", str(ds), "--db", f"sqlite:///{tmp_path / 'db'}", "--quiet", "--report", str(out)])
    assert '\n"\'=HYPERLINK(evil).jpg",' in out.read_text()  # quoted, with the formula neutralised


def test_exports_say_whether_the_report_holds_sensitive_metadata(tmp_path: Path) -> None:
    """Croissant RAI and CycloneDX state what the report holds of GPS, serial numbers and EXIF captions, from
    its findings: a scan under --keep-sensitive-metadata is not declared free of them."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo_with_gps(folder / "gps.jpg", caption="Jane Doe at her graduation")
    statements = {}
    for flags in ([], ["--keep-sensitive-metadata"]):
        out = tmp_path / f"r{len(flags)}.json"
        args = ["scan", str(folder), "--db", str(tmp_path / f"db{len(flags)}"), "-o", str(out), "-q"]
        assert R.invoke(app, [*args, "--fail-on", "none", *flags]).exit_code == 0
        rai = json.loads(R.invoke(app, ["export", str(out), "--as", "croissant-rai"]).output)
        bom = json.loads(R.invoke(app, ["export", str(out), "--as", "cyclonedx"]).output)
        sensitive = bom["components"][0]["data"][0]["sensitiveData"]
        statements[bool(flags)] = (rai["rai:personalSensitiveInformation"], sensitive[-1])
        assert ("Jane Doe" in out.read_text()) is bool(flags)
    assert all("are not in the audit report" in s for s in statements[False])
    assert all("were kept (--keep-sensitive-metadata)" in s and "for 1 image(s)" in s for s in statements[True])
