"""How far the fast (JPEG draft-decoded) pHash drifts from imagehash's full-decode pHash, and how fast each is;
and how far the 256-bit pHash estimated from that draft (`ImageProbe.near256`) is from the one the matcher
computes at >= 256 px, per variant, on the files as they are and re-encoded at the sizes where the two
decodes differ most (sides 256-1100 px, JPEG quality 75 and 95, and PNG).

python bench/fast_hash_drift.py [FOLDER ...]   (default: fixtures/photos and ../shared/corpus)
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from consentaudit.fingerprint import fingerprint_bytes
from consentaudit.matching.hamming import distance, parse_hex64
from consentaudit.matching.perceptual import NEAR256_DRIFT, hamming256
from consentaudit.probe import ImageProbe
from consentaudit.thumbnails import Thumbnails

SIDES = (256, 300, 384, 511, 520, 640, 760, 1030, 1100)
VARIANTS = ("phash", "phash_mirror", "phash_trim")

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:]] or [
        p for p in (ROOT / "fixtures/photos", ROOT.parent / "shared/corpus") if p.exists()
    ]
    datas = [p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg")]
    pairs = []
    for d in datas:
        try:
            pairs.append((fingerprint_bytes(d, fast=False), fingerprint_bytes(d, fast=True), d))
        except Exception:
            continue
    drift = [distance(parse_hex64(e.phash or ""), parse_hex64(f.phash or "")) for e, f, _ in pairs]
    ddrift = [distance(parse_hex64(e.dhash or ""), parse_hex64(f.dhash or "")) for e, f, _ in pairs]
    print(f"{len(pairs)} real JPEGs from {', '.join(map(str, folders))}")
    print(
        f"pHash drift fast vs exact: median {statistics.median(drift)}, p95 {sorted(drift)[int(len(drift) * 0.95)]}, "
        f"max {max(drift)} bits"
    )
    print(f"dHash drift fast vs exact: median {statistics.median(ddrift)}, max {max(ddrift)} bits")
    for fast in (False, True):
        t = time.perf_counter()
        for _, _, d in pairs:
            fingerprint_bytes(d, fast=fast)
        print(f"{'fast' if fast else 'exact'} fingerprint: {len(pairs) / (time.perf_counter() - t):.0f} img/s")
    report_near256("files as they are", near256_drift(datas))
    report_near256(f"re-encoded at sides {SIDES}", near256_drift(resized(datas)))


def near256_drift(datas: list[bytes]) -> Counter[int]:
    """Bits between `near256` and `phash256` for every variant of every image in `datas`."""
    drift: Counter[int] = Counter()
    for d in datas:
        thumbs: list[Thumbnails] = []
        try:
            fingerprint_bytes(d, fast=True, keep_thumbs=thumbs.append)
        except Exception:
            continue
        probe = ImageProbe(lambda d=d: d, thumbs=thumbs[0])
        for v in VARIANTS:
            near, exact = probe.near256(v), probe.phash256(v)
            if exact and near:
                drift[hamming256(exact, near)] += 1
    return drift


def resized(datas: list[bytes]) -> list[bytes]:
    """Each photo re-encoded with its longer side at each of SIDES, as JPEG at quality 75 and 95 and as PNG."""
    out = []
    for d in datas:
        try:
            im = Image.open(io.BytesIO(d)).convert("RGB")
        except Exception:
            continue
        for side in SIDES:
            copy = im.copy()
            copy.thumbnail((side, side), Image.Resampling.LANCZOS)
            for q in (75, 95, 0):
                buf = io.BytesIO()
                copy.save(buf, "JPEG", quality=q) if q else copy.save(buf, "PNG")
                out.append(buf.getvalue())
    return out


def report_near256(label: str, drift: Counter[int]) -> None:
    n = sum(drift.values())
    if not n:
        return
    values = sorted(drift.elements())
    print(
        f"256-bit near256 vs phash256, {label}: {n} codes, median {statistics.median(values)}, "
        f"p99 {values[int(n * 0.99)]}, p99.9 {values[int(n * 0.999)]}, max {max(values)} bits "
        f"(bound {NEAR256_DRIFT}); over 16: {sum(c for k, c in drift.items() if k > 16)}"
    )


if __name__ == "__main__":
    main()
