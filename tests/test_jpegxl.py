"""JPEG XL images are audited, not skipped: recognised by name and by content, refused as a decompression bomb
from their header, decoded by libjxl (imagecodecs), hashed like the JPEG they were made from, with their EXIF,
XMP and C2PA read from the container. Without the decoder each is an `unreadable` finding naming the extra."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import FIXTURES, PHOTOS
from consentaudit import jpegxl
from consentaudit.cli.app import app
from consentaudit.fingerprint import UnreadableImage, fingerprint_bytes
from consentaudit.scanner import ScanSettings, scan_unit
from consentaudit.signals.metadata import read_metadata
from consentaudit.sources.directory import DirectorySource
from consentaudit.vocab import REBUILT_JPEG, REBUILT_JPEG_SHA256

imagecodecs = pytest.importorskip("imagecodecs", reason="imagecodecs (consentaudit[jxl], libjxl) is not installed")

JXL = FIXTURES / "jpegxl"
R = CliRunner()


def _bits(fields: list[tuple[int, int]]) -> bytes:
    """(value, width) fields packed least significant bit first, as a JPEG XL header is."""
    out, acc, n = bytearray(), 0, 0
    for value, width in fields:
        acc |= value << n
        n += width
    while n > 0:
        out.append(acc & 0xFF)
        acc >>= 8
        n -= 8
    return bytes(out)


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.mark.parametrize(("width", "height"), [(640, 480), (17, 33), (1000, 7), (4032, 3024), (8, 16), (513, 1)])
def test_the_header_gives_the_size_libjxl_wrote(width: int, height: int) -> None:
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    for container in (False, True):
        data = imagecodecs.jpegxl_encode(pixels, distance=2.0, usecontainer=container)
        assert jpegxl.is_jpegxl(data)
        header = jpegxl.read_header(data)
        assert (header.width, header.height, header.orientation) == (width, height, 1)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_header_gives_the_orientation_of_a_transcoded_jpeg(orientation: int) -> None:
    """libjxl moves a JPEG's EXIF Orientation into the codestream's header: the pixels are hashed as stored and
    the orientation gives the upright code, as for the JPEG."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    with Image.open(PHOTOS / "kodak-dc240.jpg") as im:
        im.convert("RGB").save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    data = imagecodecs.jpegxl_encode_jpeg(buf.getvalue())
    assert jpegxl.read_header(data).orientation == orientation
    as_jpeg, as_jxl = fingerprint_bytes(buf.getvalue()), fingerprint_bytes(data)
    assert _distance(as_jpeg.phash, as_jxl.phash) <= 2
    assert (as_jpeg.phash_upright is None) == (as_jxl.phash_upright is None) == (orientation == 1)


def test_a_jxl_is_hashed_as_the_photo_it_was_made_from() -> None:
    for name in ("canon-ixus", "kodak-dc240"):
        data = (JXL / f"{name}.jxl").read_bytes()
        fp, original = fingerprint_bytes(data), fingerprint_bytes((PHOTOS / f"{name}.jpg").read_bytes())
        assert fp.format == "JXL" and (fp.width, fp.height) == (original.width, original.height)
        assert _distance(fp.phash, original.phash) <= 2 and _distance(fp.dhash, original.dhash) <= 4
        assert fp.sha256 != original.sha256


def test_a_bomb_is_refused_from_its_header_and_damage_is_a_finding() -> None:
    # div8 = 0, height: selector 3 (30 bits) = 100,000; ratio 0; width likewise; then a few bytes of nothing
    big = b"\xff\x0a" + _bits([(0, 1), (3, 2), (99_999, 30), (0, 3), (3, 2), (99_999, 30)]) + bytes(16)
    header = jpegxl.read_header(big)
    assert (header.width, header.height) == (100_000, 100_000)
    with pytest.raises(UnreadableImage, match="decompression bomb: 100000x100000"):
        fingerprint_bytes(big)
    data = (JXL / "kodak-dc240.jxl").read_bytes()
    with pytest.raises(UnreadableImage, match="truncated or corrupt"):
        fingerprint_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage, match="truncated or corrupt"):
        fingerprint_bytes(data[:3])


def test_without_imagecodecs_a_jxl_is_unreadable_and_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['imagecodecs'] = None\n"
        "from consentaudit.fingerprint import UnreadableImage, fingerprint_bytes\n"
        f"data = open({str(JXL / 'canon-ixus.jxl')!r}, 'rb').read()\n"
        "try:\n    fingerprint_bytes(data)\nexcept UnreadableImage as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "JPEG XL" in out and "consentaudit[jxl]" in out


