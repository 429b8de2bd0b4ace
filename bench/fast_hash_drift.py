"""How far the fast (JPEG draft-decoded) pHash drifts from imagehash's full-decode pHash, and how fast each is.

python bench/fast_hash_drift.py [FOLDER ...]   (default: fixtures/photos and ../shared/corpus)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from consentaudit.fingerprint import fingerprint_bytes
from consentaudit.matching.hamming import distance, parse_hex64

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


if __name__ == "__main__":
    main()
