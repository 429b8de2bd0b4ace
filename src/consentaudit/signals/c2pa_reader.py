"""A pure-Python reader of C2PA manifest stores (JUMBF boxes, CBOR assertions). It verifies nothing:
what it reads is reported as *unverified*; `c2pa_verify` (the optional extra) validates signatures.

Where a store sits: JPEG APP11 segments (`JP` + instance + sequence + box, joined in sequence order), PNG
`caBX`, WebP/RIFF `C2PA`, an ISO-BMFF `uuid` box (HEIF, AVIF), TIFF/DNG tag 0xCD41, a GIF application extension
`C2PA_GIF`, or a `.c2pa` sidecar holding the bare store. Nothing here touches the network.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cbor2

from consentaudit.signals.containers import (
    TIFF_C2PA_TAG,
    bmff_c2pa,
    gif_c2pa,
    jpeg_segments,
    jxl_c2pa,
    png_chunks,
    riff_chunks,
    tiff_tag,
)

MAX_STORE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 16
TRAINING_LABELS = ("c2pa.training-mining", "cawg.training-mining")
ACTION_LABELS = ("c2pa.actions", "c2pa.actions.v2")
# training-mining entry key (without its c2pa./cawg. prefix) -> the purposes it governs
TRAINING_KEYS = {
    "ai_training": ("ai-training", "generative-ai-training", "biometric-identification"),
    "ai_generative_training": ("generative-ai-training",),
    "data_mining": ("data-mining",),
    "ai_inference": ("ai-inference",),
}


class JumbfError(ValueError):
    """The bytes are not a well-formed JUMBF manifest store."""


@dataclass
class Box:
    kind: str
    label: str | None = None
    content_type: bytes | None = None  # jumd UUID's first four bytes: b"c2ma", b"cbor", b"json", ...
    payload: bytes = b""
    children: list[Box] = field(default_factory=list)


@dataclass
class C2paManifest:
    label: str
    assertions: dict[str, Any]  # assertion label -> decoded CBOR/JSON (None when undecodable)
    claim_generator: str | None = None


@dataclass
class C2paStore:
    manifests: list[C2paManifest]
    problems: list[str] = field(default_factory=list)

    @property
    def active(self) -> C2paManifest | None:
        return self.manifests[-1] if self.manifests else None


def embedded_store(data: bytes, has_jumbf: bool | None = None) -> bytes | None:
    """The raw JUMBF manifest store embedded in an image, or None. `has_jumbf`: whether `b"jumb"` occurs in
    `data`, when the caller has searched already."""
    if data[:2] == b"\xff\xd8":
        if not (b"jumb" in data if has_jumbf is None else has_jumbf):
            return None  # every APP11 segment of a store repeats its `jumb` box header: none here
        parts: dict[int, list[tuple[int, bytes]]] = {}
        for marker, seg in jpeg_segments(data):
            if marker != 0xEB or len(seg) < 8 or seg[:2] != b"JP":
                continue
            instance, seq = struct.unpack(">HI", seg[2:8])
            parts.setdefault(instance, []).append((seq, seg[8:]))
        for instance in sorted(parts):
            ordered = sorted(parts[instance])
            # every segment after the first repeats the 8-byte box header (LBox + TBox): drop it
            blob = ordered[0][1] + b"".join(p[8:] for _, p in ordered[1:])
            if b"jumb" in blob[:8] and b"c2pa" in blob[:64]:
                return blob[:MAX_STORE_BYTES]
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        for ctype, body in png_chunks(data):
            if ctype == b"caBX":
                return body
        return None
    if data[:4] == b"RIFF":
        for ctype, body in riff_chunks(data):
            if ctype == b"C2PA":
                return body
    if data[4:8] == b"ftyp":  # ISO-BMFF: HEIF, AVIF
        found = bmff_c2pa(data)
        return found[:MAX_STORE_BYTES] if found else None
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF and DNG
        tagged = tiff_tag(data, TIFF_C2PA_TAG)
        return tagged[:MAX_STORE_BYTES] if tagged else None
    if data[:6] in (b"GIF87a", b"GIF89a"):
        found = gif_c2pa(data)
        return found[:MAX_STORE_BYTES] if found else None
    if data[4:8] == b"JXL ":  # a JPEG XL container
        found = jxl_c2pa(data)
        return found[:MAX_STORE_BYTES] if found else None
    return None


def parse_boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> Iterator[Box]:
    end = len(data) if end is None else end
    if depth > MAX_DEPTH:
        raise JumbfError("JUMBF nesting too deep")
    pos = start
    while pos + 8 <= end:
        lbox, tbox = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if lbox == 1:
            if pos + 16 > end:
                raise JumbfError("truncated extended box header")
            (lbox,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif lbox == 0:
            lbox = end - pos
        if lbox < header or pos + lbox > end:
            raise JumbfError(f"box {tbox!r} at {pos} overruns its container")
        kind = tbox.decode("latin-1")
        if tbox == b"jumb":
            children = list(parse_boxes(data, pos + header, pos + lbox, depth + 1))
            box = Box("jumb", children=children)
            if children and children[0].kind == "jumd":
                box.label = children[0].label
                box.content_type = children[0].content_type
                box.children = children[1:]
            yield box
        elif tbox == b"jumd":
            body = data[pos + header : pos + lbox]
            if len(body) < 17:
                raise JumbfError("jumd box too short")
            label = None
            if body[16] & 0x02:
                label = body[17:].split(b"\x00", 1)[0].decode("utf-8", "replace")
            yield Box("jumd", label=label, content_type=body[:4])
        else:
            yield Box(kind, payload=data[pos + header : pos + lbox])
        pos += lbox


def _decode(box: Box) -> Any:
    for child in box.children:
        try:
            if child.kind == "cbor":
                return cbor2.loads(child.payload)
            if child.kind == "json":
                import json

                return json.loads(child.payload)
        except Exception:  # a broken assertion is reported as undecodable, never a crash
            return None
    return None


def read_store(blob: bytes) -> C2paStore:
    """Manifests of a JUMBF store, in store order (the last is the active manifest)."""
    try:
        top = list(parse_boxes(blob))
    except JumbfError as exc:
        return C2paStore([], [f"malformed JUMBF: {exc}"])
    store = next((b for b in top if b.kind == "jumb" and b.label == "c2pa"), None)
    if store is None:
        return C2paStore([], ["no C2PA manifest store (jumb box labelled 'c2pa')"])
    manifests: list[C2paManifest] = []
    for m in store.children:
        if m.kind != "jumb":
            continue
        assertions: dict[str, Any] = {}
        generator = None
        for part in m.children:
            if part.label == "c2pa.assertions":
                for a in part.children:
                    if a.label:
                        assertions[a.label] = _decode(a)
            elif part.label in ("c2pa.claim", "c2pa.claim.v2"):
                claim = _decode(part)
                if isinstance(claim, dict):
                    generator = claim_generator(claim)
        manifests.append(C2paManifest(m.label or "", assertions, generator))
    if not manifests:
        return C2paStore([], ["the manifest store holds no readable manifest"])
    return C2paStore(manifests)


def base_label(label: str) -> str:
    """Assertion label without the `__N` instance suffix."""
    head, sep, tail = label.rpartition("__")
    return head if sep and tail.isdigit() else label


def claim_generator(claim: dict[str, Any]) -> str | None:
    """What made a claim: a v1 claim's `claim_generator` text, else its `claim_generator_info` (v2: one
    object; c2pa-python's report: a list of them) as "name version" each."""
    gen = claim.get("claim_generator")
    if isinstance(gen, str) and gen.strip():
        return gen.strip()[:200]
    info = claim.get("claim_generator_info")
    parts = [info] if isinstance(info, dict) else listed(info)
    named = [" ".join(str(p[k]) for k in ("name", "version") if p.get(k)) for p in parts if isinstance(p, dict)]
    text = ", ".join(n for n in named if n)
    return text[:200] or None


