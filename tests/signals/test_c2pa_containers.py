"""The pure C2PA reader finds the store where c2pa-rs itself writes it, in every container of an image the audit
reads: a real photo is saved in each format with Pillow (JPEG XL with libjxl: Pillow writes none) and signed with
c2pa-python (c2pa-rs underneath, with its own ES256 test certificate), then read back by both. The pure reader
must find the same active manifest, its CAWG training-mining entries and its digital source type: a store it
cannot find is an opt-out missed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import FIXTURES, PHOTOS
from consentaudit.scanner import ScanSettings, scan_unit
from consentaudit.signals import c2pa_verify
from consentaudit.signals.c2pa_reader import digital_source_types, embedded_store, read_store, training_entries
from consentaudit.sources.directory import DirectorySource

CERT = FIXTURES / "provenance" / "c2pa-rs-test-es256.pub"
KEY = FIXTURES / "provenance" / "c2pa-rs-test-es256.pem"
ENTRIES = {"cawg.ai_generative_training": {"use": "notAllowed"}, "cawg.data_mining": {"use": "allowed"}}
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
MANIFEST = {
    "claim_generator_info": [{"name": "consentaudit-tests", "version": "1"}],
    "title": "a real photo",
    "assertions": [
        {"label": "cawg.training-mining", "data": {"entries": ENTRIES}},
        {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": CAPTURE}]}},
    ],
}


def _save(photo: Image.Image, path: Path) -> None:
    if path.suffix == ".tif" and path.stem.endswith(
        "pages"
    ):  # three pages: c2pa-rs puts the store in an IFD of its own
        frames = [photo.rotate(a) for a in (90, 180)]
        photo.save(path, save_all=True, append_images=frames)
    elif path.stem.endswith("big"):  # BigTIFF: 64-bit offsets
        photo.save(path, big_tiff=True)
    elif path.suffix == ".jxl":  # Pillow writes no JPEG XL: libjxl through imagecodecs (consentaudit[jxl])
        import imagecodecs
        import numpy as np

        path.write_bytes(imagecodecs.jpegxl_encode(np.asarray(photo), distance=1.0, usecontainer=True))
    elif path.suffix == ".heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
        photo.save(path, quality=80)
    else:
        photo.save(path)


@pytest.mark.skipif(not c2pa_verify.available(), reason="consentaudit[c2pa] (c2pa-python) not installed")
@pytest.mark.parametrize(
    "name",
    [
        "photo.jpg",
        "photo.png",
        "photo.webp",
        "photo.gif",
        "photo.tif",
        "pages.tif",
        "big.tif",
        "photo.avif",
        "photo.heic",
        "photo.jxl",
    ],
)
def test_the_pure_reader_finds_what_c2pa_rs_wrote(tmp_path: Path, name: str) -> None:
    import c2pa

    source, signed = tmp_path / name, tmp_path / f"signed-{name}"
    with Image.open(PHOTOS / "kodak-dc240.jpg") as im:
        _save(im.convert("RGB").resize((320, 240)), source)
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", CERT.read_bytes(), KEY.read_bytes(), None))
    with c2pa.Builder(json.dumps(MANIFEST)) as builder:
        builder.sign_file(source, signed, signer)
    active = json.loads(c2pa.Reader(signed).json())["active_manifest"]

    data = signed.read_bytes()
    assert embedded_store(source.read_bytes()) is None
    store = read_store(embedded_store(data) or b"")
    assert store.active is not None and store.active.label == active, store.problems
    entries = {(key, use) for _, key, use, _ in training_entries(store.active)}
    assert entries == {("cawg.ai_generative_training", "notAllowed"), ("cawg.data_mining", "allowed")}
    assert [d.rsplit("/", 1)[-1] for d in digital_source_types(store.active)] == ["digitalCapture"]
    # and the scan reads it as the opt-out it is, the store unverified (the pure reader alone)
    (item,) = [i for i in DirectorySource(tmp_path).items() if i.path == signed.name]
    (image,) = scan_unit([item], ScanSettings(verify_c2pa=False))
    assert image.error is None
    prohibits = {p for s in image.signals if s.protocol == "cawg-training-mining" for p in s.prohibits}
    assert prohibits == {"generative-ai-training"}
    # and c2pa-python validates it in this format too: the signature holds, the test signer is not trusted
    validated = c2pa_verify.verify(data, image.fingerprint.format if image.fingerprint else None, None, None, "x")
    assert validated is not None and validated.verification == "Valid, signer untrusted", validated
