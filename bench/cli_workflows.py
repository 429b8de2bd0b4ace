"""Whole CLI processes as users run them, against the baseline a user would write, in one run.

    python bench/cli_workflows.py [--count 1000] [--refs 200] [--repeat 3] [--work /tmp/consentaudit-cli-bench]

Data: --count real-photo JPEGs of ~100 KB (built as bench/scan_speed.py builds them) as a loose folder and
as one img2dataset-style tar shard (`<key>.jpg` + `<key>.json`), each with a `manifest init --status granted
--purpose ai-training` manifest; --refs other real-photo JPEGs as a `--reference` folder. Every figure is the
wall time of a whole process (fresh `--db` where it says cold), min and median of --repeat runs:

- naive: a whole-process Python loop that reads each file, sha256s it, opens it with Pillow and computes
  imagehash's pHash and dHash (the loop a user would write, with its own start-up);
- cold scan of the loose folder, --jobs 1 and --jobs 2; the same images in one tar shard, --jobs 1;
- re-judge: the loose scan again with only --as-of changed, against the cold scan;
- reference re-scan: a scan with --reference FOLDER, then a second scan with the same folder and a new
  --as-of, against the first.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from scan_speed import build, real_photos  # noqa: E402

CLI = [sys.executable, "-m", "consentaudit.cli.app"]
NAIVE = """
import hashlib, sys
from pathlib import Path
from PIL import Image
import imagehash
for p in sorted(Path(sys.argv[1]).glob("*.jpg")):
    data = p.read_bytes()
    hashlib.sha256(data).hexdigest()
    with Image.open(p) as im:
        imagehash.phash(im), imagehash.dhash(im)
"""


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def shard_of(folder: Path, shard: Path) -> None:
    with tarfile.open(shard, "w") as tf:
        for n, p in enumerate(sorted(folder.glob("*.jpg"))):
            key = f"{n:09d}"
            tf.add(p, f"{key}.jpg")
            meta = json.dumps({"key": key, "url": f"https://example.org/{key}.jpg", "status": "success"}).encode()
            info = tarfile.TarInfo(f"{key}.json")
            info.size = len(meta)
            tf.addfile(info, io.BytesIO(meta))


def manifest_for(dataset: Path, out: Path) -> None:
    init = [*CLI, "manifest", "init", str(dataset), "-o", str(out), "--force", "-q"]
    subprocess.run([*init, "--status", "granted", "--purpose", "ai-training"], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--refs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-cli-bench"))
    args = ap.parse_args()
    w = args.work
    photos = real_photos([p for p in (ROOT / "fixtures/photos", ROOT.parent / "shared/corpus") if p.exists()])
    loose, refs = w / f"loose-{args.count}", w / f"refs-{args.refs}"
    shards = w / f"shards-{args.count}"
    if not loose.exists():
        build(loose, photos, args.count)
    if not refs.exists():
        build(refs, photos, args.refs, seed=99)
    if not shards.exists():
        shards.mkdir(parents=True)
        shard_of(loose, shards / "00000.tar")
    manifest_for(loose, w / "loose.csv")
    manifest_for(shards, w / "shards.csv")

    def scan(dataset: Path, manifest: Path, db: str, *extra: str) -> list[str]:
        return [*CLI, "scan", str(dataset), "-m", str(manifest), "--db", db, "-q", "--fail-on", "none", *extra]

    results: dict[str, list[float]] = {}
    for r in range(args.repeat):

        def fresh(name: str, r: int = r) -> str:
            return f"sqlite:///{w / f'{name}-{r}.db'}"

        for p in w.glob(f"*-{r}.db*"):
            p.unlink()
        results.setdefault("naive loop (sha256 + Pillow + pHash + dHash), whole process", []).append(
            timed([sys.executable, "-c", NAIVE, str(loose)])
        )
        db = fresh("loose")
        results.setdefault("scan loose folder, cold, --jobs 1", []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "--as-of", "2026-11-01"))
        )
        results.setdefault("re-judge: same scan, only --as-of changed", []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "--as-of", "2026-11-02"))
        )
        results.setdefault("scan loose folder, cold, --jobs 2", []).append(
            timed(scan(loose, w / "loose.csv", fresh("loose2"), "--jobs", "2"))
        )
        results.setdefault("scan one tar shard of the same images, cold, --jobs 1", []).append(
            timed(scan(shards, w / "shards.csv", fresh("shard"), "--jobs", "1"))
        )
        db = fresh("ref")
        results.setdefault("scan with --reference FOLDER, cold, --jobs 1", []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "-r", str(refs), "--as-of", "2026-11-01"))
        )
        results.setdefault("second scan, same --reference FOLDER, new --as-of", []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "-r", str(refs), "--as-of", "2026-11-02"))
        )
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"# CLI workflows — {platform.machine()}, Python {platform.python_version()}, {args.count} JPEGs")
    print(f"{args.refs} reference images, {args.repeat} runs each; wall seconds of whole processes\n")
    print("| run | min s | median s | img/s (median) |")
    print("|---|---:|---:|---:|")
    for k, v in results.items():
        print(f"| {k} | {min(v):.2f} | {med[k]:.2f} | {args.count / med[k]:.0f} |")
    naive = med["naive loop (sha256 + Pillow + pHash + dHash), whole process"]
    cold1 = med["scan loose folder, cold, --jobs 1"]
    ref1 = med["scan with --reference FOLDER, cold, --jobs 1"]
    shard1 = med["scan one tar shard of the same images, cold, --jobs 1"]
    ratios = [
        ("cold --jobs 1 speed / naive loop", naive / cold1, ">= 2.2x"),
        ("--jobs 2 speed / --jobs 1", cold1 / med["scan loose folder, cold, --jobs 2"], ">= 1.8x"),
        ("tar shard time / loose folder", shard1 / cold1, "<= 1.3x"),
        ("re-judge time / cold scan", med["re-judge: same scan, only --as-of changed"] / cold1, "<= 0.35x"),
        ("second reference scan / first", med["second scan, same --reference FOLDER, new --as-of"] / ref1, "<= 0.35x"),
    ]
    print("\n| ratio (medians) | value | target |")
    print("|---|---:|---:|")
    for name, value, target in ratios:
        print(f"| {name} | {value:.2f}x | {target} |")


if __name__ == "__main__":
    main()
