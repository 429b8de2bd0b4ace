"""lanczos.resize reproduces Pillow's LANCZOS resize bit for bit: on real photos at the sizes a scan meets
them (draft-decoded and full), on pictures up- and down-scaled either way, in blocks, and in the pass order of
the installed Pillow; and a Pillow it cannot reproduce is left to resize by itself."""

from __future__ import annotations

import subprocess
import sys

import imagehash
import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS
from consentaudit import fingerprint, lanczos
from consentaudit.fingerprint import DRAFT_SIDE, fingerprint_bytes, hash_gray

REAL = sorted(p for p in PHOTOS.glob("*.jpg") if "broken" not in p.name)
PAIR = ((32, 32), (9, 8))  # pHash's and dHash's thumbnails


def _pillow(px: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(px).resize(size, Image.Resampling.LANCZOS))


def _real_pictures() -> list[np.ndarray]:
    """Each real photo in grayscale as a scan decodes it: in full, and JPEG-draft at >= DRAFT_SIDE."""
    out = []
    for p in REAL:
        for draft in (False, True):
            with Image.open(p) as im:
                if draft:
                    im.draft("L", (DRAFT_SIDE, DRAFT_SIDE))
                out.append(np.asarray(im.convert("L")))
    return out


def test_the_installed_pillow_is_reproduced() -> None:
    """The fast path is in use with the Pillow this project installs (else every fingerprint would quietly
    fall back to Pillow's resize, and this test says so)."""
    assert fingerprint.lanczos_order() in lanczos.ORDERS


def test_real_photos_resize_as_pillow_does() -> None:
    order = fingerprint.lanczos_order()
    assert order is not None
    pictures = _real_pictures()
    assert len(pictures) >= 20
    sizes = {px.shape for px in pictures}
    assert len(sizes) >= 10  # full and draft sizes, landscape and portrait
    for px in pictures:
        for size, got in zip(PAIR, lanczos.resize(px, PAIR, order), strict=True):
            assert np.array_equal(got, _pillow(px, size)), (px.shape, size)


def test_hashes_of_real_photos_are_imagehash_exact_through_it() -> None:
    for p in REAL:
        with Image.open(p) as im:
            gray = im.convert("L")
            fp = hash_gray(gray, "x", *im.size, im.format)
            assert (fp.phash, fp.dhash) == (str(imagehash.phash(im)), str(imagehash.dhash(im))), p.name


def test_random_sizes_up_and_down_in_both_orders() -> None:
    """Seeded noise (the hardest case for rounding) at sizes that scale each axis up or down, so that Pillow 13
    runs the column pass first for some and not others."""
    order = fingerprint.lanczos_order()
    assert order is not None
    rng = np.random.default_rng(5)
    firsts: set[bool] = set()
    for _ in range(150):
        w, h = int(rng.integers(1, 400)), int(rng.integers(1, 400))
        px = rng.integers(0, 256, (h, w), dtype=np.uint8)
        sizes = [*PAIR, (int(rng.integers(1, 90)), int(rng.integers(1, 90)))]
        firsts.update(lanczos.vertical_first(order, w, h, *s) for s in sizes)
        for size, got in zip(sizes, lanczos.resize(px, sizes, order), strict=True):
            assert np.array_equal(got, _pillow(px, size)), (w, h, size)
    if order == lanczos.PILLOW_13:
        assert firsts == {True, False}  # both pass orders were exercised


def test_pass_orders_differ_and_only_the_installed_one_matches() -> None:
    """The two orders give different pictures for a tall picture (so the order check can tell them apart),
    and the other order does not reproduce the installed Pillow."""
    order = fingerprint.lanczos_order()
    assert order is not None
    other = next(o for o in lanczos.ORDERS if o != order)
    px = np.random.default_rng(1).integers(0, 256, (400, 90), dtype=np.uint8)
    want = _pillow(px, (32, 32))
    assert np.array_equal(lanczos.resize(px, [(32, 32)], order)[0], want)
    assert not np.array_equal(lanczos.resize(px, [(32, 32)], other)[0], want)


