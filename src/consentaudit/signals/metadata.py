"""What a file says about itself: XMP (IPTC/PLUS) and EXIF. The one home of exifread and the XMP parser.

Readers work on the file's bytes, never touch the network, and turn broken input into notes, not crashes.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import exifread
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from consentaudit import jpegxl
from consentaudit.models import Signal
from consentaudit.signals import datamining
from consentaudit.signals.containers import (
    bmff_exif,
    jpeg_header_end,
    jpeg_segments,
    jxl_boxes,
    jxl_exif,
    png_chunks,
    riff_chunks,
)
from consentaudit.vocab import SENSITIVE_CAPTION, SENSITIVE_PREFIX

logging.getLogger("exifread").setLevel(logging.CRITICAL)

XMP_JPEG_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
MAX_XMP_BYTES = 4 * 1024 * 1024
# All the XMP of one file that is inflated (PNG iTXt) or reassembled (JPEG extended XMP), together, and how many
# packets are read at most: a packet that costs a few bytes in the file may inflate to MAX_XMP_BYTES, and a
# bound per packet alone would let a file of a few hundred of them take gigabytes.
MAX_XMP_TOTAL = 2 * MAX_XMP_BYTES
MAX_XMP_PACKETS = 16

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "dcterms": "http://purl.org/dc/terms/",
    "xmpNote": "http://ns.adobe.com/xmp/note/",
}
XMP_EXT_PREFIX = b"http://ns.adobe.com/xmp/extension/\x00"
# (report name, namespace prefix, property) of the XMP rights fields kept in findings
XMP_FIELDS = (
    ("xmp.rights", "dc", "rights"),
    ("xmp.usage_terms", "xmpRights", "UsageTerms"),
    ("xmp.web_statement", "xmpRights", "WebStatement"),
    ("xmp.other_constraints", "plus", "OtherConstraints"),
    ("xmp.credit", "photoshop", "Credit"),
    ("xmp.source", "photoshop", "Source"),
    ("xmp.licensor", "plus", "LicensorName"),
    ("xmp.model_release_status", "plus", "ModelReleaseStatus"),
    ("xmp.model_release_id", "plus", "ModelReleaseID"),
    ("xmp.digital_source_type", "Iptc4xmpExt", "DigitalSourceType"),
    ("xmp.c2pa_provenance", "dcterms", "provenance"),
)
# IPTC-IIM (APP13 Photoshop 8BIM resource 0x0404) datasets kept in findings
IIM_FIELDS = {
    (2, 80): "iptc.by_line",
    (2, 110): "iptc.credit",
    (2, 115): "iptc.source",
    (2, 116): "iptc.copyright_notice",
    (2, 40): "iptc.special_instructions",
}
EXIF_FIELDS = (
    ("exif.make", "Image Make"),
    ("exif.model", "Image Model"),
    ("exif.software", "Image Software"),
    ("exif.datetime_original", "EXIF DateTimeOriginal"),
    ("exif.artist", "Image Artist"),
    ("exif.copyright", "Image Copyright"),
)
# Personal data that is neither stored nor reported unless asked for (--keep-sensitive-metadata): the caption
# (it may name or describe the people shown; nothing decides a verdict from it), the position, serial numbers
SENSITIVE_EXIF_FIELDS = ((SENSITIVE_CAPTION, "Image ImageDescription"),)
SENSITIVE_EXIF_PREFIXES = ("GPS ",)
SENSITIVE_EXIF_KEYS = (
    "EXIF BodySerialNumber",
    "MakerNote SerialNumber",
    "EXIF LensSerialNumber",
    "Image CameraSerialNumber",
    "MakerNote InternalSerialNumber",
)
MAX_VALUE_CHARS = 500


@dataclass
class FileMetadata:
    signals: list[Signal] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_metadata(data: bytes, keep_sensitive: bool = False) -> FileMetadata:
    """Every signal and reportable value this tool reads from a file's bytes."""
    meta = FileMetadata()
    _read_xmp(xmp_packets(data), meta)
    if data[:2] == b"\xff\xd8" and data.find(b"Photoshop 3.0\x00", 0, jpeg_header_end(data)) >= 0:  # IIM: APP13
        _read_iim(data, meta)
    _read_exif(data, meta, keep_sensitive)
    return meta


def read_xmp_sidecar(data: bytes) -> FileMetadata:
    """The signals and values of an XMP sidecar file (`photo.xmp`: a bare XMP packet beside the image, as
    Lightroom, darktable and ExifTool write it); its signals say they come from the sidecar."""
    meta = FileMetadata()
    packets = _search_packet(data) or ([data] if data.lstrip()[:1] == b"<" else [])  # or an RDF document alone
    _read_xmp([p[:MAX_XMP_BYTES] for p in packets], meta, "XMP sidecar plus:DataMining", "sidecar")
    return meta


