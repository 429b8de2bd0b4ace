"""The radius index against brute force, in the same run.

    python bench/index_speed.py [--sizes 100000 1000000] [--radius 10] [--photos DIR]

For random 64-bit codes and for "real-like" codes (real pHashes of photos, plus fillers made by flipping
12-28 random bits of a real code, so the set clusters the way real collections do), prints build time,
index memory, and radius-r queries per second for HammingIndex and for a vectorised numpy scan over all
codes (brute force); a sample of answers is compared and must be identical.

With --crops FILE (the filler cache bench/false_matches.py writes: pHashes of random crops of real
images and of their views), a third row uses those real-image codes as the set, queried with the real
photos' pHashes. --sizes 5000000 measures a 1M-entry reference set with its four views per entry.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

from consentaudit.fingerprint import fingerprint_bytes
from consentaudit.matching.hamming import HammingIndex, parse_hex64

ROOT = Path(__file__).resolve().parent.parent


def real_codes(folders: list[Path], limit: int = 2000) -> list[int]:
    out = []
    for f in folders:
        for p in sorted(f.rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png") and len(out) < limit:
                try:
                    fp = fingerprint_bytes(p.read_bytes(), fast=True)
                except Exception:
                    continue
                if fp.phash:
                    out.append(parse_hex64(fp.phash))
    return out


def crop_codes(path: Path, n: int) -> list[int]:
    """n 64-bit codes from a filler cache: each row's pHash, then its views' pHashes (columns 4, 6, ...)."""
    rows = np.load(path)
    cols = [0, *range(4, rows.shape[1], 2)]
    out: list[int] = []
    for c in cols:
        out.extend(parse_hex64(v) for v in rows[:, c].tolist() if v)
        if len(out) >= n:
            break
    return out[:n]


def brute(codes: np.ndarray, q: int, r: int) -> list[tuple[int, int]]:
    d = np.bitwise_count(codes ^ np.uint64(q))
    pos = np.flatnonzero(d <= r)
    return sorted(((int(p), int(d[p])) for p in pos), key=lambda t: (t[1], t[0]))


def run(label: str, codes: list[int], queries: list[int], radius: int) -> None:
    t = time.perf_counter()
    idx = HammingIndex(codes)
    build = time.perf_counter() - t
    t = time.perf_counter()
    answers = [idx.within(q, radius) for q in queries]
    qps = len(queries) / (time.perf_counter() - t)
    arr = idx.codes
    nb = min(len(queries), 300)
    t = time.perf_counter()
    brute_answers = [brute(arr, q, radius) for q in queries[:nb]]
    bqps = nb / (time.perf_counter() - t)
    assert answers[:nb] == brute_answers, "index and brute force disagree"
    hits = sum(len(a) for a in answers) / len(answers)
    print(
        f"| {label} | {len(codes):,} | {build:.2f} s | {idx.nbytes() / 1e6:.0f} MB | {qps:,.0f} | {bqps:,.0f} | "
        f"{hits:.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--photos", type=Path, nargs="*")
    ap.add_argument("--crops", type=Path, help="filler cache (.npy) from bench/false_matches.py")
    args = ap.parse_args()
    folders = args.photos or [
        p
        for p in (
            ROOT / "fixtures/photos",
            ROOT.parent / "shared/corpus",
            Path("/tmp/consentaudit-bench/jpeg100k-1000"),
        )
        if p.exists()
    ]
    rng = random.Random(5)
    real = real_codes(folders)
    print(f"{len(real)} real pHashes; radius {args.radius}; one core; Python {sys.version.split()[0]}")
    print()
    print("| codes | n | build | index memory | index queries/s | brute-force queries/s | hits/query |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        rand = [rng.getrandbits(64) for _ in range(n)]
        queries = [c ^ (1 << rng.randrange(64)) for c in rng.sample(rand, args.queries // 2)]
        queries += [rng.getrandbits(64) for _ in range(args.queries // 2)]
        run("random", rand, queries, args.radius)
        like = list(real)
        while len(like) < n:
            c = rng.choice(real)
            for b in rng.sample(range(64), rng.randint(12, 28)):
                c ^= 1 << b
            like.append(c)
        queries = [
            c ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64))
            for c in rng.sample(real, min(len(real), args.queries))
        ]
        run("real + fillers", like, queries, args.radius)
        if args.crops:
            crops = crop_codes(args.crops, n - len(real))
            if len(crops) == n - len(real):
                run("real + crops of real images", real + crops, queries, args.radius)


if __name__ == "__main__":
    main()