def test_exif_of_a_transcoded_jpeg_is_read_from_its_exif_box() -> None:
    values = dict(read_metadata((JXL / "canon-ixus.jxl").read_bytes()).values)
    with Image.open(PHOTOS / "canon-ixus.jpg") as im:
        exif = im.getexif()
    assert values["exif.make"] == exif[0x010F].strip("\x00 ") and values["exif.model"] == exif[0x0110].strip("\x00 ")


def test_a_folder_of_jxl_files_is_audited_against_the_originals_manifest(tmp_path: Path) -> None:
    """`manifest init` on the original JPEGs; the dataset holds their JPEG XL versions, one named `.bin` (told
    by its content), and one cut short. Each JPEG XL is tied to its original's record; none is skipped."""
    originals, ds = tmp_path / "originals", tmp_path / "ds"
    originals.mkdir()
    ds.mkdir()
    for name in ("canon-ixus", "kodak-dc240"):
        shutil.copy(PHOTOS / f"{name}.jpg", originals)
    shutil.copy(JXL / "canon-ixus.jxl", ds / "a.jxl")
    shutil.copy(JXL / "kodak-dc240.jxl", ds / "b.bin")
    cut = (JXL / "kodak-dc240.jxl").read_bytes()
    (ds / "cut.jxl").write_bytes(cut[: len(cut) // 3])
    assert sorted(i.path for i in DirectorySource(ds).items()) == ["a.jxl", "b.bin", "cut.jxl"]

    manifest = tmp_path / "m.csv"
    init = ["manifest", "init", str(originals), "-o", str(manifest), "--status", "granted", "-p", "ai-training"]
    r = R.invoke(app, [*init, "--granted-at", "2026-01-01", "-q"])
    assert r.exit_code == 0, r.output
    with manifest.open(newline="") as f:
        ids = {row["path"]: row["record_id"] for row in csv.DictReader(f)}
    out = tmp_path / "r.json"
    args = ["scan", str(ds), "--manifest", str(manifest), "--purpose", "ai-training", "--as-of", "2026-06-01"]
    r = R.invoke(app, [*args, "--db", str(tmp_path / "db"), "--report", str(out), "--fail-on", "none", "-q"])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    found = {f["path"]: f for f in report["findings"]}
    assert found["a.jxl"]["verdict"] == "consented" and found["b.bin"]["verdict"] == "consented"
    # the lossless one is tied by the sha256 of the JPEG it rebuilds, the lossy one perceptually
    original = hashlib.sha256((PHOTOS / "canon-ixus.jpg").read_bytes()).hexdigest()
    assert found["a.jxl"]["metadata"][REBUILT_JPEG_SHA256] == original
    assert found["a.jxl"]["match"] == {
        "record_id": ids["canon-ixus.jpg"],
        "kind": "sha256",
        "distance": None,
        "hash": REBUILT_JPEG,
    }
    assert "rebuilds bit for bit" in found["a.jxl"]["reasons"][0]["detail"]
    assert found["b.bin"]["match"]["record_id"] == ids["kodak-dc240.jpg"]
    assert found["b.bin"]["match"]["kind"] == "perceptual" and REBUILT_JPEG_SHA256 not in found["b.bin"]["metadata"]
    assert found["cut.jxl"]["verdict"] == "unreadable"
    assert report["files"] == []  # nothing passed over as a non-image file


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool (Debian libimage-exiftool-perl) not installed")
def test_data_mining_written_by_exiftool_into_a_jxl(tmp_path: Path) -> None:
    """ExifTool wraps a bare codestream into a container and adds an `xml ` box; the opt-out is read from it."""
    photo = tmp_path / "photo.jxl"
    shutil.copy(JXL / "kodak-dc240.jxl", photo)
    packet = tmp_path / "dm.xmp"
    packet.write_text(
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        "<rdf:Description rdf:about='' xmlns:plus='http://ns.useplus.org/ldf/xmp/1.0/'><plus:DataMining "
        "rdf:resource='http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING'/></rdf:Description>"
        "</rdf:RDF></x:xmpmeta>"
    )
    subprocess.run(["exiftool", "-q", "-m", "-overwrite_original", f"-xmp<={packet}", str(photo)], check=True)
    data = photo.read_bytes()
    assert data.startswith(jpegxl.CONTAINER)
    signals = read_metadata(data).signals
    assert [(s.protocol.value, s.value) for s in signals] == [("iptc-data-mining", "DMI-PROHIBITED-AIMLTRAINING")]
    assert fingerprint_bytes(data).phash == fingerprint_bytes((JXL / "kodak-dc240.jxl").read_bytes()).phash


def test_jxl_copies_of_a_reference_set_are_found(tmp_path: Path) -> None:
    """Against a reference set the 256-bit pHash decides (`probe.ImageProbe`, which decodes the dataset image
    again): the JPEG XL versions of two reference photos are found, the unrelated one is not."""
    refs, ds = tmp_path / "refs", tmp_path / "ds"
    refs.mkdir()
    ds.mkdir()
    for name in ("canon-ixus", "kodak-dc240"):
        shutil.copy(PHOTOS / f"{name}.jpg", refs)
        shutil.copy(JXL / f"{name}.jxl", ds)
    with Image.open(PHOTOS / "sony-d700.jpg") as im:
        pixels = np.asarray(im.convert("RGB"))
    (ds / "other.jxl").write_bytes(imagecodecs.jpegxl_encode(pixels, distance=1.0))
    out = tmp_path / "r.json"
    args = ["scan", str(ds), "--reference", str(refs), "--db", str(tmp_path / "db"), "--report", str(out)]
    r = R.invoke(app, [*args, "--fail-on", "none", "-q"])
    assert r.exit_code == 0, r.output
    found = {f["path"]: f for f in json.loads(out.read_text())["findings"]}
    lossless, lossy = found["canon-ixus.jxl"]["reference"], found["kodak-dc240.jxl"]["reference"]
    assert lossless == {"record_id": "refs:canon-ixus.jpg", "kind": "sha256", "distance": None, "hash": REBUILT_JPEG}
    assert lossy["record_id"] == "refs:kodak-dc240.jpg" and "phash256" in lossy["hash"], lossy
    assert found["other.jxl"]["reference"] is None


def test_a_jxl_whose_jpeg_cannot_be_rebuilt_keeps_its_fingerprint_and_says_so(tmp_path: Path) -> None:
    """The reconstruction data (`jbrd`) damaged past use while the picture still decodes: the image is hashed
    and matched perceptually; a note says the JPEG could not be rebuilt."""
    data = bytearray((JXL / "canon-ixus.jxl").read_bytes())
    at = data.index(b"jbrd") + 4
    data[at : at + 64] = bytes(64)
    (tmp_path / "x.jxl").write_bytes(bytes(data))
    (item,) = DirectorySource(tmp_path).items()
    (image,) = scan_unit([item], ScanSettings(verify_c2pa=False))
    assert image.fingerprint is not None and image.error is None
    assert REBUILT_JPEG_SHA256 not in dict(image.metadata)
    assert any("could not be rebuilt" in n for n in image.notes), image.notes


def test_16_bit_and_alpha_jxl_hash_as_their_8_bit_picture() -> None:
    with Image.open(PHOTOS / "kodak-dc240.jpg") as im:
        rgb = np.asarray(im.convert("RGB"))
    base = fingerprint_bytes(imagecodecs.jpegxl_encode(rgb, lossless=True))
    deep = imagecodecs.jpegxl_encode(rgb.astype(np.uint16) * 257, lossless=True)  # 0..255 -> 0..65535
    alpha = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for data in (deep, imagecodecs.jpegxl_encode(alpha, lossless=True)):
        assert fingerprint_bytes(data).phash == base.phash
    assert base.phash == fingerprint_bytes((PHOTOS / "kodak-dc240.jpg").read_bytes(), fast=False).phash


def _brob(kind: bytes, content: bytes) -> bytes:
    """A `brob` box: the type of the box it wraps, then that box's content, Brotli-compressed."""
    payload = kind + imagecodecs.brotli_encode(content, level=9)
    return struct.pack(">I4s", 8 + len(payload), b"brob") + payload


def test_a_compressed_xml_box_is_read_and_many_inflate_within_one_budget() -> None:
    """ExifTool and libjxl may Brotli-compress metadata boxes (`brob`); the opt-out in one is read. 70 bytes of
    Brotli make 16 MB, so a file of many such boxes is inflated within one budget for the file (MAX_JXL_BOX_BYTES),
    and a box past it stops the inflating: 40 boxes took 1 GB and 2 s before."""
    import tracemalloc

    from consentaudit.signals.containers import MAX_JXL_BOX_BYTES

    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" plus:DataMining="DMI-PROHIBITED"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    base = (FIXTURES / "jpegxl" / "canon-ixus.jxl").read_bytes()
    assert [s.value for s in read_metadata(base + _brob(b"xml ", xmp)).signals] == ["DMI-PROHIBITED"]
    bomb = _brob(b"xml ", b"<x:xmpmeta/>" + b" " * (MAX_JXL_BOX_BYTES // 2))
    data = base + _brob(b"xml ", xmp) + bomb * 200
    assert len(data) < 1 << 20
    tracemalloc.start()
    try:
        meta = read_metadata(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [s.value for s in meta.signals] == ["DMI-PROHIBITED"]
    assert peak < 4 * MAX_JXL_BOX_BYTES, peak / (1 << 20)