def listed(value: object) -> list[Any]:
    """A decoded field that should be a list (assertions, actions): the list, else none — a file may put
    any CBOR or JSON value there."""
    return value if isinstance(value, list) else []


def training_entries(manifest: C2paManifest) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(assertion label, entry key, use, purposes) for every training-mining entry, both labels."""
    out: list[tuple[str, str, str, tuple[str, ...]]] = []
    for label, body in manifest.assertions.items():
        if base_label(label) not in TRAINING_LABELS or not isinstance(body, dict):
            continue
        out.extend(assertion_entries(base_label(label), body))
    return out


def assertion_entries(label: str, body: dict[str, Any]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(label, entry key, use, purposes) of one training-mining assertion's entries, by key (CBOR keys may be
    of any type: ordered by their text); the pure reader's and c2pa-python's report alike."""
    entries = body.get("entries", body)
    if not isinstance(entries, dict):
        return []
    out: list[tuple[str, str, str, tuple[str, ...]]] = []
    for key, value in sorted(entries.items(), key=lambda kv: str(kv[0])):
        use = value.get("use") if isinstance(value, dict) else value
        out.append((label, str(key), str(use), TRAINING_KEYS.get(str(key).split(".", 1)[-1], ())))
    return out


def digital_source_types(manifest: C2paManifest) -> list[str]:
    out: list[str] = []
    for label, body in manifest.assertions.items():
        if base_label(label) not in ACTION_LABELS or not isinstance(body, dict):
            continue
        for action in listed(body.get("actions")):
            if isinstance(action, dict) and isinstance(action.get("digitalSourceType"), str):
                out.append(action["digitalSourceType"])
    return out
