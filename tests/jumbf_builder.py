"""Build small C2PA manifest stores by hand, for the pure-Python reader's tests (unsigned: a validator
rejects them, which is also tested)."""

from __future__ import annotations

import struct
from typing import Any

import cbor2

C2PA_UUIDS = {"c2pa": b"c2pa", "c2ma": b"c2ma", "c2as": b"c2as", "cbor": b"cbor", "c2cl": b"c2cl"}
TAIL = bytes.fromhex("00110010800000aa00389b71")


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def superbox(uuid4: bytes, label: str, *children: bytes) -> bytes:
    jumd = box(b"jumd", uuid4 + TAIL + b"\x03" + label.encode() + b"\x00")
    return box(b"jumb", jumd + b"".join(children))


def cbor_assertion(label: str, body: Any) -> bytes:
    return superbox(b"cbor", label, box(b"cbor", cbor2.dumps(body)))


def store(assertions: dict[str, Any], manifest_label: str = "urn:uuid:test-manifest") -> bytes:
    parts = [cbor_assertion(k, v) for k, v in assertions.items()]
    claim = superbox(b"c2cl", "c2pa.claim", box(b"cbor", cbor2.dumps({"claim_generator": "test-builder/1.0"})))
    manifest = superbox(b"c2ma", manifest_label, superbox(b"c2as", "c2pa.assertions", *parts), claim)
    return superbox(b"c2pa", "c2pa", manifest)


def jpeg_with_store(jpeg: bytes, blob: bytes, segment_payload: int = 60000) -> bytes:
    """Insert the store as APP11 segments (JP, instance 1, sequence n); later segments repeat the box header."""
    header = blob[:8]
    body = blob[8:]
    chunks = [blob[:segment_payload]]
    rest = body[segment_payload - 8 :]
    while rest:
        chunks.append(header + rest[: segment_payload - 8])
        rest = rest[segment_payload - 8 :]
    segments = b""
    for seq, chunk in enumerate(chunks, start=1):
        payload = b"JP" + struct.pack(">HI", 1, seq) + chunk
        segments += b"\xff\xeb" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segments + jpeg[2:]