def _read_xmp(
    packets: list[bytes], meta: FileMetadata, source: str = "XMP plus:DataMining", where: str = "embedded"
) -> None:
    for packet in packets:
        try:
            root = fromstring(packet)
        except (ParseError, DefusedXmlException, ValueError) as exc:
            meta.notes.append(f"XMP packet rejected: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        for value in xmp_values(root, "plus", "DataMining"):
            meta.signals.append(datamining.signal(value, source, where))
        for name, prefix, prop in XMP_FIELDS:
            for value in xmp_values(root, prefix, prop):
                meta.values.append((name, _clip(value)))
        # plus:LicensorName sits inside a plus:Licensor structure: read it wherever it is
        if not any(k == "xmp.licensor" for k, _ in meta.values):
            for el in root.iter(f"{{{NS['plus']}}}LicensorName"):
                if el.text and el.text.strip():
                    meta.values.append(("xmp.licensor", _clip(el.text)))


def _read_iim(data: bytes, meta: FileMetadata) -> None:
    """IPTC-IIM datasets from the Photoshop APP13 segment (resource 0x0404)."""
    for marker, seg in jpeg_segments(data):
        if marker != 0xED or not seg.startswith(b"Photoshop 3.0\x00"):
            continue
        pos = 14
        while pos + 12 <= len(seg) and seg[pos : pos + 4] == b"8BIM":
            (rid,) = struct.unpack(">H", seg[pos + 4 : pos + 6])
            name_len = seg[pos + 6]
            pos += 7 + name_len + ((name_len + 1) & 1)
            if pos + 4 > len(seg):
                return
            (size,) = struct.unpack(">I", seg[pos : pos + 4])
            body = seg[pos + 4 : pos + 4 + size]
            pos += 4 + size + (size & 1)
            if rid == 0x0404:
                _iim_datasets(body, meta)


def _iim_datasets(body: bytes, meta: FileMetadata) -> None:
    pos = 0
    while pos + 5 <= len(body) and body[pos] == 0x1C:
        record, dataset = body[pos + 1], body[pos + 2]
        (size,) = struct.unpack(">H", body[pos + 3 : pos + 5])
        if size & 0x8000:  # extended length: not used by the fields we read
            return
        value = body[pos + 5 : pos + 5 + size]
        pos += 5 + size
        name = IIM_FIELDS.get((record, dataset))
        if name:
            text = value.decode("utf-8", "replace").strip()
            if text:
                meta.values.append((name, _clip(text)))


def _clip(value: str) -> str:
    value = "".join(ch for ch in value if ch.isprintable() or ch in "\n\t").strip()
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "…"


def _read_exif(data: bytes, meta: FileMetadata, keep_sensitive: bool = False) -> None:
    if data[4:8] == b"ftyp" or jpegxl.is_jpegxl(data):
        # HEIF/AVIF (exifread's own walk asserts on the Exif item libheif writes) and JPEG XL (which exifread
        # does not read): the TIFF structure found here
        tiff = bmff_exif(data) if data[4:8] == b"ftyp" else jxl_exif(data)
        if tiff is None:
            return
        data = tiff
    try:
        tags = exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=False)
    except Exception as exc:  # exifread raises many types on broken EXIF
        meta.notes.append(f"EXIF unreadable: {type(exc).__name__}: {str(exc)[:200]}")
        return
    fields = list(EXIF_FIELDS)
    if keep_sensitive:
        fields += SENSITIVE_EXIF_FIELDS
        fields += [
            (f"{SENSITIVE_PREFIX}{k}", k)
            for k in sorted(tags)
            if k.startswith(SENSITIVE_EXIF_PREFIXES) or k in SENSITIVE_EXIF_KEYS
        ]
    for name, key in fields:
        tag = tags.get(key)
        if tag is None:
            continue
        try:
            text = str(tag.printable if hasattr(tag, "printable") else tag)
        except Exception:  # pragma: no cover - defensive against odd tag types
            continue
        text = _clip(text.strip("\x00 "))
        if text:
            meta.values.append((name, text))


