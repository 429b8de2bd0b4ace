"""Property-based fuzzing of every parser that reads untrusted bytes: the JUMBF/C2PA reader, the XMP and
metadata readers, the container walkers, the manifest parsers and strict JSON. Each must return a value
or a reported problem for any input -- never raise, never hang -- and what it returns must make sense.

The inputs are mutations of real, valid documents (a hand-built C2PA store, real XMP, real manifests), so
the fuzzer spends its time deep inside the formats, not on garbage the first check rejects."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, MANIFESTS
from consentaudit import strict_json
from consentaudit.manifest import parse_manifest
from consentaudit.signals.c2pa_reader import (
    ACTION_LABELS,
    TRAINING_LABELS,
    JumbfError,
    digital_source_types,
    embedded_store,
    parse_boxes,
    read_store,
    training_entries,
)
from consentaudit.signals.c2pa_verify import facts_of
from consentaudit.signals.containers import jpeg_segments, png_chunks, riff_chunks, tiff_tag
from consentaudit.signals.metadata import read_metadata, xmp_packets
from jumbf_builder import jpeg_with_store, store

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_STORE = store(
    {
        "c2pa.training-mining": {"entries": {"c2pa.ai_training": {"use": "notAllowed"}}},
        "c2pa.actions": {"actions": [{"action": "c2pa.created", "digitalSourceType": "trainedAlgorithmicMedia"}]},
    }
)
REAL_JPEG = (FIXTURES / "photos" / "canon-ixus.jpg").read_bytes()[:4096]
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" '
    b'plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING">'
    b"<plus:ModelReleaseID><rdf:Bag><rdf:li>MR-1</rdf:li><rdf:li>MR-2</rdf:li></rdf:Bag></plus:ModelReleaseID>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)
XMP_JPEG = b"\xff\xd8" + b"\xff\xe1" + (len(XMP) + 31).to_bytes(2, "big") + b"http://ns.adobe.com/xap/1.0/\x00" + XMP
MANIFEST_TEXTS = {
    "m.csv": (MANIFESTS / "fixtures.csv").read_text(),
    "m.jsonl": (MANIFESTS / "fixtures-extra.jsonl").read_text(),
    "m.json": (MANIFESTS / "example.json").read_text(),
}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few bytes flipped, inserted, deleted or cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "length"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
        else:  # a box or segment length field set to something extreme
            data[pos : pos + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x01"]))
    return bytes(data)


@FUZZ
@given(mutated(VALID_STORE))
def test_the_jumbf_reader_never_raises(blob: bytes) -> None:
    result = read_store(blob)  # problems are reported in the result, never raised
    assert result.active is not None or result.problems or not blob
    if result.active is not None:
        for label, key, use, purposes in training_entries(result.active):
            assert isinstance(label, str) and isinstance(key, str) and isinstance(use, str)
            assert all(isinstance(p, str) for p in purposes)
        assert all(isinstance(t, str) for t in digital_source_types(result.active))
    try:  # the box walker's own contract: boxes, or JumbfError naming the broken one
        list(parse_boxes(blob))
    except JumbfError as exc:
        assert "box" in str(exc) or str(exc)


SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12)
KEYS = st.text(max_size=12) | st.integers(-100, 100) | st.binary(max_size=4)  # a CBOR map's keys: any type
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=16,
)
_NAMES = ("actions", "entries", "use", "action", "digitalSourceType", "c2pa.ai_training")
# the fields the readers look for, each holding a scalar, a list or an object of anything
FIELDS = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(_NAMES, SCALARS | st.lists(VALUES, max_size=4) | st.dictionaries(KEYS, VALUES))
)


@FUZZ
@given(st.dictionaries(st.sampled_from([*TRAINING_LABELS, *ACTION_LABELS, "c2pa.actions__2"]), VALUES | FIELDS))
def test_assertions_of_any_shape_are_read_without_raising(assertions: dict[str, object]) -> None:
    """Well-formed boxes and CBOR, any values in the assertions (a number where the specification has a
    list: `{"actions": 1}` stopped scans), through the pure reader and through c2pa-python's report shape."""
    result = read_store(store(assertions))
    assert result.active is not None
    for label, key, use, purposes in training_entries(result.active):
        assert isinstance(label, str) and isinstance(key, str) and isinstance(use, str)
        assert all(isinstance(p, str) for p in purposes)
    assert all(isinstance(t, str) for t in digital_source_types(result.active))
    listed = [{"label": k, "data": v} for k, v in assertions.items()]
    facts = facts_of({"manifests": {"m": {"assertions": listed}}, "active_manifest": "m"}, "embedded")
    assert all(isinstance(t, str) for t in facts.source_types)
    assert all(isinstance(x, str) for entry in facts.training for x in entry[:3])


def test_the_unmutated_store_reads_back() -> None:
    result = read_store(VALID_STORE)
    assert result.active is not None
    assert ("c2pa.training-mining", "c2pa.ai_training", "notAllowed") in [
        e[:3] for e in training_entries(result.active)
    ]
    assert digital_source_types(result.active) == ["trainedAlgorithmicMedia"]


@FUZZ
@given(mutated(jpeg_with_store(REAL_JPEG, VALID_STORE, segment_payload=300)))
def test_container_walkers_and_store_extraction_never_raise(data: bytes) -> None:
    blob = embedded_store(data)
    assert blob is None or isinstance(blob, bytes)
    for walker in (jpeg_segments, png_chunks, riff_chunks):
        for _, payload in walker(data):
            assert len(payload) <= len(data)
    assert tiff_tag(data, 0xCD41) is None or isinstance(tiff_tag(data, 0xCD41), bytes)


@FUZZ
@given(mutated(XMP_JPEG))
def test_the_metadata_reader_never_raises(data: bytes) -> None:
    meta = read_metadata(data)
    for name, value in meta.values:
        assert isinstance(name, str) and isinstance(value, str) and len(value) <= 600
    for packet in xmp_packets(data):
        assert isinstance(packet, bytes)


def test_the_unmutated_xmp_reads_back() -> None:
    meta = read_metadata(XMP_JPEG)
    assert [s.value for s in meta.signals] == ["DMI-PROHIBITED-AIMLTRAINING"]
    assert [v for k, v in meta.values if k == "xmp.model_release_id"] == ["MR-1", "MR-2"]


@FUZZ
@given(st.sampled_from(sorted(MANIFEST_TEXTS)), st.data())
def test_the_manifest_parsers_never_raise(name: str, data: st.DataObject) -> None:
    seed = MANIFEST_TEXTS[name].encode()
    text = data.draw(mutated(seed)).decode("utf-8", "replace")
    parsed = parse_manifest(name, text)
    for p in parsed.problems:
        assert p.file == name and (p.line is None or p.line >= 1)
    assert all(r.record_id and r.origin.file == name for r in parsed.records)


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_strict_json_reads_what_json_writes(value: object) -> None:
    assert strict_json.loads(json.dumps(value)) == value


@FUZZ
@given(mutated(json.dumps({"header": {"a": [1, 2, {"b": "c"}]}, "findings": [{"path": "x", "verdict": "v"}]}).encode()))
def test_strict_json_refuses_or_reads_never_raises_otherwise(data: bytes) -> None:
    try:
        strict_json.loads(data.decode("utf-8", "replace"))
    except strict_json.StrictJsonError as exc:
        assert str(exc)
