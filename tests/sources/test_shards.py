"""A tar shard is listed once: a scan parses each member header one time and opens the archive once for
listing, whatever the unit size, the exact re-hashes and the 256-bit probes (member bytes are read by
offset, and a unit keeps its bytes in hand)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import PHOTOS
from consentaudit.audit import run_audit
from consentaudit.filter_lists import filter_rows
from consentaudit.findings_out import FindingsOut
from consentaudit.manifest_files import RecordDefaults, write_skeleton
from consentaudit.request import AuditRequest
from consentaudit.store import ScanStore
from consentaudit.vocab import Verdict


def _shard(path: Path, count: int) -> None:
    photos = sorted(PHOTOS.glob("*.jpg"))
    with tarfile.open(path, "w") as tf:
        for i in range(count):
            with Image.open(photos[i % len(photos)]) as im:
                im = im.convert("RGB")
                im.thumbnail((160 + i % 7, 160))
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=80 + i % 10)
            data = buf.getvalue()
            info = tarfile.TarInfo(f"{i:09d}.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            meta = f'{{"key": "{i:09d}", "url": "https://example.org/{i}.jpg", "status": "success"}}'.encode()
            info = tarfile.TarInfo(f"{i:09d}.json")
            info.size = len(meta)
            tf.addfile(info, io.BytesIO(meta))


def test_a_shard_is_listed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count = 240
    shards = tmp_path / "shards"
    shards.mkdir()
    _shard(shards / "00000.tar", count)
    manifest = tmp_path / "m.csv"
    # records with pHash and 256-bit pHash, as `manifest init` writes them
    write_skeleton(shards, manifest, defaults=RecordDefaults(status="granted", purposes=("ai-training",)))

    parses = {"n": 0}
    opens = {"n": 0}
    real_frombuf = tarfile.TarInfo.frombuf.__func__  # type: ignore[attr-defined]
    real_open = tarfile.open

    def counting_frombuf(cls: type[tarfile.TarInfo], buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
        parses["n"] += 1
        return real_frombuf(cls, buf, encoding, errors)  # type: ignore[no-any-return]

    def counting_open(*args: object, **kwargs: object) -> tarfile.TarFile:
        opens["n"] += 1
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tarfile.TarInfo, "frombuf", classmethod(counting_frombuf))
    monkeypatch.setattr(tarfile, "open", counting_open)
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    req = AuditRequest(dataset=shards, manifests=[manifest], jobs=1, batch_size=16)
    report = run_audit(req, store)
    assert report.summary.images == count
    assert report.summary.verdicts["consented"] == count  # every image tied to its record
    assert opens["n"] == 1, opens  # the listing; member bytes are read by offset
    assert parses["n"] <= 2 * count + 2, parses  # each header once (image + sidecar), plus the end blocks


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ab./_-\\\\ü", max_size=14))
def test_member_key_is_what_purepath_gives(name: str) -> None:
    """The string fast path of `_key` agrees with PurePosixPath on every name, odd ones included."""
    from pathlib import PurePosixPath

    from consentaudit.sources.archives import _key

    p = PurePosixPath(name)
    expected = (str(p.with_suffix("")) if p.suffix else name, "".join(p.suffixes[-1:]).lower())
    assert _key(name) == expected


def test_a_zip_is_opened_once_to_verify_a_dataset_and_to_draw_thumbnails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`verify --dataset` and the HTML report's thumbnails read every member: one zip opened for all of them,
    not once per member (each open reads the whole central directory: quadratic in the members)."""
    import zipfile

    from consentaudit.attest import dataset_entries
    from consentaudit.audit import with_thumbnails
    from consentaudit.digest import sha256_hex

    photos = sorted(PHOTOS.glob("*.jpg"))[:8]
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in photos:
            zf.write(p, p.name)
    report = run_audit(AuditRequest(dataset=archive, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    opens = {"n": 0}
    real = zipfile.ZipFile

    def counting(*args: object, **kwargs: object) -> zipfile.ZipFile:
        opens["n"] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile, "ZipFile", counting)
    entries = dataset_entries(archive)
    assert {p: entries[p] for p in entries if p.endswith(".jpg")} == {
        f"set.zip/{p.name}": sha256_hex(p.read_bytes()) for p in photos
    }
    assert opens["n"] <= 2, opens  # the listing, then one reader for every member
    opens["n"] = 0
    thumbs = with_thumbnails(report, 10**8).thumbnails
    assert len(thumbs) == len(photos) and opens["n"] <= 2, opens


@pytest.mark.parametrize("extracted", [False, True])
def test_a_webdataset_sample_json_describes_every_image_of_the_sample(tmp_path: Path, extracted: bool) -> None:
    """WebDataset groups members by the name up to the first dot: `x.json` is the crawl record of `x.jpg` and
    of `x.seg.png` alike, while `y.v2.jpg` keeps its own `y.v2.json` over the sample's `y.json` — in the shard
    and in the same shard extracted to a folder (where `x.seg.png` had no record: an opt-out in `x.json` was
    missed there)."""
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    with Image.open(photo) as im:
        im = im.convert("RGB")
        im.thumbnail((200, 200))
        jpg, png = io.BytesIO(), io.BytesIO()
        im.save(jpg, "JPEG")
        im.convert("L").save(png, "PNG")
    members = {
        "s/x.jpg": jpg.getvalue(),
        "s/x.seg.png": png.getvalue(),
        "s/x.json": b'{"url": "https://example.org/x.jpg", "status": "success"}',
        "s/y.v2.jpg": jpg.getvalue() + b"\0",
        "s/y.json": b'{"url": "https://example.org/y-sample.jpg"}',
        "s/y.v2.json": b'{"url": "https://example.org/y-v2.jpg"}',
        "s/z.jpg": jpg.getvalue() + b"\0\0",
    }
    shards = tmp_path / "shards"
    shards.mkdir()
    with tarfile.open(shards / "00000.tar", "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    if extracted:
        with tarfile.open(shards / "00000.tar") as tf:
            tf.extractall(shards / "00000", filter="data")
        (shards / "00000.tar").unlink()
    report = run_audit(AuditRequest(dataset=shards, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    urls = {f.path.replace("00000.tar/", "00000/"): dict(f.metadata).get("crawl.url") for f in report.findings}
    assert urls == {
        "00000/s/x.jpg": "https://example.org/x.jpg",
        "00000/s/x.seg.png": "https://example.org/x.jpg",
        "00000/s/y.v2.jpg": "https://example.org/y-v2.jpg",
        "00000/s/z.jpg": None,
    }
    if extracted:
        return  # a loose file's key is its own path (img2dataset's files layout); a member's, its sample's
    # the filter table and the --out Parquet key each image by its sample, as the loader's `__key__`
    keys = {
        "00000.tar/s/x.jpg": "s/x",
        "00000.tar/s/x.seg.png": "s/x",
        "00000.tar/s/y.v2.jpg": "s/y",
        "00000.tar/s/z.jpg": "s/z",
    }
    assert {r["path"]: r["key"] for r in filter_rows(report, (Verdict.CONSENTED,))} == keys
    out = FindingsOut(str(tmp_path / "out"), "run")
    out.write("00000.tar", report.findings)
    table = pq.read_table(tmp_path / "out" / "00000.tar.parquet", columns=["path", "key"]).to_pylist()
    assert {r["path"]: r["key"] for r in table} == keys
