"""XMP and EXIF reading: every form the field writes, and hostile input."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image

from conftest import PHOTOS, SHARED_CORPUS
from consentaudit.signals.metadata import read_metadata, xmp_packets

PLUS = 'xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"'
RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'


def packet(body: str) -> str:
    return f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}>{body}</rdf:RDF></x:xmpmeta>'


def jpeg_with_xmp(xmp: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, "JPEG")
    data = buf.getvalue()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


@pytest.mark.parametrize(
    "body",
    [
        f'<rdf:Description {PLUS} plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"/>',
        f"<rdf:Description {PLUS}><plus:DataMining>DMI-PROHIBITED</plus:DataMining></rdf:Description>",
        f'<rdf:Description {PLUS}><plus:DataMining rdf:resource="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"/>'
        "</rdf:Description>",
        f"<rdf:Description/><rdf:Description {PLUS}><plus:DataMining><rdf:Alt><rdf:li>dmi-prohibited</rdf:li>"
        "</rdf:Alt></plus:DataMining></rdf:Description>",
        # qualified values (XMP part 1, 7.9.2.5): the value is rdf:value beside its qualifiers
        f'<rdf:Description {PLUS} xmlns:q="urn:q"><plus:DataMining rdf:parseType="Resource">'
        "<rdf:value>http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED</rdf:value><q:by>editor</q:by>"
        "</plus:DataMining></rdf:Description>",
        f'<rdf:Description {PLUS} xmlns:q="urn:q"><plus:DataMining><rdf:Description q:by="editor" '
        'rdf:value="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"/></plus:DataMining></rdf:Description>',
        f"<rdf:Description {PLUS}><plus:DataMining><rdf:Description><rdf:value rdf:resource="
        '"http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"/></rdf:Description></plus:DataMining></rdf:Description>',
    ],
)
def test_data_mining_in_every_form(body: str) -> None:
    meta = read_metadata(jpeg_with_xmp(packet(body)))
    assert [s.value for s in meta.signals] == ["DMI-PROHIBITED"]
    assert "ai-training" in meta.signals[0].prohibits


def test_png_itxt_xmp_compressed_and_plain() -> None:
    body = f'<rdf:Description {PLUS} plus:DataMining="DMI-PROHIBITED-GENAIMLTRAINING"/>'
    for compressed in (0, 1):
        text = packet(body).encode()
        data = zlib.compress(text) if compressed else text
        chunk_body = b"XML:com.adobe.xmp\x00" + bytes([compressed, 0]) + b"\x00\x00" + data
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "PNG")
        png = buf.getvalue()
        chunk = (
            struct.pack(">I", len(chunk_body))
            + b"iTXt"
            + chunk_body
            + struct.pack(">I", zlib.crc32(b"iTXt" + chunk_body))
        )
        png = png[:33] + chunk + png[33:]
        assert [s.value for s in read_metadata(png).signals] == ["DMI-PROHIBITED-GENAIMLTRAINING"]


def test_xml_bomb_is_rejected_not_expanded() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}><rdf:Description {PLUS} '
        'plus:DataMining="&lol2;"/></rdf:RDF></x:xmpmeta>'
    )
    meta = read_metadata(jpeg_with_xmp(bomb))
    assert meta.signals == []
    assert meta.notes and "XMP packet rejected" in meta.notes[0]


def test_garbage_metadata_does_not_crash() -> None:
    meta = read_metadata(jpeg_with_xmp("<x:xmpmeta><unclosed"))
    assert meta.signals == [] and meta.notes
    assert read_metadata(b"\xff\xd8\xff\xe1\xff\xff" + b"\x00" * 10).signals == []
    assert xmp_packets(b"") == []


def test_exif_make_and_model_of_a_real_camera_file() -> None:
    values = dict(read_metadata((PHOTOS / "canon-ixus.jpg").read_bytes()).values)
    assert values["exif.make"] == "Canon"
    assert "IXUS" in values["exif.model"] or "Canon" in values["exif.model"]


def test_iptc_reference_image_rights_fields() -> None:
    meta = read_metadata((PHOTOS / "IPTC-PhotometadataRef-Std2019.1.jpg").read_bytes())
    names = {k for k, _ in meta.values}
    assert {"xmp.rights", "xmp.usage_terms", "xmp.web_statement", "xmp.credit", "xmp.source"} <= names
    assert meta.signals == []  # the reference image carries no Data Mining field: unspecified


@pytest.mark.skipif(not SHARED_CORPUS.exists(), reason="../shared/corpus not present (extra check)")
def test_whole_corpus_reads_without_crashing() -> None:
    files = [
        p
        for p in SHARED_CORPUS.rglob("*")
        if p.is_file() and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".heic", ".heif", ".tiff", ".c2pa"}
    ]
    assert len(files) > 80
    for p in files:
        read_metadata(p.read_bytes())


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_exif_of_a_heif_or_avif_written_by_libheif_or_libavif(fmt: str) -> None:
    """A real photo's EXIF saved into HEIF (pillow-heif, libheif) and AVIF (Pillow, libavif): the `Exif` item is
    found through the `meta` box's `iinf` and `iloc`, as on an iPhone's HEIC. exifread's own HEIF walk asserts
    on libheif's item (it expects `Exif\\0\\0` before the TIFF header) and the fields were lost."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(PHOTOS / "kodak-dc240.jpg") as im:
        exif = im.getexif()
        buf = io.BytesIO()
        im.convert("RGB").resize((160, 120)).save(buf, format=fmt, exif=exif.tobytes())
    meta = read_metadata(buf.getvalue())
    assert meta.notes == []
    values = dict(meta.values)
    assert values["exif.make"] == exif[0x010F].strip() and values["exif.model"] == exif[0x0110].strip()


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool (Debian libimage-exiftool-perl) not installed")
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".gif", ".tif", ".avif", ".heic"])
def test_data_mining_written_by_exiftool_into_each_container(tmp_path: Path, suffix: str) -> None:
    """ExifTool, the tool photographers and agencies write IPTC metadata with, puts an XMP packet carrying
    plus:DataMining wherever each format keeps XMP (JPEG APP1, PNG iTXt, WebP `XMP `, GIF's application
    extension, TIFF tag 700, HEIF/AVIF's `mime` item): every one is read as the opt-out it is."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    photo = tmp_path / f"photo{suffix}"
    with Image.open(PHOTOS / "kodak-dc240.jpg") as im:
        im.convert("RGB").resize((160, 120)).save(photo)
    assert not read_metadata(photo.read_bytes()).signals
    packet = tmp_path / "dm.xmp"
    packet.write_text(
        "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>"
        "<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description rdf:about='' "
        "xmlns:plus='http://ns.useplus.org/ldf/xmp/1.0/'><plus:DataMining "
        "rdf:resource='http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING'/></rdf:Description>"
        "</rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
    )
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-xmp<={packet}", str(photo)], check=True)
    signals = read_metadata(photo.read_bytes()).signals
    assert [(s.protocol.value, s.value) for s in signals] == [("iptc-data-mining", "DMI-PROHIBITED-AIMLTRAINING")]


def _peak_mib(read: object, data: bytes) -> tuple[object, float]:
    """What `read(data)` gives and the most memory it held at once (tracemalloc), in MiB."""
    import tracemalloc

    tracemalloc.start()
    try:
        out = read(data)  # type: ignore[operator]
        return out, tracemalloc.get_traced_memory()[1] / (1 << 20)
    finally:
        tracemalloc.stop()


def test_many_compressed_xmp_chunks_in_a_png_inflate_within_one_budget() -> None:
    """Each iTXt chunk inflates to at most MAX_XMP_BYTES, but a few KB of zlib make 4 MB: a 900 KB PNG of a hundred
    such chunks took 826 MB. The chunks of one file share MAX_XMP_TOTAL, and the opt-out before them is read."""
    from consentaudit.signals.metadata import MAX_XMP_BYTES, MAX_XMP_TOTAL

    def chunk(text: bytes, compressed: bool) -> bytes:
        body = (
            b"XML:com.adobe.xmp\x00"
            + bytes([compressed, 0])
            + b"\x00\x00"
            + (zlib.compress(text, 9) if compressed else text)
        )
        return struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))

    real = packet(f'<rdf:Description {PLUS} plus:DataMining="DMI-PROHIBITED-GENAIMLTRAINING"/>').encode()
    bomb = chunk(packet("").encode() + b" " * (MAX_XMP_BYTES - 200), True)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    png = buf.getvalue()
    data = png[:33] + chunk(real, True) + bomb * 100 + png[33:]
    assert len(data) < 1 << 20
    meta, peak = _peak_mib(read_metadata, data)
    assert [s.value for s in meta.signals] == ["DMI-PROHIBITED-GENAIMLTRAINING"]  # type: ignore[attr-defined]
    assert sum(map(len, xmp_packets(data))) <= MAX_XMP_TOTAL
    assert peak < 4 * MAX_XMP_TOTAL / (1 << 20), peak  # 400 MB of XMP before: never more than the budget's order


def test_extended_xmp_under_many_guids_is_reassembled_within_one_budget() -> None:
    """An extended-XMP segment names its GUID and full length; a reader reassembles a buffer of that length per
    GUID, then parses it. Two hundred 80-byte segments, each a new GUID claiming 4 MB, were 200 buffers of 4 MB
    and 200 "XMP packet rejected" notes on the image (2.9 s); now a few, within MAX_XMP_TOTAL."""
    from consentaudit.signals.metadata import MAX_XMP_BYTES, MAX_XMP_PACKETS, MAX_XMP_TOTAL, XMP_EXT_PREFIX

    def segment(body: bytes) -> bytes:
        return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body

    real = packet(f'<rdf:Description {PLUS} plus:DataMining="DMI-PROHIBITED"/>').encode()
    first = XMP_EXT_PREFIX + b"%032X" % 0 + struct.pack(">II", len(real), 0) + real  # the one a file has
    greedy = b"".join(
        segment(XMP_EXT_PREFIX + b"%032X" % i + struct.pack(">II", MAX_XMP_BYTES - 1, 0) + b"<x") for i in range(1, 201)
    )
    data = jpeg_with_xmp(packet(""))
    data = data[:2] + segment(first) + greedy + data[2:]
    packets, peak = _peak_mib(xmp_packets, data)
    assert len(packets) <= MAX_XMP_PACKETS  # type: ignore[arg-type]
    assert peak < 4 * MAX_XMP_TOTAL / (1 << 20), peak
    meta = read_metadata(data)
    assert [s.value for s in meta.signals] == ["DMI-PROHIBITED"]
    assert len(meta.notes) < MAX_XMP_PACKETS


def test_an_exif_item_of_many_extents_is_refused_not_copied() -> None:
    """A HEIF `iloc` entry may list 65,535 extents; each within the file, they were copied out one by one, so
    a 1 MB file whose Exif item names the same megabyte 2,000 times took 4 GB (13.7 s). An item past
    MAX_ITEM_BYTES is not read; the same item with one extent still is."""
    from consentaudit.signals.containers import MAX_ITEM_BYTES, bmff_exif

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    tiff = b"MM\x00*\x00\x00\x00\x08\x00\x00"  # a TIFF header and an empty IFD
    exif = bytes(4) + tiff  # the 4-byte offset to the TIFF header, then the header

    def heif(extents: int) -> bytes:
        infe = box(b"infe", bytes([2, 0, 0, 0]) + struct.pack(">HH", 1, 0) + b"Exif\x00")
        iinf = box(b"iinf", bytes(4) + struct.pack(">H", 1) + infe)
        head = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
        size = len(head) + 8 + 4 + len(iinf) + 8 + 4 + 2 + 2 + 6 + 2 + 8 * extents + 8  # up to mdat's payload
        entry = struct.pack(">HHHH", 1, 0, 0, extents) + struct.pack(">II", size, len(exif) + (1 << 20)) * extents
        iloc = box(b"iloc", bytes([1, 0, 0, 0, 0x44, 0x00]) + struct.pack(">H", 1) + entry)
        data = head + box(b"meta", bytes(4) + iinf + iloc) + box(b"mdat", exif + bytes(1 << 20))
        assert data[size : size + len(exif)] == exif
        return data

    assert bmff_exif(heif(1)) == tiff + bytes(1 << 20)  # one extent: the item, read where iloc puts it
    bomb = heif(2000)
    assert MAX_ITEM_BYTES < 2000 * (1 << 20)
    found, peak = _peak_mib(bmff_exif, bomb)
    assert found is None
    assert peak < 2 * MAX_ITEM_BYTES / (1 << 20), peak
