"""Robustness of perceptual matching on real photos, per edit, with the production matchers.

    python bench/robustness.py [FOLDER ...]    (default: fixtures/photos and ../shared/corpus if present)

For every real photo and every edit in transforms.py, the edited copy is fingerprinted like a dataset
image and looked up:
- `manifest`: against the 64-bit pHash of every original, as a consent record is matched (threshold 9,
  plus the border-trimmed pHash);
- `reference`: through ReferenceIndex, as a known-scraped set is matched: the originals are entries as a
  reference build stores them (256-bit pHash, views, ORB keypoints), and every pHash / mirrored / trimmed
  candidate within 14 is decided by the 256-bit codes and, in their grey zone, by keypoint inliers
  (reference_index.ReferenceIndex.confirm).
A hit on the photo's own original is a true match; a hit on any other photo is a false match. Originals
are also looked up against all *other* originals (every distinct pair). Photos are downscaled to at most
1024 px first so the run stays short; files the corpus marks as the same scene (orientation and HDR
variants, A.jpg/CA.jpg, Canon_40D*) are skipped so that every remaining pair is truly distinct.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from consentaudit.defaults import DEFAULT_PHASH_THRESHOLD
from consentaudit.fingerprint import fingerprint_bytes
from consentaudit.matching.consent_index import ConsentIndex
from consentaudit.matching.perceptual import MIN_DETAIL, matchable
from consentaudit.matching.reference_index import ReferenceIndex
from consentaudit.models import ConsentRecord, Fingerprint
from consentaudit.probe import ImageProbe
from consentaudit.reference_files import entry_from_fingerprint
from consentaudit.vocab import ConsentStatus
from transforms import TRANSFORMS

ROOT = Path(__file__).resolve().parent.parent
EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
SAME_SCENE = ("orientation", "hdr", "Canon_40D", "/A.jpg", "/CA.jpg")


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="*", type=Path)
    args = ap.parse_args()
    folders = args.folders or [p for p in (ROOT / "fixtures/photos", ROOT.parent / "shared/corpus") if p.exists()]
    seen: set[str] = set()
    photos: list[tuple[str, Image.Image]] = []
    for f in folders:
        for p in sorted(f.rglob("*")):
            if p.suffix.lower() not in EXTS or any(s in str(p) for s in SAME_SCENE):
                continue
            try:
                im = Image.open(p)
                im.load()
            except Exception:
                continue
            im = im.convert("RGB")
            im.thumbnail((1024, 1024))
            key = fingerprint_bytes(png(im)).sha256
            if min(im.size) >= 64 and key not in seen:
                seen.add(key)
                photos.append((p.name, im))
    t0 = time.perf_counter()
    originals = [fingerprint_bytes(png(im), with256=True) for _, im in photos]
    n = len(photos)
    # as a reference build stores them (no sha256: a copy is found perceptually, never by its bytes)
    entries = [replace(entry_from_fingerprint("bench", str(i), fp), sha256=None) for i, fp in enumerate(originals)]
    records = [ConsentRecord(str(i), ConsentStatus.GRANTED, phash=fp.phash) for i, fp in enumerate(originals)]
    refs = ReferenceIndex(entries)
    cons = ConsentIndex(records)
    print(f"{n} distinct real photos from {', '.join(map(str, folders))}; {n * (n - 1) // 2} distinct pairs")
    low = [photos[i][0] for i, fp in enumerate(originals) if not matchable(fp)]
    print(f"{len(low)} of them have too little detail to match perceptually (detail < {MIN_DETAIL}): {low}")

    def lookups(fp: Fingerprint, data: bytes) -> tuple[set[int], set[int]]:
        probe = ImageProbe(lambda: data)
        matches, _ = cons.lookup(
            "-", Fingerprint(sha256="-", phash=fp.phash, phash_trim=fp.phash_trim, detail=fp.detail)
        )
        m = {int(r.record.record_id) for r in matches}
        hit = refs.lookup(
            Fingerprint(
                sha256="-",
                phash=fp.phash,
                phash_mirror=fp.phash_mirror,
                phash_trim=fp.phash_trim,
                dhash=fp.dhash,
                detail=fp.detail,
            ),
            None,
            None,
            probe.phash256,
            probe.keypoints,
        )
        r = {int(hit[0].ref_id)} if hit else set()
        return m, r

    # distinct pairs: each original against the others (its own entry is the true match, excluded)
    false_m = false_r = 0
    for i, fp in enumerate(originals):
        m, r = lookups(fp, png(photos[i][1]))
        false_m += len(m - {i})
        false_r += len(r - {i})
    print(f"originals against each other: {false_m} false manifest matches, {false_r} false reference matches")
    print()
    print("True-match rates are over the photos with enough detail to match perceptually.")
    print("| edit | manifest rule (pHash ≤ 9) | reference rule (256-bit + keypoints) | false (manifest / reference) |")
    print("|---|---:|---:|---:|")
    for name, fn in TRANSFORMS.items():
        tm = tr = fm = fr = 0
        for k, (_, im) in enumerate(photos):
            if not matchable(originals[k]):
                continue
            data = png(fn(im))
            fp = fingerprint_bytes(data)
            m, r = lookups(fp, data)
            tm += k in m
            tr += k in r
            fm += len(m - {k})
            fr += len(r - {k})
        m = n - len(low)
        print(f"| {name} | {100 * tm / m:.1f}% | {100 * tr / m:.1f}% | {fm} / {fr} |")
    print(f"\n(threshold {DEFAULT_PHASH_THRESHOLD}; {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
