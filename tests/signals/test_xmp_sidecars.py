"""XMP sidecars: an opt-out (plus:DataMining) or rights written into `photo.xmp` (Adobe's Lightroom and Bridge)
or `photo.jpg.xmp` (darktable, digiKam) beside the image, or into `<key>.xmp` beside it in a shard, is read as
the image's own, marked as coming from the sidecar; a changed sidecar is read again on the next scan."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from conftest import PHOTOS
from consentaudit.audit import run_audit
from consentaudit.models import Finding
from consentaudit.request import AuditRequest
from consentaudit.sources.directory import DirectorySource
from consentaudit.store import ScanStore
from consentaudit.vocab import Verdict


def packet(token: str) -> bytes:
    """An XMP sidecar as Lightroom writes one: the packet alone, plus:DataMining and dc:rights in it."""
    return (
        "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>\n"
        "<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Adobe XMP Core 7.0'>\n"
        " <rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>\n"
        "  <rdf:Description rdf:about='' xmlns:plus='http://ns.useplus.org/ldf/xmp/1.0/'"
        " xmlns:dc='http://purl.org/dc/elements/1.1/'>\n"
        f"   <plus:DataMining>http://ns.useplus.org/ldf/vocab/{token}</plus:DataMining>\n"
        "   <dc:rights><rdf:Alt><rdf:li xml:lang='x-default'>(c) a photographer</rdf:li></rdf:Alt></dc:rights>\n"
        "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end='w'?>"
    ).encode()


def _audit(dataset: Path, db: Path) -> dict[str, Finding]:
    report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{db}"))
    return {f.path: f for f in report.findings}


def test_a_folder_images_sidecars_are_read_and_read_again_when_they_change(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    for name, photo in (("a.jpg", "canon-ixus.jpg"), ("b.jpg", "kodak-dc210.jpg"), ("c.jpg", "nikon-e950.jpg")):
        (ds / name).write_bytes((PHOTOS / photo).read_bytes())
    (ds / "a.xmp").write_bytes(packet("DMI-PROHIBITED-AIMLTRAINING"))  # Adobe: the stem
    (ds / "b.jpg.XMP").write_bytes(packet("DMI-PROHIBITED-AIMLTRAINING"))  # darktable: the name, any case
    (ds / "orphan.xmp").write_bytes(packet("DMI-PROHIBITED-AIMLTRAINING"))  # no image: passed over
    source = DirectorySource(ds)
    list(source.items())
    assert source.skipped == 1
    found = _audit(ds, tmp_path / "db")
    for path in ("a.jpg", "b.jpg"):
        f = found[path]
        assert f.verdict == Verdict.OPTED_OUT
        (sig,) = f.signals
        assert (sig.value, sig.verification, sig.source) == (
            "DMI-PROHIBITED-AIMLTRAINING",
            "sidecar, unsigned",
            "XMP sidecar plus:DataMining",
        )
        assert ("xmp.rights", "(c) a photographer") in f.metadata
    assert found["c.jpg"].verdict == Verdict.UNCONSENTED

    # the photographer allows it after all, and c gets a sidecar: the same store reads both again
    (ds / "a.xmp").write_bytes(packet("DMI-ALLOWED"))
    os.utime(ds / "a.xmp", ns=(1, 1))  # same size is possible; a new mtime is what a save leaves
    (ds / "c.xmp").write_bytes(packet("DMI-PROHIBITED-AIMLTRAINING"))
    again = _audit(ds, tmp_path / "db")
    assert again["a.jpg"].verdict == Verdict.UNCONSENTED
    assert again["c.jpg"].verdict == Verdict.OPTED_OUT
    assert again["b.jpg"].verdict == Verdict.OPTED_OUT


def test_a_shard_samples_xmp_member_is_read(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    ds.mkdir()
    with tarfile.open(ds / "00000.tar", "w") as tf:
        for name, body in (
            ("000000000.jpg", (PHOTOS / "canon-ixus.jpg").read_bytes()),
            ("000000000.xmp", packet("DMI-PROHIBITED-AIMLTRAINING")),
            ("000000001.jpg", (PHOTOS / "kodak-dc210.jpg").read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    found = _audit(ds, tmp_path / "db")
    assert found["00000.tar/000000000.jpg"].verdict == Verdict.OPTED_OUT
    assert found["00000.tar/000000001.jpg"].verdict == Verdict.UNCONSENTED
