"""Provenance signals from real files: C2PA (pure reader and c2pa-python), IPTC, EXIF, crawl records."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from conftest import EXPECTED, FIXTURES, PHOTOS, SHARED_CORPUS, shard_scan_args
from consentaudit.cli.app import app
from consentaudit.scanner import ScanSettings, scan_item, scan_unit
from consentaudit.signals import c2pa_verify
from consentaudit.signals.c2pa_reader import embedded_store, read_store, training_entries
from consentaudit.signals.containers import jpeg_header_end, jpeg_segments
from consentaudit.signals.metadata import read_metadata
from consentaudit.signals.provenance import crawl_record, crawl_signals
from consentaudit.sources import DirectorySource, open_source
from consentaudit.sources.item import Item
from jumbf_builder import jpeg_with_store, store

PROV = FIXTURES / "provenance"
UNVERIFIED = ScanSettings(verify_c2pa=False)
needs_c2pa = pytest.mark.skipif(not c2pa_verify.available(), reason="consentaudit[c2pa] not installed")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


def scan_file(path: Path, settings: ScanSettings = ScanSettings()) -> dict[str, list[tuple[str, str, str]]]:
    items = [i for i in DirectorySource(path.parent).items() if i.path == path.name]
    (img,) = scan_unit(items, settings)
    out: dict[str, list[tuple[str, str, str]]] = {}
    for s in img.signals:
        out.setdefault(s.protocol, []).append((s.value, s.verification, ",".join(s.prohibits)))
    return out


def test_sample_c2pa_png_training_mining_unverified() -> None:
    sig = scan_file(PROV / "sample_c2pa.png", UNVERIFIED)
    values = sorted(v for v, _, _ in sig["c2pa-training-mining"])
    assert values == [
        "c2pa.ai_generative_training=notAllowed",
        "c2pa.ai_inference=notAllowed",
        "c2pa.ai_training=notAllowed",
        "c2pa.data_mining=notAllowed",
    ]
    assert all("unverified" in ver for _, ver, _ in sig["c2pa-training-mining"])


@needs_c2pa
def test_sample_c2pa_png_validated_offline() -> None:
    sig = scan_file(PROV / "sample_c2pa.png")
    assert sig["c2pa-manifest"] == [("present", "Valid, signer untrusted", "")]
    assert any(
        v == "c2pa.ai_training=notAllowed" and "ai-training" in p and ver.endswith("Valid, signer untrusted")
        for v, ver, p in sig["c2pa-training-mining"]
    )


@needs_c2pa
def test_official_trust_list_does_not_trust_a_test_signer() -> None:
    anchors = (PROV / "C2PA-TRUST-LIST.pem").read_text()
    sig = scan_file(PROV / "sample_c2pa.png", ScanSettings(trust_anchors=anchors))
    assert sig["c2pa-manifest"][0][1] == "Valid, signer untrusted"


def test_ca_jpg_store_spans_two_app11_segments() -> None:
    data = (PROV / "CA.jpg").read_bytes()
    app11 = [seg for marker, seg in jpeg_segments(data) if marker == 0xEB]
    assert len(app11) >= 2
    blob = embedded_store(data)
    assert blob is not None and len(blob) > max(len(s) for s in app11)
    st = read_store(blob)
    assert st.problems == [] and st.active is not None
    assert "c2pa.actions" in {a.split("__")[0] for a in st.active.assertions}
    assert scan_file(PROV / "CA.jpg", UNVERIFIED)["c2pa-manifest"][0][0] == "present"


def test_a_jpegs_segments_are_searched_not_its_image_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """The searches for a C2PA store and a Photoshop IIM block stop where a JPEG's marker segments end (its
    start of scan): a real store across two APP11 segments is still found, while the same markers appended
    after the image data are not a store, and the validator is not asked about them."""
    ca = (PROV / "CA.jpg").read_bytes()
    end = jpeg_header_end(ca)
    assert ca[end : end + 2] == b"\xff\xda" and end < len(ca)
    assert all(ca.find(seg) + len(seg) <= end for _, seg in jpeg_segments(ca))
    assert scan_file(PROV / "CA.jpg", UNVERIFIED)["c2pa-manifest"][0][0] == "present"
    photo = (PHOTOS / "canon-ixus.jpg").read_bytes()
    appended = photo + b"\x00\x00\x00\x40jumb\x00\x00\x00\x20jumdc2pa" + b"Photoshop 3.0\x00" + b"\x00" * 40
    asked: list[bytes] = []
    monkeypatch.setattr(c2pa_verify, "available", lambda: True)
    monkeypatch.setattr(c2pa_verify, "verify", lambda data, *a: asked.append(data))
    from consentaudit.scanner import c2pa_facts

    assert c2pa_facts(appended, "JPEG", None, None, ScanSettings()) is None and not asked
    assert embedded_store(appended, appended.find(b"jumb", 0, jpeg_header_end(appended)) >= 0) is None
    assert not [k for k, _ in read_metadata(appended).values if k.startswith("iptc.")]


@needs_c2pa
def test_tampered_manifest_is_invalid_with_its_failure_code(tmp_path: Path) -> None:
    data = bytearray((PROV / "CA.jpg").read_bytes())
    data[data.rfind(b"\xff\xda") + 500] ^= 0xFF
    (tmp_path / "CA.jpg").write_bytes(bytes(data))
    sig = scan_file(tmp_path / "CA.jpg")
    assert sig["c2pa-manifest"][0][0] == "invalid"
    assert sig["c2pa-manifest"][0][1].startswith("Invalid: ") and "dataHash.mismatch" in sig["c2pa-manifest"][0][1]


def test_a_jpg_has_no_manifest_but_camera_metadata() -> None:
    data = (PROV / "A.jpg").read_bytes()
    assert embedded_store(data) is None
    values = dict(read_metadata(data).values)
    assert values["exif.make"] == "Canon" and values["exif.model"] == "Canon EOS REBEL T3"
    assert "c2pa-manifest" not in scan_file(PROV / "A.jpg")


def test_no_manifest_jpg_reports_a_stripped_manifest() -> None:
    sig = scan_file(PROV / "no_manifest.jpg")
    assert sig["c2pa-manifest"][0][0] == "missing"


def test_remote_only_manifest_is_never_fetched(tmp_path: Path) -> None:
    shutil.copy(PROV / "cloud.jpg", tmp_path / "cloud.jpg")
    sig = scan_file(tmp_path / "cloud.jpg")
    assert sig["c2pa-manifest"][0][0] == "remote-only"
    assert sig["c2pa-manifest"][0][1].startswith("not fetched (https://")


def test_sidecar_manifest_is_read(tmp_path: Path) -> None:
    shutil.copy(PROV / "cloud.jpg", tmp_path / "cloud.jpg")
    shutil.copy(PROV / "cloud_manifest.c2pa", tmp_path / "cloud_manifest.c2pa")
    sig = scan_file(tmp_path / "cloud.jpg", UNVERIFIED)
    assert sig["c2pa-manifest"][0][0] == "present"
    if c2pa_verify.available():
        assert scan_file(tmp_path / "cloud.jpg")["c2pa-manifest"][0][1] == "Valid, signer untrusted"


@pytest.mark.parametrize("sidecar", ["cloud.c2pa", "cloud.jpg.c2pa", "cloud_manifest.c2pa"])
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_sidecar_manifest_in_a_shard_is_read_under_each_name_a_folder_reads(
    tmp_path: Path, kind: str, sidecar: str
) -> None:
    """`<stem>.c2pa`, `<name>.c2pa` and `<stem>_manifest.c2pa` beside an image, in a folder and in a shard
    alike (a shard read only `<key>.c2pa`: the same files, packed, reported `remote-only`)."""
    from consentaudit.sources import open_source

    shard = tmp_path / f"s.{kind}"
    parts = {"cloud.jpg": (PROV / "cloud.jpg").read_bytes(), sidecar: (PROV / "cloud_manifest.c2pa").read_bytes()}
    if kind == "tar":
        with tarfile.open(shard, "w") as tar:
            for name, data in parts.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        with zipfile.ZipFile(shard, "w") as z:
            for name, data in parts.items():
                z.writestr(name, data)
    (item,) = open_source(shard).items()
    (img,) = scan_unit([item], UNVERIFIED)
    assert [s.value for s in img.signals if s.protocol == "c2pa-manifest"] == ["present"]


def _jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    with Image.open(PHOTOS / "canon-ixus.jpg") as im:
        im.resize(size).save(buf, "JPEG")
    return buf.getvalue()


def test_cawg_do_not_train_and_ai_generated_read_by_the_pure_reader(tmp_path: Path) -> None:
    blob = store(
        {
            "cawg.training-mining": {
                "entries": {
                    "cawg.ai_training": {"use": "notAllowed"},
                    "cawg.ai_generative_training": {"use": "constrained", "constraint_info": "licence"},
                    "cawg.data_mining": {"use": "allowed"},
                }
            },
            "c2pa.actions.v2": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                    }
                ]
            },
            "c2pa.thumbnail.claim.jpeg": {"pad": "x" * 90000},  # forces the store over two APP11 segments
        }
    )
    data = jpeg_with_store(_jpeg(), blob)
    st = read_store(embedded_store(data) or b"")
    assert st.active is not None
    entries = {k: (use, p) for _, k, use, p in training_entries(st.active)}
    assert entries["cawg.ai_training"][0] == "notAllowed" and "ai-training" in entries["cawg.ai_training"][1]
    (tmp_path / "gen.jpg").write_bytes(data)
    sig = scan_file(tmp_path / "gen.jpg")  # with c2pa-python the unsigned store is Invalid, but still read
    states = {v: p for v, _, p in sig["cawg-training-mining"]}
    assert "ai-training" in states["cawg.ai_training=notAllowed"]
    assert "generative-ai-training" in states["cawg.ai_generative_training=constrained"]  # constrained = no
    assert states["cawg.data_mining=allowed"] == ""
    assert [v for v, _, _ in sig["digital-source-type"]] == ["trainedAlgorithmicMedia"]
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(tmp_path),
            "--db",
            f"sqlite:///{tmp_path / 'db'}",
            "--quiet",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 1
    (f,) = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert f["verdict"] == "opted_out"
    assert any("AI-generated image (trainedAlgorithmicMedia" in r["detail"] for r in f["reasons"])


def test_iptc_reference_image_signals() -> None:
    sig = scan_file(PHOTOS / "IPTC-PhotometadataRef-Std2019.1.jpg")
    assert sig["model-release"][0][0] == "MR-NAP"
    assert sig["digital-source-type"][0][0] == "softwareImage"
    assert "iptc-data-mining" not in sig  # no Data Mining field: unspecified, never permission


def test_model_release_id_joins_a_record_and_no_release_conflicts(tmp_path: Path) -> None:
    from jumbf_builder import box  # noqa: F401  (keeps the helper module imported once)

    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" '
        'plus:ModelReleaseStatus="http://ns.useplus.org/ldf/vocab/MR-NON">'
        "<plus:ModelReleaseID><rdf:Bag><rdf:li>REL-2026-77</rdf:li></rdf:Bag></plus:ModelReleaseID>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    jpeg = _jpeg()
    data = jpeg[:2] + b"\xff\xe1" + len(payload + b"xx").to_bytes(2, "big") + payload + jpeg[2:]
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "model.jpg").write_bytes(data)
    manifest = tmp_path / "m.csv"
    manifest.write_text("record_id,path,status,purposes,evidence\nr9,elsewhere.jpg,granted,ai-training,REL-2026-77\n")
    CliRunner().invoke(
        app,
        [
            "scan",
            str(ds),
            "-m",
            str(manifest),
            "--db",
            f"sqlite:///{tmp_path / 'db'}",
            "--quiet",
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    (f,) = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert f["match"] == {"record_id": "r9", "kind": "release_id", "distance": None, "hash": None}
    assert f["verdict"] == "consented"
    assert any("says 'no model release'" in r["detail"] for r in f["reasons"])


@pytest.mark.parametrize(
    ("headers", "prohibited"),
    [
        ({"X-Robots-Tag": "noai"}, True),
        ({"x-robots-tag": "googlebot: noindex, otherbot: noimageai"}, True),
        ({"X-Robots-Tag": "noindex, nofollow"}, False),
        ({"tdm-reservation": "1"}, True),
        ({"tdm-reservation": "0"}, False),
        ({"Content-Usage": "train-ai=n"}, True),
        ({"Content-Usage": "train-ai=y, search=n"}, False),
    ],
)
def test_crawl_headers(headers: dict[str, str], prohibited: bool) -> None:
    sigs = crawl_signals(crawl_record({"url": "https://www.Example.org/a.jpg", "headers": headers}))
    assert len(sigs) == 1
    assert ("ai-training" in sigs[0].prohibits) is prohibited


def _scan_shards(tmp_path: Path, out: Path) -> Result:
    """The img2dataset-style shard fixture scanned with its manifest, report written to `out`."""
    args = shard_scan_args(f"sqlite:///{tmp_path / 'db'}", out)
    return CliRunner().invoke(app, args)


def test_img2dataset_shard_audited_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = _scan_shards(tmp_path, out)
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    assert {f["path"]: f["verdict"] for f in report["findings"]} == EXPECTED["shards"]
    domains = {d["domain"]: d["images"] for d in report["summary"]["domains"]}
    assert domains == {"cdn.example.com": 2, "photos.example.org": 2, "example.net": 1, "pinterest.example": 1}
    table = report["summary"]["opt_outs"]
    assert table["x-robots-tag"]["prohibited"] == table["tdm-reservation"]["prohibited"] == 1
    assert table["iptc-data-mining"]["images"] == 0
    # the parquet row supplies the url of the sample whose json sidecar is missing
    parquet_only = next(f for f in report["findings"] if f["path"] == "00000.tar/000000005.jpg")
    assert parquet_only["metadata"]["crawl.domain"] == "pinterest.example"


def test_policy_file_denies_domains_and_honours_chosen_signals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "consentaudit.toml").write_text(
        'purposes = ["ai-training"]\nai_generated = "exclude"\n[domains]\ndeny = ["pinterest.example"]\n'
        '[crawl_signals]\nhonour = ["x-robots-tag"]\n'
    )
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.json"
    _scan_shards(tmp_path, out)
    got = {f["path"]: f["verdict"] for f in json.loads(out.read_text())["findings"]}
    assert got["00000.tar/000000005.jpg"] == "known_scraped"
    assert got["00000.tar/000000001.jpg"] == "opted_out"  # X-Robots-Tag honoured
    assert got["00000.tar/000000002.jpg"] == "unconsented"  # tdm-reservation not honoured by this policy
    (tmp_path / "consentaudit.toml").write_text("[domains]\nblock = []\n")
    bad = CliRunner().invoke(app, ["scan", str(FIXTURES / "shards"), "--db", f"sqlite:///{tmp_path / 'db'}"])
    assert bad.exit_code == 2 and "at key domains / block" in bad.output


def _tar_with(tmp_path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tf:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tf.addfile(info)
            else:
                assert data is not None
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def test_tar_traversal_and_links_are_reported_never_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    jpeg = _jpeg()
    archive = _tar_with(
        work,
        [
            ("ok/000.jpg", jpeg, None),
            ("../escaped.jpg", jpeg, None),
            ("/abs/evil.jpg", jpeg, None),
            ("link.jpg", None, "/etc/passwd"),
        ],
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    items = {i.path: i for i in open_source(archive).items()}
    assert items["evil.tar/ok/000.jpg"].problem is None
    assert "climbs out" in (items["evil.tar/../escaped.jpg"].problem or "")
    assert "absolute" in (items["evil.tar/abs/evil.jpg"].problem or "")
    assert "link member" in (items["evil.tar/link.jpg"].problem or "")
    results = {r.path: r for r in scan_unit(list(items.values()))}
    assert results["evil.tar/ok/000.jpg"].fingerprint is not None
    assert results["evil.tar/../escaped.jpg"].fingerprint is None
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert before == after  # nothing was extracted anywhere
    assert not (tmp_path / "escaped.jpg").exists() and not Path("/abs/evil.jpg").exists()


def test_zip_dataset_members_streamed(tmp_path: Path) -> None:
    path = tmp_path / "set.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a/0001.jpg", _jpeg())
        zf.writestr(
            "a/0001.json", json.dumps({"url": "https://img.example.com/1.jpg", "headers": {"X-Robots-Tag": "noai"}})
        )
        zf.writestr("../up.jpg", _jpeg())
    imgs = {i.path: scan_item(i) for i in open_source(path).items()}
    assert imgs["set.zip/a/0001.jpg"].fingerprint is not None
    assert any(s.protocol == "x-robots-tag" for s in imgs["set.zip/a/0001.jpg"].signals)
    assert imgs["set.zip/../up.jpg"].error and "climbs out" in imgs["set.zip/../up.jpg"].error


def test_gps_and_serials_only_with_keep_sensitive(tmp_path: Path) -> None:
    im = Image.new("RGB", (32, 32), (1, 2, 3))
    exif = Image.Exif()
    exif[0x010F] = "TestMake"
    exif[0x0110] = "TestModel"
    exif[0x010E] = "Jane Doe at her graduation"  # ImageDescription: a caption naming the person shown
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    plain = dict(read_metadata(buf.getvalue()).values)
    assert plain["exif.make"] == "TestMake"
    assert not any(k.startswith("exif.sensitive.") for k in plain)
    assert "Jane Doe" not in repr(plain)
    kept = dict(read_metadata(buf.getvalue(), keep_sensitive=True).values)
    assert any(k.startswith("exif.sensitive.GPS") for k in kept)
    assert kept["exif.description"] == "Jane Doe at her graduation"


def _dump_make_model() -> dict[str, dict[str, str]]:
    text = (SHARED_CORPUS / "exif-samples" / "dump").read_text(errors="replace")
    out: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"Opening: exif-samples-master/(.*)$", line)
        if m:
            current = m.group(1)
            out[current] = {}
            continue
        m = re.match(r"Image (Make|Model) \(ASCII\): (.*)$", line)
        if m and current:
            out[current][m.group(1).lower()] = m.group(2).strip()
    return out


@pytest.mark.skipif(not SHARED_CORPUS.exists(), reason="../shared/corpus not present (extra check)")
def test_corpus_camera_files_yield_make_and_model_like_the_dump() -> None:
    expected = _dump_make_model()
    checked = 0
    for rel, want in expected.items():
        path = SHARED_CORPUS / "exif-samples" / rel
        if not path.exists() or not want.get("make"):
            continue
        (img,) = scan_unit([Item(rel, str(path), path.stat().st_size, 0)])
        values = dict(img.metadata)
        assert values.get("exif.make") == want["make"].strip(), rel
        if want.get("model"):
            assert values.get("exif.model") == want["model"], rel
        checked += 1
    assert checked >= 40


@pytest.mark.skipif(not SHARED_CORPUS.exists(), reason="../shared/corpus not present (extra check)")
def test_every_corpus_file_scans_without_crashing() -> None:
    root = SHARED_CORPUS
    items = list(DirectorySource(root).items())
    assert len(items) > 90
    results = scan_unit(items)
    broken = [r for r in results if r.fingerprint is None]
    assert all(r.error for r in broken)


def test_a_c2pa_store_in_a_tiff_is_read_by_the_pure_reader(tmp_path: Path) -> None:
    """TIFF and DNG carry the store in tag 0xCD41 of the first IFD: a real photo saved as TIFF with the
    store of sample_c2pa.png in that tag gives its training-mining assertions (unverified: the store's hash
    binding is for the PNG). A big-endian container is walked the same way."""
    import struct

    from PIL import Image, TiffImagePlugin

    from consentaudit.signals.c2pa_reader import embedded_store

    blob = embedded_store((PROV / "sample_c2pa.png").read_bytes())
    assert blob is not None
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[0xCD41] = blob
    ifd.tagtype[0xCD41] = 7  # UNDEFINED
    folder = tmp_path / "ds"
    folder.mkdir()
    tiff = folder / "photo.tif"
    with Image.open(PHOTOS / "canon-ixus.jpg") as im:
        im.save(tiff, tiffinfo=ifd)
    assert embedded_store(tiff.read_bytes()) == blob
    sig = scan_file(tiff, UNVERIFIED)
    assert "c2pa.ai_training=notAllowed" in [v for v, _, _ in sig["c2pa-training-mining"]]
    # big-endian: header, IFD at 8 with one UNDEFINED entry pointing at the store
    big = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHII", 0xCD41, 7, len(blob), 26)
    big += struct.pack(">I", 0) + blob
    assert embedded_store(big) == blob
    assert embedded_store(big[:40]) is None  # a store cut short is not read past the end


def test_cawg_identity_failures_are_named_and_no_class_name_leaks() -> None:
    from consentaudit.signals.c2pa_verify import _reason, describe

    codes = ["signingCredential.untrusted", "cawg.ica.credential_invalid"]
    assert describe("Valid", codes) == "Valid, signer untrusted; CAWG identity failed: cawg.ica.credential_invalid"
    assert describe("Trusted", ["cawg.identity.signature_mismatch"]).endswith("cawg.identity.signature_mismatch")
    assert describe("Valid", ["signingCredential.untrusted"]) == "Valid, signer untrusted"

    class _C2paOther(Exception):
        pass

    assert _reason(_C2paOther("claim signature is not valid")) == "claim signature is not valid"
    assert "_C2pa" not in _reason(_C2paOther())


def test_every_model_release_id_is_reported(tmp_path: Path) -> None:
    from consentaudit.codec import metadata_dict

    assert metadata_dict([("xmp.model_release_id", "MR-1"), ("xmp.model_release_id", "MR-2")]) == {
        "xmp.model_release_id": "MR-1; MR-2"
    }


def test_a_c2pa_store_in_an_iso_bmff_uuid_box_is_read_by_the_pure_reader() -> None:
    """HEIF/AVIF carry the store in a top-level `uuid` box (C2PA's UUID, purpose "manifest")."""
    import struct

    from consentaudit.signals.c2pa_reader import embedded_store
    from consentaudit.signals.containers import C2PA_BMFF_UUID

    blob = embedded_store((PROV / "sample_c2pa.png").read_bytes())
    assert blob is not None

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    ftyp = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
    c2pa = box(b"uuid", C2PA_BMFF_UUID + b"\x00\x00\x00\x00" + b"manifest\x00" + struct.pack(">Q", 0) + blob)
    heif = ftyp + box(b"meta", b"\x00" * 16) + c2pa + box(b"mdat", b"\x00" * 32)
    assert embedded_store(heif) == blob
    assert embedded_store(ftyp + box(b"mdat", b"\x00" * 32)) is None
    assert embedded_store(heif[: len(heif) - 60]) is None  # the uuid box cut short is not read


def test_fields_of_another_shape_in_a_c2pa_manifest_are_left_out() -> None:
    """A manifest's assertions are the file's own data: `actions` that is a number, assertions that are not
    a list, a manifest that is not an object, in the pure reader's store and in c2pa-python's report, are
    left out, never raised on (a fuzzing run found `{"actions": 1}` raising TypeError in both)."""
    from consentaudit.signals.c2pa_reader import C2paManifest, digital_source_types, training_entries
    from consentaudit.signals.c2pa_verify import facts_of

    ai = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    manifest = C2paManifest(
        "urn:uuid:x",
        {
            "c2pa.actions": {"actions": 1},
            "c2pa.actions.v2": {"actions": [1, "x", {"digitalSourceType": ai}]},
            "c2pa.training-mining": {"entries": 5},
        },
    )
    assert digital_source_types(manifest) == [ai] and training_entries(manifest) == []
    reports: list[dict[str, object]] = [
        {},
        {"manifests": 3, "active_manifest": "a", "validation_status": 4, "validation_state": {"x": 1}},
        {"manifests": {"a": 1}, "active_manifest": "a"},
        {"manifests": {"a": {"assertions": 7}}, "active_manifest": "a"},
    ]
    for report in reports:
        facts = facts_of(report, "embedded")
        assert facts.training == () and facts.source_types == () and facts.verification.startswith("Valid")
    assertions = [
        1,
        {"label": "c2pa.actions", "data": {"actions": 1}},
        {"label": "c2pa.actions.v2", "data": {"actions": [{"digitalSourceType": ai}]}},
    ]
    facts = facts_of({"manifests": {"a": {"assertions": assertions}}, "active_manifest": "a"}, "embedded")
    assert facts.source_types == (ai,)


def test_a_v2_claims_generator_is_named_from_its_claim_generator_info() -> None:
    """C2PA 2.x claims (`c2pa.claim.v2`) carry no `claim_generator` text, only `claim_generator_info`: one
    object in the claim, a list of them in c2pa-python's report. Both read as "name version"."""
    import cbor2

    import jumbf_builder as jb
    from consentaudit.signals.c2pa_reader import claim_generator, read_store
    from consentaudit.signals.c2pa_verify import facts_of

    claim = {"claim_generator_info": {"name": "c2patool", "version": "0.16.1"}, "instance_id": "x"}
    parts = [jb.cbor_assertion("c2pa.actions.v2", {"actions": [{"action": "c2pa.created"}]})]
    manifest = jb.superbox(
        b"c2ma",
        "urn:c2pa:1234",
        jb.superbox(b"c2as", "c2pa.assertions", *parts),
        jb.superbox(b"c2cl", "c2pa.claim.v2", jb.box(b"cbor", cbor2.dumps(claim))),
    )
    store = read_store(jb.superbox(b"c2pa", "c2pa", manifest))
    assert store.active is not None and store.active.claim_generator == "c2patool 0.16.1"
    report = {"manifests": {"m": {"claim_generator_info": [{"name": "Adobe Photoshop", "version": "26.0"},
                                                          {"name": "c2pa-rs"}]}}, "active_manifest": "m"}  # fmt: skip
    assert facts_of(report, "embedded").generator == "Adobe Photoshop 26.0, c2pa-rs"
    assert claim_generator({"claim_generator": "legacy/1.0", "claim_generator_info": [{"name": "x"}]}) == "legacy/1.0"
    assert claim_generator({"claim_generator_info": 7}) is None and claim_generator({}) is None
