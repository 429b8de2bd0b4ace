"""One set of files, laid out as a folder, a tar shard, a gzipped tar and a zip, is audited alike: the same
images, bytes, verdicts and signals, whatever the layout."""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES, MANIFESTS, PHOTOS, SCRAPED
from consentaudit.audit import run_audit
from consentaudit.codec import report_to_dict
from consentaudit.request import AuditRequest
from consentaudit.store import ScanStore

PROV = FIXTURES / "provenance"


def _files(flat: Path) -> None:
    """Real photos and provenance files with the sidecars each layout must pair with them: crawl records (one
    reserving AI training, one for a multi-dot sample name), a C2PA manifest under its `_manifest` name, a
    caption that begins like a BMP, and a photo named as a caption."""
    flat.mkdir()
    for p in sorted((FIXTURES / "dataset").rglob("*.jpg"))[:6]:
        shutil.copy(p, flat / f"{p.parent.name}-{p.name}")
    shutil.copy(SCRAPED / "web-0001.jpg", flat / "web-0001.jpg")
    shutil.copy(PROV / "cloud.jpg", flat / "cloud.jpg")
    shutil.copy(PROV / "cloud_manifest.c2pa", flat / "cloud_manifest.c2pa")
    shutil.copy(PHOTOS / "fujifilm-mx1700.jpg", flat / "x.seg.jpg")
    (flat / "x.json").write_text(json.dumps({"url": "https://example.org/x.jpg", "X-Robots-Tag": "noai"}))
    first = sorted(flat.glob("*.jpg"))[0]
    first.with_suffix(".json").write_text(json.dumps({"url": "https://example.org/a.jpg", "tdm-reservation": "1"}))
    shutil.copy(PHOTOS / "sony-d700.jpg", flat / "hidden.txt")
    (flat / "caption.txt").write_text("BMW 3 series parked on a street at night")


def _audit(dataset: Path, db: Path) -> dict[str, Any]:
    req = AuditRequest(
        dataset=dataset,
        manifests=[MANIFESTS / "fixtures.csv", MANIFESTS / "fixtures-extra.jsonl"],
        references=[SCRAPED],
        as_of=date(2026, 11, 26),
        jobs=1,
    )
    doc = report_to_dict(run_audit(req, ScanStore(f"sqlite:///{db}")))
    return {
        f["path"].rsplit("/", 1)[-1]: (
            f["verdict"],
            f["sha256"],
            sorted(r["detail"] for r in f["reasons"]),
            sorted(f"{s['protocol']}={s['value']}" for s in f["signals"]),
            (f["reference"] or {}).get("record_id"),
        )
        for f in doc["findings"]  # type: ignore[union-attr]
    }


def test_a_folder_a_tar_a_gzipped_tar_and_a_zip_of_the_same_files_are_audited_alike(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    _files(flat)
    names = sorted(p.name for p in flat.iterdir())
    layouts = {name: tmp_path / name for name in ("folder", "tar", "tgz", "zip")}
    shutil.copytree(flat, layouts["folder"] / "s")
    for name, mode in (("tar", "w"), ("tgz", "w:gz")):
        layouts[name].mkdir()
        with tarfile.open(layouts[name] / f"s.{name}", mode) as tar:
            for n in names:
                tar.add(flat / n, f"s/{n}")
    layouts["zip"].mkdir()
    with zipfile.ZipFile(layouts["zip"] / "s.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for n in names:
            z.write(flat / n, f"s/{n}")
    found = {name: _audit(path, tmp_path / f"{name}.db") for name, path in layouts.items()}
    folder = found["folder"]
    assert "hidden.txt" in folder and "caption.txt" not in folder  # an image by its bytes, a caption is not
    assert folder["x.seg.jpg"][0] == "opted_out"  # the sample's `x.json` reserves AI training
    assert "c2pa-manifest=present" in folder["cloud.jpg"][3]  # its `_manifest.c2pa` sidecar is read
    assert folder["web-0001.jpg"][0] == "known_scraped"
    for name in ("tar", "tgz", "zip"):
        assert found[name] == folder, name


@pytest.mark.parametrize("name", ["{key}.bin", "{key}.seg.jpg"], ids=["image-by-its-bytes", "multi-dot-name"])
def test_a_refused_row_with_an_image_is_counted_alike_in_a_files_folder_and_a_tar(tmp_path: Path, name: str) -> None:
    """img2dataset's parquet row of a refused download (X-Robots-Tag) whose sample nevertheless has an image —
    named otherwise (told by its bytes) or under a multi-dot name — is not a refusal without an image. The tar
    shard never counted it; its `files` folder did (it looked only for `<key>.<image extension>`)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(FIXTURES / "shards" / "00000.parquet").to_pylist()
    (refused,) = [r["key"] for r in rows if "X-Robots-Tag" in (r.get("error_message") or "")]
    extra = name.format(key=refused)
    photo = (PHOTOS / "canon-ixus.jpg").read_bytes()
    folder_set, tar_set = tmp_path / "files", tmp_path / "tar"
    (folder_set / "00000").mkdir(parents=True)
    tar_set.mkdir()
    with tarfile.open(FIXTURES / "shards" / "00000.tar") as tar:
        tar.extractall(folder_set / "00000", filter="data")
    (folder_set / "00000" / extra).write_bytes(photo)
    shutil.copy(FIXTURES / "shards" / "00000.parquet", folder_set / "00000.parquet")
    shutil.copy(FIXTURES / "shards" / "00000.parquet", tar_set / "00000.parquet")
    with tarfile.open(tar_set / "00000.tar", "w") as tar:
        for p in sorted((folder_set / "00000").iterdir()):
            tar.add(p, p.name)
    refusals, audited = {}, {}
    for kind, dataset in (("files", folder_set), ("tar", tar_set)):
        report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / kind}.db"))
        refusals[kind] = report.summary.crawl_refusals
        audited[kind] = {f.path.rsplit("/", 1)[-1]: f.sha256 for f in report.findings}
    assert audited["files"] == audited["tar"] and extra in audited["files"]
    assert refusals["files"] == refusals["tar"] == {}  # the 404 row is no opt-out; the refused one has an image