def test_the_order_checks_own_pictures_tell_the_orders_apart() -> None:
    """Every pass order but the installed Pillow's gets one of the order check's own pictures wrong (else the
    check could settle on a wrong order, and every hash would drift), and the check loads no numpy.random."""
    order = fingerprint.lanczos_order()
    assert order is not None
    cases = fingerprint.order_cases()
    assert [px.shape[::-1] for px, _ in cases] == [wh for wh, _ in fingerprint._ORDER_CASES]
    for px, size in cases:
        assert np.array_equal(lanczos.resize(px, [size], order)[0], _pillow(px, size))
    for other in lanczos.ORDERS:
        if other != order:
            wrong = [not np.array_equal(lanczos.resize(px, [size], other)[0], _pillow(px, size)) for px, size in cases]
            assert any(wrong), other
    probe = "import sys, consentaudit.fingerprint as f; f.lanczos_order(); print('numpy.random' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"


def test_large_pictures_are_filtered_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    order = fingerprint.lanczos_order()
    assert order is not None
    monkeypatch.setattr(lanczos, "CHUNK_PIXELS", 5000)  # many blocks of rows (and of columns)
    rng = np.random.default_rng(2)
    for w, h in ((300, 170), (90, 400)):
        px = rng.integers(0, 256, (h, w), dtype=np.uint8)
        for size, got in zip(PAIR, lanczos.resize(px, PAIR, order), strict=True):
            assert np.array_equal(got, _pillow(px, size)), (w, h, size)


def test_vectorised_weights_equal_the_c_computation() -> None:
    """All pairs' weights computed in one batch, as a new picture size asks for them, equal C's row by row."""
    pairs = [(i, o) for i in (1, 7, 31, 32, 33, 140, 187, 999, 4000) for o in (8, 9, 32, 64)]
    for (in_size, out_size), got in zip(pairs, lanczos._rows(pairs), strict=True):
        scale = in_size / out_size
        fs = max(scale, 1.0)
        rows = np.stack([lanczos._row_as_c(in_size, xx, scale, 3.0 * fs, 1.0 / fs) for xx in range(out_size)])
        assert np.array_equal(got, rows), (in_size, out_size)


def test_a_pillow_it_cannot_reproduce_resizes_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """When no pass order reproduces Pillow (a future Pillow that resamples differently), the order check
    says so and the fingerprints come from Pillow's own resize: still imagehash-exact."""
    monkeypatch.setattr(fingerprint, "_ORDER", [])
    monkeypatch.setattr(lanczos, "PRECISION_BITS", 21)  # a different fixed-point: no order matches
    monkeypatch.setattr(lanczos, "_weights", {})
    assert fingerprint.lanczos_order() is None
    called = []
    monkeypatch.setattr(lanczos, "resize", lambda *a, **k: called.append(1))
    p = REAL[0]
    fp = fingerprint_bytes(p.read_bytes())
    with Image.open(p) as im:
        assert (fp.phash, fp.dhash) == (str(imagehash.phash(im)), str(imagehash.dhash(im)))
    assert not called


def test_the_weight_cache_stays_within_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dataset of ever new picture sizes (large PNGs) cannot grow the cache past CACHE_BYTES, and a size
    asked together with new ones is still answered when the cache starts over."""
    monkeypatch.setattr(lanczos, "_weights", {})
    monkeypatch.setattr(lanczos, "CACHE_BYTES", 1 << 20)
    starts = 0
    for w in range(1000, 1400, 7):
        before = len(lanczos._weights)
        got = lanczos.weights([(140, 32), (w, 32), (w, 9)])  # (140, 32) is cached from the second call on
        starts += len(lanczos._weights) < before
        assert [g.shape for g in got] == [(32, 140), (32, w), (9, w)]
        assert np.array_equal(got[0], lanczos._rows([(140, 32)])[0])
        assert sum(m.nbytes for m in lanczos._weights.values()) <= 1 << 20
    assert starts >= 3  # the cache did start over, with a cached size in the same request
