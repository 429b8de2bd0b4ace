"""Local-feature confirmation (keypoints.py) on real photos: copies agree, other photos and blank pictures
do not, the stored form round-trips, and the reference matcher uses it in the 256-bit grey zone."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from conftest import PHOTOS
from consentaudit.fingerprint import fingerprint_bytes, keypoints_of
from consentaudit.matching.keypoints import MIN_KEYPOINTS, QUERIED, STORED, Keypoints, inliers
from consentaudit.matching.perceptual import radius256
from consentaudit.matching.reference_index import KEYPOINT_ZONE, MIN_INLIERS, SURE_SLACK, ReferenceIndex
from consentaudit.models import ReferenceEntry
from consentaudit.probe import ImageProbe


def _photo(name: str) -> Image.Image:
    im = Image.open(PHOTOS / name).convert("RGB")
    im.thumbnail((1024, 1024))
    return im


def _jpeg(im: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _stored(im: Image.Image) -> Keypoints:
    return Keypoints.decode(keypoints_of(im.convert("L"), STORED).encode())


def _crop(im: Image.Image, keep: float) -> Image.Image:
    w, h = im.size
    dw, dh = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return im.crop((dw, dh, w - dw, h - dh))


EDITS = {
    "resize-50": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "crop-90": lambda im: _crop(im, 0.9),
    "rotate-5": lambda im: im.rotate(5, resample=Image.Resampling.BICUBIC),
    "grayscale": ImageOps.grayscale,
    "jpeg-q30": lambda im: Image.open(io.BytesIO(_jpeg(im, 30))),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_copy_shares_keypoints_with_its_original(edit: str) -> None:
    original = _photo("canon-ixus.jpg")
    copy = EDITS[edit](original)
    found = inliers(keypoints_of(copy.convert("L")), _stored(original))
    assert found is not None and found >= MIN_INLIERS, (edit, found)


def test_other_photos_do_not_share_keypoints() -> None:
    names = ["canon-ixus.jpg", "fujifilm-dx10.jpg", "kodak-dc240.jpg", "nikon-e950.jpg", "sony-d700.jpg"]
    photos = {n: _photo(n) for n in names}
    stored = {n: _stored(im) for n, im in photos.items()}
    for a in names:
        for b in names:
            if a != b:
                found = inliers(keypoints_of(photos[a].convert("L")), stored[b])
                assert found is not None and found < MIN_INLIERS, (a, b, found)


def test_a_blank_picture_cannot_be_checked() -> None:
    blank = Image.new("L", (400, 300), 128)
    assert len(keypoints_of(blank)) < MIN_KEYPOINTS
    assert inliers(keypoints_of(blank), _stored(_photo("canon-ixus.jpg"))) is None


def test_the_stored_form_round_trips_and_malformed_ones_are_refused() -> None:
    kp = keypoints_of(_photo("sony-d700.jpg").convert("L"), STORED)
    assert 0 < len(kp) <= STORED
    back = Keypoints.decode(kp.encode())
    assert (back.descriptors == kp.descriptors).all()
    assert abs(back.points - kp.points).max() < 1 / 60000  # positions kept to 1/65535 of the longer side
    for bad in ["not base64!", "", "T1JCMQ==", kp.encode()[:-8]]:
        with pytest.raises(ValueError):
            Keypoints.decode(bad)


def test_the_check_is_deterministic() -> None:
    original, copy = _photo("nikon-e950.jpg"), _crop(_photo("nikon-e950.jpg"), 0.85)
    runs = {inliers(keypoints_of(copy.convert("L")), _stored(original)) for _ in range(3)}
    assert len(runs) == 1


def _flip_bits(code: str, n: int) -> str:
    """`code` (64 hex) with its first n bits inverted."""
    value = int(code, 16) ^ (((1 << n) - 1) << (256 - n))
    return f"{value:064x}"


def test_the_reference_matcher_asks_keypoints_in_the_grey_zone() -> None:
    """An entry whose 256-bit code is close enough for the old rule but short of SURE_SLACK is decided by
    keypoints: its own photo's keypoints confirm it, another photo's refute it, and without the image's
    keypoints it is not matched. Beyond SURE_SLACK the 256-bit code decides alone."""
    original = _photo("canon-ixus.jpg")
    data = _jpeg(original)
    fp = fingerprint_bytes(data, with256=True)
    probe = ImageProbe(lambda: data)
    mine = probe.phash256("phash")
    assert fp.phash and mine
    grey = _flip_bits(mine, radius256(0) - SURE_SLACK + 8)  # slack SURE_SLACK - 8: in the zone
    assert -KEYPOINT_ZONE <= SURE_SLACK - 8 < SURE_SLACK
    own = ReferenceEntry("s", "own", None, fp.phash, fp.dhash, phash256=grey, keypoints=fp.keypoints)
    other_kp = fingerprint_bytes(_jpeg(_photo("sony-d700.jpg")), with256=True).keypoints
    other = replace(own, ref_id="look-alike", keypoints=other_kp)
    for entry, expected in ((own, "own"), (other, None)):
        hit = ReferenceIndex([entry]).lookup(fp, None, None, probe.phash256, probe.keypoints)
        assert (hit[0].ref_id if hit else None) == expected
        if hit:
            assert hit[1].hash is not None and hit[1].hash.startswith("phash+keypoints(")
    assert ReferenceIndex([own]).lookup(fp, None, None, probe.phash256) is None  # keypoints not computable
    # with SURE_SLACK to spare the 256-bit code decides, whatever the keypoints say
    sure = replace(other, phash256=_flip_bits(mine, radius256(0) - SURE_SLACK - 4))
    hit = ReferenceIndex([sure]).lookup(fp, None, None, probe.phash256, probe.keypoints)
    assert hit is not None and hit[1].hash == "phash+phash256"


THREADS_CODE = """
import json, os, sys, time
import cv2  # before the first count: its bundled OpenBLAS starts its own threads here when not held to one
import numpy
from PIL import Image
from consentaudit.fingerprint import keypoints_of
from consentaudit.matching.keypoints import QUERIED, detect_keypoints, inliers

def threads():
    time.sleep(0.2)  # a pool's threads have started
    return len(os.listdir("/proc/self/task"))

im = Image.open(sys.argv[1]).convert("L")
before = threads()
found = keypoints_of(im, QUERIED)
matched = inliers(found, found)
full = detect_keypoints(numpy.asarray(im), QUERIED)  # a picture large enough for OpenCV to split the work
print(json.dumps([before, threads(), len(found), matched, len(full)]))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc to count threads")
def test_keypoints_start_no_opencv_thread_pool_that_a_forked_worker_could_inherit_locked() -> None:
    """OpenCV runs ORB and RANSAC on the calling thread: its own pool, started in a process that then forks
    --jobs workers, can leave a worker blocked forever on a mutex held at the fork (opencv/opencv#5150). The
    process has as many threads after finding and matching keypoints as before (the old code: one more)."""
    photo = PHOTOS / "IPTC-PhotometadataRef-Std2019.1.jpg"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # as the CLI runs: NumPy's BLAS adds no thread
    run = [sys.executable, "-c", THREADS_CODE, str(photo)]
    out = subprocess.run(run, capture_output=True, text=True, check=True, env=env)
    before, after, found, matched, full = json.loads(out.stdout.strip().splitlines()[-1])
    assert found >= MIN_KEYPOINTS and matched == found and full == QUERIED  # the work ran
    assert after == before
