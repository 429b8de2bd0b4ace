"""What keypoint confirmation costs: per reference image at build time, per dataset image that reaches the
grey zone, and per check.

    python bench/keypoint_cost.py [FOLDER ...]    (default: fixtures/photos)

Prints, on one core, for the real photos in the folders: the reference fingerprint (`with256`: 256-bit
pHash, views, keypoints) per image, the part of it that is keypoints (ORB on a <= 512 px copy), a dataset
image's keypoints through `ImageProbe` (read, JPEG draft decode at >= 512 px, ORB), one `inliers` check
of an image against a copy's stored keypoints, and the stored size.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

from PIL import Image

from consentaudit.fingerprint import fingerprint_bytes, keypoints_of
from consentaudit.matching.keypoints import STORED, Keypoints, inliers
from consentaudit.probe import ImageProbe

ROOT = Path(__file__).resolve().parent.parent


def per_image(fn: object, items: list[object], repeat: int = 3) -> float:
    """Median over `repeat` runs of the mean milliseconds per item."""
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for x in items:
            fn(x)  # type: ignore[operator]
        runs.append(1000 * (time.perf_counter() - t) / len(items))
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="*", type=Path)
    args = ap.parse_args()
    folders = args.folders or [ROOT / "fixtures/photos"]
    datas = [
        p.read_bytes() for f in folders for p in sorted(f.rglob("*.jpg")) if "broken" not in p.name and p.is_file()
    ]
    sizes = [Image.open(io.BytesIO(d)).size for d in datas]
    grays = [Image.open(io.BytesIO(d)).convert("L") for d in datas]
    stored = [keypoints_of(g, STORED) for g in grays]
    copies = []
    for g in grays:
        w, h = g.size
        c = g.crop((w // 20, h // 20, w - w // 20, h - h // 20))  # a 90% crop, as a dataset copy
        buf = io.BytesIO()
        c.save(buf, "JPEG", quality=85)
        copies.append(buf.getvalue())
    probes = [ImageProbe(lambda d=d: d).keypoints("phash") for d in copies]
    pairs = list(zip(probes, stored, strict=True))
    mp = statistics.median(w * h / 1e6 for w, h in sizes)
    print(f"{len(datas)} JPEG photos from {', '.join(map(str, folders))} (median {mp:.1f} MP); one core")
    rows = [
        (
            "reference fingerprint (with256: 256-bit pHash, views, keypoints)",
            per_image(lambda d: fingerprint_bytes(d, with256=True), datas),
        ),
        ("of which keypoints (ORB, <= 512 px copy)", per_image(lambda g: keypoints_of(g, STORED).encode(), grays)),
        (
            "dataset image's keypoints (ImageProbe: read, decode >= 512 px, ORB)",
            per_image(lambda d: ImageProbe(lambda: d).keypoints("phash"), copies),
        ),
        ("one check (match + RANSAC) against stored keypoints", per_image(lambda p: inliers(p[0], p[1]), pairs)),
    ]
    print("| step | ms per image |")
    print("|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.2f} |")
    enc = [len(k.encode()) for k in stored]
    print(f"\nstored keypoints per entry: {statistics.mean(len(k) for k in stored):.0f} on average (max {STORED}), ")
    print(f"{statistics.mean(enc) / 1024:.1f} KB as base64 ({statistics.mean(enc) * 3 / 4 / 1024:.1f} KB raw)")
    found = [inliers(p, s) for p, s in pairs]
    print(f"inliers of the 90% crops against their originals: min {min(x or 0 for x in found)}")
    assert all(isinstance(k, Keypoints) for k in stored)


if __name__ == "__main__":
    main()
