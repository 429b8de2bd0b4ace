"""Walk image containers: JPEG marker segments, PNG chunks, RIFF chunks. Pure, bounded by the input."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from consentaudit import jpegxl


def jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, payload) of each JPEG marker segment up to the start of scan; stops at broken structure."""
    for marker, start, end in _jpeg_walk(data):
        yield marker, data[start:end]


def jpeg_header_end(data: bytes) -> int:
    """Where a JPEG's marker segments end (at its start of scan, or where the structure breaks): every payload
    `jpeg_segments` yields lies before this offset, so a search for what a segment holds (a C2PA store's
    `jumb` box, Photoshop's IIM block) need not read the image data after it."""
    last = 2
    for _, _, end in _jpeg_walk(data):
        last = end
    return last


def _jpeg_walk(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each marker segment up to the start of scan."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > n:
            return
        yield marker, pos + 4, pos + 2 + length
        pos += 2 + length


C2PA_BMFF_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # C2PA's ISO-BMFF `uuid` box


def bmff_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each top-level ISO-BMFF box (HEIF, AVIF, MP4); stops at broken structure."""
    pos, n = 0, len(data)
    while pos + 8 <= n:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        head = 8
        if size == 1:
            if pos + 16 > n:
                return
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            head = 16
        elif size == 0:
            size = n - pos
        if size < head or pos + size > n:
            return
        yield kind, data[pos + head : pos + size]
        pos += size


# The most all the `brob` boxes of one JPEG XL file are inflated to, together (metadata, never pixels): Brotli
# turns 70 bytes into 16 MB, so a budget per box would let a file of a few hundred boxes take gigabytes.
MAX_JXL_BOX_BYTES = 16 << 20


def jxl_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each top-level box of a JPEG XL container; a `brob` box (Brotli-compressed metadata)
    as the box it wraps when imagecodecs can inflate it within what is left of MAX_JXL_BOX_BYTES, else left out,
    and so is every `brob` box after it (each failed try costs up to the budget). Nothing for a bare
    codestream."""
    if not data.startswith(jpegxl.CONTAINER):
        return
    left = MAX_JXL_BOX_BYTES
    for kind, payload in bmff_boxes(data):
        if kind != b"brob":
            yield kind, payload
        elif len(payload) > 4 and left > 0:
            inner = jpegxl.brotli(payload[4:], left)
            left = 0 if inner is None else left - len(inner)
            if inner is not None:
                yield payload[:4], inner


def jxl_exif(data: bytes) -> bytes | None:
    """The EXIF of a JPEG XL container as a TIFF structure: its `Exif` box, after the 4-byte offset to the TIFF
    header (ISO/IEC 18181-2)."""
    for kind, payload in jxl_boxes(data):
        if kind == b"Exif" and len(payload) >= 4:
            tiff = payload[4 + int.from_bytes(payload[:4], "big") :]
            if tiff[:4] in (b"II*\x00", b"MM\x00*"):
                return tiff
    return None


def jxl_c2pa(data: bytes) -> bytes | None:
    """The manifest store of a JPEG XL container: the top-level `jumb` box whose description box (`jumd`) is
    labelled `c2pa` (there may be others), returned with its box header as the JUMBF store begins. Never read
    from a `brob` box: C2PA hashes the boxes as stored (c2pa-rs refuses a compressed store too)."""
    if not data.startswith(jpegxl.CONTAINER):
        return None
    for kind, payload in bmff_boxes(data):
        if kind != b"jumb" or payload[4:8] != b"jumd" or len(payload) < 25 or payload[24] & 3 != 3:
            continue  # not a description box with a label (its toggles: requestable, label present)
        if payload[25:].split(b"\x00", 1)[0] == b"c2pa":
            return struct.pack(">I4s", 8 + len(payload), b"jumb") + payload
    return None


def bmff_c2pa(data: bytes) -> bytes | None:
    """The manifest store of an ISO-BMFF file: a top-level `uuid` box with C2PA's UUID, FullBox header,
    purpose "manifest", an 8-byte Merkle offset, then the JUMBF store."""
    for kind, payload in bmff_boxes(data):
        if kind != b"uuid" or payload[:16] != C2PA_BMFF_UUID:
            continue
        rest = payload[16 + 4 :]  # version and flags
        purpose, sep, rest = rest.partition(b"\x00")
        if sep and purpose == b"manifest" and len(rest) > 8:
            return rest[8:]
    return None


def bmff_exif(data: bytes) -> bytes | None:
    """The EXIF of a HEIF or AVIF image as a TIFF structure: the item of type `Exif` of the top-level `meta`
    box, found through `iinf` and read where `iloc` puts it (in the file, or in `idat`), after the 4-byte
    offset to its TIFF header (ISO/IEC 23008-12, A.2.1). None when there is none or the boxes are broken."""
    meta = next((p for k, p in bmff_boxes(data) if k == b"meta"), None)
    if meta is None or len(meta) < 4:
        return None
    boxes = {k: p for k, p in bmff_boxes(meta[4:])}  # a FullBox: version and flags first
    item = _exif_item(boxes.get(b"iinf", b""))
    if item is None:
        return None
    found = _item_bytes(boxes.get(b"iloc", b""), item, data, boxes.get(b"idat", b""))
    if found is None or len(found) < 4:
        return None
    start = 4 + int.from_bytes(found[:4], "big")
    tiff = found[start:]
    return tiff if tiff[:4] in (b"II*\x00", b"MM\x00*") else None


def _exif_item(iinf: bytes) -> int | None:
    """The ID of the item of type `Exif` in an `iinf` box."""
    if len(iinf) < 6:
        return None
    count_size = 2 if iinf[0] == 0 else 4
    for kind, infe in bmff_boxes(iinf[4 + count_size :]):
        if kind != b"infe" or len(infe) < 4 or infe[0] < 2:
            continue
        id_size = 2 if infe[0] == 2 else 4
        at = 4 + id_size + 2  # version and flags, item_ID, item_protection_index
        if infe[at : at + 4] == b"Exif":
            return int.from_bytes(infe[4 : 4 + id_size], "big")
    return None


# The most an item read from a HEIF/AVIF file (its Exif) may hold, its extents together: an `iloc` entry may list
# 65,535 extents, each of them the whole file, so a bound per extent alone let a 1 MB file take 64 GB.
MAX_ITEM_BYTES = 4 << 20


def _item_bytes(iloc: bytes, item: int, data: bytes, idat: bytes) -> bytes | None:
    """The bytes of one item, as its `iloc` extents give them (construction method 0: the file; 1: `idat`);
    None past MAX_ITEM_BYTES."""
    if len(iloc) < 8:
        return None
    version = iloc[0]
    offset_size, length_size = iloc[4] >> 4, iloc[4] & 15
    base_size, index_size = iloc[5] >> 4, (iloc[5] & 15 if version in (1, 2) else 0)
    pos = 6
    count_size = 4 if version == 2 else 2

    def take(size: int) -> int:
        nonlocal pos
        if pos + size > len(iloc):
            raise ValueError("iloc cut short")
        value = int.from_bytes(iloc[pos : pos + size], "big")
        pos += size
        return value

    try:
        for _ in range(take(count_size)):
            item_id = take(count_size)
            method = take(2) & 15 if version in (1, 2) else 0
            take(2)  # data_reference_index
            base = take(base_size)
            source = data if method == 0 else idat
            spans: list[tuple[int, int]] = []
            total, whole = 0, method in (0, 1)
            for _ in range(take(2)):  # every extent is taken, so that the next item is read where it starts
                take(index_size)
                offset, length = take(offset_size), take(length_size)
                total += length
                whole = whole and base + offset + length <= len(source) and total <= MAX_ITEM_BYTES
                spans.append((base + offset, length))
            if item_id == item:
                return (b"".join(source[at : at + n] for at, n in spans) or None) if whole else None
    except ValueError:
        return None
    return None


TIFF_C2PA_TAG = 0xCD41  # C2PA: the manifest store, in the last IFD of a TIFF's chain (its first, before C2PA 2.1)
MAX_IFDS = 1024  # pages walked in a TIFF's IFD chain (c2pa-rs refuses "too many pages" too)
_TIFF_HEADERS = {b"II*\x00": ("<", False), b"MM\x00*": (">", False), b"II+\x00": ("<", True), b"MM\x00+": (">", True)}
# (entry count, entry, offset) sizes of an IFD, classic and BigTIFF; an entry's value fits in its offset's place
_IFD_SIZES = {False: (2, 12, 4), True: (8, 20, 8)}


def tiff_tag(data: bytes, tag: int) -> bytes | None:
    """The bytes of one BYTE/UNDEFINED tag of a TIFF (classic or BigTIFF, either byte order), or None: as
    c2pa-rs reads its C2PA tag, from the last IFD of the chain of pages (where a multi-page file carries it, in
    an IFD of its own), else from the first (a single page, and files written before C2PA 2.1)."""
    header = _TIFF_HEADERS.get(data[:4])
    if header is None:
        return None
    end, big = header
    offsets = _tiff_ifds(data, end, big)
    for ifd in (offsets[-1], offsets[0]) if offsets else ():
        found = _tiff_entry(data, ifd, end, big, tag)
        if found is not None:
            return found
    return None


def _tiff_ifds(data: bytes, end: str, big: bool) -> list[int]:
    """The offsets of the IFDs of a TIFF's main chain, in order; a loop or an offset out of the file ends it."""
    n = len(data)
    if big:
        if n < 16:
            return []
        (ifd,) = struct.unpack(end + "Q", data[8:16])
    else:
        (ifd,) = struct.unpack(end + "I", data[4:8])
    seen: list[int] = []
    count_size, entry_size, next_size = _IFD_SIZES[big]
    while ifd > 0 and ifd + count_size <= n and ifd not in seen and len(seen) < MAX_IFDS:
        seen.append(ifd)
        (count,) = struct.unpack(end + ("Q" if big else "H"), data[ifd : ifd + count_size])
        at = ifd + count_size + entry_size * count
        if at + next_size > n:
            break
        (ifd,) = struct.unpack(end + ("Q" if big else "I"), data[at : at + next_size])
    return seen


def _tiff_entry(data: bytes, ifd: int, end: str, big: bool, tag: int) -> bytes | None:
    n = len(data)
    count_size, entry_size, inline = _IFD_SIZES[big]
    (count,) = struct.unpack(end + ("Q" if big else "H"), data[ifd : ifd + count_size])
    for i in range(min(count, (n - ifd - count_size) // entry_size)):
        pos = ifd + count_size + entry_size * i
        if big:
            t, kind, length, value = struct.unpack(end + "HHQQ", data[pos : pos + 20])
        else:
            t, kind, length, value = struct.unpack(end + "HHII", data[pos : pos + 12])
        if t != tag or kind not in (1, 7):  # BYTE or UNDEFINED
            continue
        if length <= inline:
            return data[pos + entry_size - inline : pos + entry_size - inline + length]
        return data[value : value + length] if value + length <= n else None
    return None


GIF_C2PA = b"C2PA_GIF\x01\x00\x00"  # the application extension's identifier and authentication code


def gif_c2pa(data: bytes) -> bytes | None:
    """The manifest store of a GIF: the data sub-blocks of its application extension `C2PA_GIF` (as c2pa-rs
    writes it), joined; None when it has none or its blocks end before one is found."""
    n = len(data)
    if n < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    pos = 13
    if data[10] & 0x80:  # a global colour table
        pos += 3 << ((data[10] & 7) + 1)
    while pos < n:
        kind = data[pos]
        if kind == 0x3B:  # the trailer
            return None
        if kind == 0x21 and pos + 2 < n:  # an extension: label, then sub-blocks (an application's first is its id)
            if data[pos + 1] == 0xFF and data[pos + 2] == 11 and data[pos + 3 : pos + 14] == GIF_C2PA:
                return _sub_blocks(data, pos + 14)[0]
            pos = _sub_blocks(data, pos + 2)[1]
        elif kind == 0x2C and pos + 10 <= n:  # an image: descriptor, local colour table, LZW code size, data
            flags = data[pos + 9]
            pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
            pos = _sub_blocks(data, pos + 1)[1]
        else:
            return None
    return None


def _sub_blocks(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """The bytes of the data sub-blocks from `pos` (each a size byte then its bytes; a zero size ends them),
    and where they end; None for the bytes when the file ends first."""
    parts: list[bytes] = []
    n = len(data)
    while pos < n:
        size = data[pos]
        if size == 0:
            return b"".join(parts), pos + 1
        parts.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return None, n


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 8
    n = len(data)
    while pos + 8 <= n:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        if pos + 12 + length > n:
            return
        yield ctype, data[pos + 8 : pos + 8 + length]
        if ctype == b"IEND":
            return
        pos += 12 + length


def riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 12
    n = len(data)
    while pos + 8 <= n:
        ctype = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + length > n:
            return
        yield ctype, data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
