"""Robustness of the perceptual match: per edit, the true-match rate at each radius, and false matches
over every distinct pair of real photos.

    python bench/robustness.py [FOLDER ...]    (default: fixtures/photos and ../shared/corpus if present)

A photo 'group' is the file's folder plus the part of its name before the first '_' for files the corpus
marks as the same scene (orientation, hdr variants); pairs inside one group are not counted as distinct.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from consentaudit.fingerprint import fingerprint_bytes
from consentaudit.hamming import distance, parse_hex64
from transforms import TRANSFORMS

ROOT = Path(__file__).resolve().parent.parent
EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
SAME_SCENE = ("orientation", "hdr", "Canon_40D", "A.jpg", "CA.jpg")


def scene(path: Path) -> str:
    """Files known to show the same scene share a key; every other file is its own scene."""
    s = str(path)
    for marker in SAME_SCENE:
        if marker in s:
            return marker + ("-" + path.stem.split("_")[0] if marker in ("orientation", "hdr") else "")
    return s


def codes(im: Image.Image) -> tuple[int, int, int]:
    import io

    buf = io.BytesIO()
    im.convert("RGB").save(buf, "PNG")  # lossless, so the hash sees exactly the edited pixels
    fp = fingerprint_bytes(buf.getvalue())
    assert fp.phash and fp.dhash and fp.phash_mirror
    return parse_hex64(fp.phash), parse_hex64(fp.dhash), parse_hex64(fp.phash_mirror)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--max-radius", type=int, default=16)
    args = ap.parse_args()
    folders = args.folders or [p for p in (ROOT / "fixtures/photos", ROOT.parent / "shared/corpus") if p.exists()]
    files = sorted({p for f in folders for p in f.rglob("*") if p.suffix.lower() in EXTS and p.is_file()})
    photos: list[tuple[Path, Image.Image]] = []
    for p in files:
        try:
            im = Image.open(p)
            im.load()
            if min(im.size) >= 64:
                photos.append((p, im.convert("RGB")))
        except Exception:
            continue
    t0 = time.perf_counter()
    orig = [codes(im) for _, im in photos]
    scenes = [scene(p) for p, _ in photos]
    n = len(photos)
    distinct = [(i, j) for i, j in itertools.combinations(range(n), 2) if scenes[i] != scenes[j]]
    print(f"{n} real photos from {', '.join(str(f) for f in folders)}; {len(distinct)} distinct pairs")
    # Distinct-pair distance histogram (pHash, pHash-or-mirror, dHash)
    dmin_p = sorted(distance(orig[i][0], orig[j][0]) for i, j in distinct)
    dmin_pm = sorted(
        min(distance(orig[i][0], orig[j][0]), distance(orig[i][0], orig[j][2])) for i, j in distinct
    )
    dmin_d = sorted(distance(orig[i][1], orig[j][1]) for i, j in distinct)
    print(f"smallest distinct-pair distances: phash {dmin_p[:6]}  phash|mirror {dmin_pm[:6]}  dhash {dmin_d[:6]}")
    radii = list(range(4, args.max_radius + 1, 2))
    print()
    print("| edit | " + " | ".join(f"≤{r}" for r in radii) + " | median d | false@≤10 |")
    print("|---|" + "---|" * (len(radii) + 2))
    for name, fn in TRANSFORMS.items():
        ds: list[int] = []
        false10 = 0
        for k, (_, im) in enumerate(photos):
            c = codes(fn(im))
            d = min(distance(c[0], orig[k][0]), distance(c[0], orig[k][2]))
            ds.append(d)
            for j in range(n):
                if scenes[j] != scenes[k] and min(distance(c[0], orig[j][0]), distance(c[0], orig[j][2])) <= 10:
                    false10 += 1
        rates = [100.0 * sum(d <= r for d in ds) / n for r in radii]
        ds.sort()
        print(f"| {name} | " + " | ".join(f"{x:.0f}%" for x in rates) + f" | {ds[n // 2]} | {false10} |")
    print()
    for r in radii:
        fp = sum(d <= r for d in dmin_pm)
        print(f"radius ≤{r}: {fp} false matches (phash or mirrored phash) among {len(distinct)} distinct pairs")
    print(f"\n({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
