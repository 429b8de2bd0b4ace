"""The 256-bit pHash estimated from a fingerprint's thumbnails (`Thumbnails.estimate256`, `ImageProbe.near256`)
and the reference candidates it rules out without decoding an image a second time."""

from __future__ import annotations

import io
import random
from dataclasses import replace
from datetime import date

import pytest
from PIL import Image

from conftest import PHOTOS
from consentaudit import fingerprint as fingerprint_module
from consentaudit.fingerprint import fingerprint_bytes
from consentaudit.mapper import UnitMapper
from consentaudit.matching.hamming import distance, parse_hex64
from consentaudit.matching.perceptual import NEAR256_DRIFT, hamming256
from consentaudit.models import ReferenceEntry
from consentaudit.probe import ImageProbe
from consentaudit.scanner import ScanSettings
from consentaudit.sources import open_source
from consentaudit.thumbnails import ESTIMATE_MIN_SIDE, Thumbnails
from consentaudit.verdicts import Rules

RULES = Rules(("ai-training",), date(2026, 1, 1))


def _thumbs(data: bytes) -> Thumbnails:
    kept: list[Thumbnails] = []
    fingerprint_bytes(data, fast=True, keep_thumbs=kept.append)
    return kept[0]


def _versions(data: bytes) -> list[bytes]:
    """A real photo as it is, and re-encoded at the sides where the fast and the 256-bit decodes differ most."""
    out = [data]
    im = Image.open(io.BytesIO(data)).convert("RGB")
    for side in (300, 520, 760):
        copy = im.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        for fmt in ("JPEG", "PNG"):
            buf = io.BytesIO()
            copy.save(buf, fmt)
            out.append(buf.getvalue())
    return out


def test_the_estimate_is_within_its_bound_of_the_256_bit_code_on_real_photos() -> None:
    drifts = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        for data in _versions(path.read_bytes()):
            probe = ImageProbe(lambda data=data: data, thumbs=_thumbs(data))
            for variant in ("phash", "phash_mirror", "phash_trim"):
                near, exact = probe.near256(variant), probe.phash256(variant)
                if near is not None and exact is not None:
                    drifts.append(hamming256(near, exact))
    assert len(drifts) >= 200
    assert max(drifts) <= NEAR256_DRIFT
    assert sum(drifts) / len(drifts) <= 8  # an estimate, not a bound met by chance (unrelated codes: ~128)


def test_no_estimate_from_a_narrow_picture_and_a_flat_one_gives_the_dc_bit() -> None:
    photo = Image.open(sorted(PHOTOS.glob("*.jpg"))[0]).convert("RGB")
    narrow = photo.resize((ESTIMATE_MIN_SIDE - 1, 400))
    buf = io.BytesIO()
    narrow.save(buf, "PNG")
    assert _thumbs(buf.getvalue()).estimate256("phash") is None
    for level in (0, 137):
        buf = io.BytesIO()
        Image.new("L", (200, 150), level).save(buf, "PNG")
        data = buf.getvalue()
        assert _thumbs(data).estimate256("phash") == ImageProbe(lambda data=data: data).phash256("phash")


def _flip(code: str, bits: int, rng: random.Random, width: int) -> str:
    value = int(code, 16)
    for b in rng.sample(range(width), bits):
        value ^= 1 << b
    return f"{value:0{width // 4}x}"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the probe's second decodes (at >= 256 px) of any image."""
    calls: list[int] = []
    real = fingerprint_module.gray256

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fingerprint_module, "gray256", counting)
    return calls