def xmp_values(root: Element, prefix: str, prop: str) -> list[str]:
    """Values of one XMP property, in attribute form, element form, rdf:resource, rdf:Alt/Bag/Seq, or as the
    rdf:value of a qualified property (XMP part 1, 7.9.2.5: `rdf:parseType="Resource"` or a nested
    rdf:Description, the value beside its qualifiers)."""
    tag = f"{{{NS[prefix]}}}{prop}"
    rdf = NS["rdf"]
    value = f"{{{rdf}}}value"
    out: list[str] = []
    for desc in root.iter(f"{{{rdf}}}Description"):
        if tag in desc.attrib:
            out.append(desc.attrib[tag])
        for el in desc.findall(tag):
            items = list(el.iter(f"{{{rdf}}}li"))
            if items:
                out.extend((li.text or li.attrib.get(f"{{{rdf}}}resource", "")) for li in items)
            elif f"{{{rdf}}}resource" in el.attrib:
                out.append(el.attrib[f"{{{rdf}}}resource"])
            elif el.text and el.text.strip():
                out.append(el.text)
            else:  # a qualified value: <rdf:value> in the element or in its rdf:Description, or an attribute
                holders = [el, *el.findall(f"{{{rdf}}}Description")]
                out.extend(h.attrib[value] for h in holders if value in h.attrib)
                out.extend(v.text or v.attrib.get(f"{{{rdf}}}resource", "") for h in holders for v in h.findall(value))
    return [v.strip() for v in out if v and v.strip()]


def xmp_packets(data: bytes) -> list[bytes]:
    """Raw XMP packets found in the container (JPEG APP1, PNG iTXt, WebP 'XMP '), else a byte search."""
    if data[:2] == b"\xff\xd8":
        segments = [seg for marker, seg in jpeg_segments(data) if marker == 0xE1]
        found = [seg[len(XMP_JPEG_PREFIX) :] for seg in segments if seg.startswith(XMP_JPEG_PREFIX)]
        found.extend(_extended_xmp(segments))
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        found, left = [], MAX_XMP_TOTAL
        for ctype, body in png_chunks(data):
            if left <= 0 or len(found) >= MAX_XMP_PACKETS:
                break
            if (p := _png_xmp(ctype, body, min(left, MAX_XMP_BYTES))) is not None:
                found.append(p)
                left -= len(p)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        found = [body for ctype, body in riff_chunks(data) if ctype == b"XMP "]
    elif data.startswith(jpegxl.CONTAINER):  # `xml ` boxes, also Brotli-compressed ones (`brob`)
        found = [body for kind, body in jxl_boxes(data) if kind == b"xml "]
    else:
        found = []
    if not found:
        found = _search_packet(data)
    return [p[:MAX_XMP_BYTES] for p in found[:MAX_XMP_PACKETS]]


def _extended_xmp(segments: list[bytes]) -> list[bytes]:
    """Extended XMP: APP1 chunks (GUID, full length, offset, data) reassembled per GUID, the GUIDs in the order
    they first come, as long as their full lengths fit in MAX_XMP_TOTAL together (a file has one)."""
    parts: dict[bytes, tuple[int, dict[int, bytes]]] = {}
    left = MAX_XMP_TOTAL
    for seg in segments:
        if not seg.startswith(XMP_EXT_PREFIX) or len(seg) < len(XMP_EXT_PREFIX) + 40:
            continue
        body = seg[len(XMP_EXT_PREFIX) :]
        guid = body[:32]
        total, offset = struct.unpack(">II", body[32:40])
        if guid not in parts:
            if total > min(left, MAX_XMP_BYTES) or len(parts) >= MAX_XMP_PACKETS:
                continue
            left -= total
        parts.setdefault(guid, (total, {}))[1][offset] = body[40:]
    out = []
    for total, chunks in parts.values():
        blob = bytearray(total)
        for offset, chunk in chunks.items():
            blob[offset : offset + len(chunk)] = chunk[: max(0, total - offset)]
        out.append(bytes(blob).rstrip(b"\x00"))
    return out


def _search_packet(data: bytes) -> list[bytes]:
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return []
    end = data.find(b"</x:xmpmeta>", start)
    return [data[start : end + len(b"</x:xmpmeta>")]] if end > 0 else []


def _png_xmp(ctype: bytes, body: bytes, limit: int = MAX_XMP_BYTES) -> bytes | None:
    if ctype != b"iTXt" or not body.startswith(b"XML:com.adobe.xmp\x00"):
        return None
    rest = body[len(b"XML:com.adobe.xmp\x00") :]
    if len(rest) < 2:
        return None
    compressed = rest[0] == 1
    rest = rest[2:]
    _, _, rest = rest.partition(b"\x00")  # language tag
    _, _, text = rest.partition(b"\x00")  # translated keyword
    if compressed:
        try:
            d = zlib.decompressobj()
            text = d.decompress(text, limit)
        except zlib.error:
            return None
    return text