def test_candidates_the_estimate_puts_out_of_reach_cost_no_second_decode(decodes: list[int]) -> None:
    """Entries within the candidate radius of a real photo's pHash and mirrored pHash: with 256-bit codes
    110 bits from its estimate and no keypoints they are out of reach whatever the exact code is, so the photo
    is not decoded again and matches none of them; the same entries holding keypoints (a keypoint check could
    still decide them) need the exact code, and an entry carrying the photo's own 256-bit code is still found."""
    items = [i for i in open_source(PHOTOS).items() if i.path.endswith("canon-ixus.jpg")]
    data = (PHOTOS / "canon-ixus.jpg").read_bytes()
    fp = fingerprint_bytes(data, fast=True)
    thumbs = _thumbs(data)
    rng = random.Random(7)
    entries = []
    for k, (code, variant) in enumerate(((fp.phash, "phash"), (fp.phash_mirror, "phash_mirror")) * 3):
        near = thumbs.estimate256(variant)
        assert code and near
        phash = _flip(code, 10 + k, rng, 64)
        assert distance(parse_hex64(phash), parse_hex64(code)) <= 15
        entries.append(ReferenceEntry("scraped", f"e{k}", None, phash, phash256=_flip(near, 110, rng, 256)))

    result = UnitMapper(ScanSettings(), RULES, [], entries, 8)(items)
    assert decodes == []
    assert result.findings[0].reference is None
    probed = dict(result.images[0].fingerprint.probed)  # type: ignore[union-attr]
    assert set(probed) >= {"near256:phash", "near256:phash_mirror"}
    # judged again from the store (no thumbnails in hand): the kept estimates still decide
    mapper = UnitMapper(ScanSettings(), RULES, [], entries, 8)
    mapper.judge(result.images, {items[0].path: items[0]})
    assert decodes == []

    with_keypoints = [replace(e, keypoints="x") for e in entries]
    UnitMapper(ScanSettings(), RULES, [], with_keypoints, 8)(items)
    assert decodes, "an entry with keypoints in reach of a keypoint check needs the exact code"

    decodes.clear()
    exact = ImageProbe(lambda: data).phash256("phash")
    decodes.clear()
    copy = ReferenceEntry("scraped", "copy", None, _flip(fp.phash or "", 3, rng, 64), phash256=exact)
    found = UnitMapper(ScanSettings(), RULES, [], [*entries, copy], 8)(items).findings[0]
    assert found.reference is not None and found.reference.record_id == "scraped:copy"
    assert len(decodes) == 1  # the copy's candidate is decided by the exact code, computed once


def test_records_out_of_reach_cost_neither_a_second_decode_nor_an_exact_rehash(
    decodes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consent records with 256-bit codes, as `manifest init` writes them: a photo tied by sha256 to a granted
    record, and revoked records whose pHash lies in the borderline band of its fast pHash but whose 256-bit
    codes are 110 bits from its estimate. They could not cover it at any distance in the band, so it is
    neither decoded again nor re-hashed exactly, and stays consented; a revoked record carrying the photo's
    own 256-bit code does cover it (revoked), after one second decode."""
    from consentaudit import mapper as mapper_module
    from consentaudit.models import ConsentRecord
    from consentaudit.vocab import ConsentStatus, Verdict

    items = [i for i in open_source(PHOTOS).items() if i.path.endswith("canon-ixus.jpg")]
    data = (PHOTOS / "canon-ixus.jpg").read_bytes()
    fp = fingerprint_bytes(data, fast=True)
    near = _thumbs(data).estimate256("phash")
    assert fp.phash and near
    rng = random.Random(11)
    granted = ConsentRecord(
        "own", ConsentStatus.GRANTED, fp.sha256, fp.phash, phash256=near, purposes=frozenset({"ai-training"})
    )
    band = [
        ConsentRecord(
            f"x{k}", ConsentStatus.REVOKED, None, _flip(fp.phash, 12 + k, rng, 64), phash256=_flip(near, 110, rng, 256)
        )
        for k in range(4)
    ]
    rehashes: list[str] = []
    real = mapper_module.refingerprint_exact
    monkeypatch.setattr(mapper_module, "refingerprint_exact", lambda *a: rehashes.append(a[1].path) or real(*a))
    result = UnitMapper(ScanSettings(), RULES, [granted, *band], [], 8)(items)
    assert (decodes, rehashes) == ([], [])
    assert result.findings[0].verdict == Verdict.CONSENTED

    exact = ImageProbe(lambda: data).phash256("phash")
    decodes.clear()
    copy = ConsentRecord("copy", ConsentStatus.REVOKED, None, _flip(fp.phash, 3, rng, 64), phash256=exact)
    found = UnitMapper(ScanSettings(), RULES, [granted, *band, copy], [], 8)(items).findings[0]
    assert found.verdict == Verdict.REVOKED and len(decodes) == 1
