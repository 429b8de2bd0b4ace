"""Whole CLI processes as users run them, against the baseline a user would write, in one run.

    python bench/cli_workflows.py [--count 1000] [--refs 200] [--repeat 3] [--work /tmp/consentaudit-cli-bench]

Data: --count real-photo JPEGs of ~100 KB (built as bench/scan_speed.py builds them) as a loose folder and
as one img2dataset-style tar shard (`<key>.jpg` + `<key>.json`), each with a `manifest init --status granted
--purpose ai-training` manifest; --refs other real-photo JPEGs as a `--reference` folder. Every figure is the
wall time of a whole process (fresh `--db` where it says cold), min and median of --repeat runs:

- naive: a whole-process Python loop that reads each file, sha256s it, opens it with Pillow and computes
  imagehash's pHash and dHash (the loop a user would write, with its own start-up);
- cold scan of the loose folder, --jobs 1 and --jobs 2; the same images in one tar shard, --jobs 1, in the
  same shard gzipped (`.tar.gz`), --jobs 1, as one zip of the same members (deflated, as `zip -r` writes
  it), --jobs 1, and in one Parquet shard as img2dataset's `--output_format parquet` writes it (the bytes in a
  `jpg` column beside key, url and status, row groups of 100), --jobs 1;
- re-judge: the loose scan again with only --as-of changed, against the cold scan; the same for the tar shard
  (its members written without a time, as Python's tarfile writes them) and the `.tar.gz` (its listing kept
  by the cold scan; the cold one runs with the listing cache emptied);
- reference re-scan: a scan with --reference FOLDER, then a second scan with the same folder and a new
  --as-of, against the first;
- start-up: `consentaudit --version` against `python -c "import PIL.Image, imagehash"`;
- `fingerprint` of the reference folder (reference fingerprints: 256-bit pHash, views, keypoints) with
  --jobs 1 and --jobs 2;
- with --million: a 1M-entry fingerprint file (random sha256, pHash, dHash and 256-bit pHash, as an
  imported hash list carries) given as --reference to the cold --jobs 1 scan (fresh --db): the seconds it
  adds and the scan's peak RSS, on first use (the file parsed and written to the reference cache, which
  is emptied before) and once cached (every later scan with the unchanged file).
- with --big-shard N: one tar shard of N samples (the --count photos again and again, copy k with k zero bytes
  after the image, so every member is distinct; `<key>.json` beside each) against the --count shard, both
  cold with --jobs 2 and no manifest: the per-image time of the large shard over the small one's.
Every scan row also shows its process's peak RSS.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from launcher import launcher  # noqa: E402
from scan_speed import NAIVE, build, real_photos  # noqa: E402

CLI = [sys.executable, "-m", "consentaudit.cli.app"]


PEAK_RSS: dict[str, int] = {}  # row -> largest peak RSS (MB) of its runs


def timed(cmd: list[str], row: str = "") -> float:
    """Wall seconds of a whole process (and its peak RSS, kept for `row`), run by the launcher (launcher.py:
    this process's own peak, once it has built the data, would floor every command's)."""
    wall, code, rss = launcher().run(cmd)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {code}")
    if row:
        PEAK_RSS[row] = max(PEAK_RSS.get(row, 0), rss)
    return wall


def million_codes(path: Path, n: int = 1_000_000) -> None:
    import random

    rng = random.Random(1)
    with path.open("w") as f:
        f.write(json.dumps({"kind": "consentaudit-fingerprints", "schema_version": "1", "name": "million"}) + "\n")
        for i in range(n):
            row = {
                "path": f"laion/{i:08d}.jpg",
                "sha256": f"{rng.getrandbits(256):064x}",
                "phash": f"{rng.getrandbits(64):016x}",
                "dhash": f"{rng.getrandbits(64):016x}",
                "phash256": f"{rng.getrandbits(256):064x}",
            }
            f.write(json.dumps(row) + "\n")


def shard_of(folder: Path, shard: Path, count: int = 0) -> None:
    """One img2dataset-style tar shard (`<key>.jpg` + `<key>.json`) of the folder's photos, or of `count`
    samples taking them in turn: the k-th copy of a photo has k zero bytes after it, so every member differs."""
    photos = sorted(folder.glob("*.jpg"))
    with tarfile.open(shard, "w") as tf:
        for n in range(count or len(photos)):
            key = f"{n:09d}"
            meta = {"key": key, "url": f"https://example.org/{key}.jpg", "status": "success"}
            for name, body in (
                (f"{key}.jpg", photos[n % len(photos)].read_bytes() + bytes(n // len(photos))),
                (f"{key}.json", json.dumps(meta).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tf.addfile(info, io.BytesIO(body))


def parquet_of(shard: Path, out: Path) -> None:
    """The tar shard's samples as one Parquet shard, as img2dataset's parquet writer lays it out: a row per
    sample (key, url, status, the image in `jpg`), written in row groups of 100 rows (its buffer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(shard) as tf:
        for m in tf:
            f = tf.extractfile(m)
            if f is not None:
                key, _, ext = m.name.rpartition(".")
                samples.setdefault(key, {})[ext] = f.read()
    keys = sorted(samples)
    urls = [json.loads(samples[k]["json"])["url"] for k in keys]
    table = pa.table(
        {"key": keys, "url": urls, "status": ["success"] * len(keys), "jpg": [samples[k]["jpg"] for k in keys]}
    )
    pq.write_table(table, out, row_group_size=100)


def manifest_for(dataset: Path, out: Path) -> None:
    init = [*CLI, "manifest", "init", str(dataset), "-o", str(out), "--force", "-q"]
    subprocess.run([*init, "--status", "granted", "--purpose", "ai-training"], check=True)


def main() -> None:
    # The timed processes keep their bytecode caches as a default Python does (pip writes them for installed
    # packages, and an editable checkout writes its own on first run); a session with PYTHONDONTWRITEBYTECODE
    # set would time compiling the package from source in every process.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)  # as pip installs
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--refs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-cli-bench"))
    ap.add_argument("--million", action="store_true", help="also time a 1M-entry reference file")
    ap.add_argument("--big-shard", type=int, default=0, metavar="N", help="also time one tar shard of N samples")
    args = ap.parse_args()
    launcher()  # started while this process is small
    if args.big_shard and args.big_shard <= args.count:
        ap.error("--big-shard must be larger than --count")
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
    gz = w / "shards-gz"  # the same shard gzipped, as some WebDataset sets ship: members read in a forward pass
    if not gz.exists():
        gz.mkdir(parents=True)
        with (shards / "00000.tar").open("rb") as src, gzip.open(gz / "00000.tar.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    zipped = w / f"zip-{args.count}"  # the same members as one zip
    if not zipped.exists():
        zipped.mkdir(parents=True)
        with (
            tarfile.open(shards / "00000.tar") as tf,
            zipfile.ZipFile(zipped / "00000.zip", "w", zipfile.ZIP_DEFLATED) as zf,
        ):
            for m in tf:
                f = tf.extractfile(m)
                if f is not None:
                    zf.writestr(m.name, f.read())
    parquet = w / f"parquet-{args.count}"  # the same samples as one Parquet shard
    if not parquet.exists():
        parquet.mkdir(parents=True)
        parquet_of(shards / "00000.tar", parquet / "00000.parquet")
    big = w / f"shards-big-{args.big_shard}"
    if args.big_shard and not big.exists():
        big.mkdir(parents=True)
        shard_of(loose, big / "00000.tar", args.big_shard)
    manifest_for(loose, w / "loose.csv")
    manifest_for(shards, w / "shards.csv")
    million = w / "million.jsonl"
    cache = w / "cache"  # the reference cache of these runs (CONSENTAUDIT_CACHE_DIR)
    os.environ["CONSENTAUDIT_CACHE_DIR"] = str(cache)
    if args.million and not million.exists():
        million_codes(million)

    def scan(dataset: Path, manifest: Path, db: str, *extra: str) -> list[str]:
        return [*CLI, "scan", str(dataset), "-m", str(manifest), "--db", db, "-q", "--fail-on", "none", *extra]

    results: dict[str, list[float]] = {}
    for _ in range(5):
        results.setdefault("import PIL.Image, imagehash (python -c)", []).append(
            timed([sys.executable, "-c", "import PIL.Image, imagehash"])
        )
        results.setdefault("consentaudit --version", []).append(timed([*CLI, "--version"]))
    for r in range(args.repeat):

        def fresh(name: str, r: int = r) -> str:
            return f"sqlite:///{w / f'{name}-{r}.db'}"

        for p in w.glob(f"*-{r}.db*"):
            p.unlink()
        results.setdefault("naive loop (sha256 + Pillow + pHash + dHash), whole process", []).append(
            timed([sys.executable, "-c", NAIVE, str(loose)])
        )
        db = fresh("loose")
        row = "scan loose folder, cold, --jobs 1"
        results.setdefault(row, []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "--as-of", "2026-11-01"), row)
        )
        results.setdefault("re-judge: same scan, only --as-of changed", []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "--as-of", "2026-11-02"))
        )
        results.setdefault("scan loose folder, cold, --jobs 2", []).append(
            timed(scan(loose, w / "loose.csv", fresh("loose2"), "--jobs", "2"))
        )
        shard_db = fresh("shard")
        results.setdefault("scan one tar shard of the same images, cold, --jobs 1", []).append(
            timed(scan(shards, w / "shards.csv", shard_db, "--jobs", "1"))
        )
        results.setdefault("re-judge the tar shard, only --as-of changed", []).append(
            timed(scan(shards, w / "shards.csv", shard_db, "--jobs", "1", "--as-of", "2026-11-02"))
        )
        shutil.rmtree(cache / "listings", ignore_errors=True)  # cold: its listing not kept from a run before
        gz_db = fresh("gz")
        results.setdefault("scan the same shard as one .tar.gz, cold, --jobs 1", []).append(
            timed(scan(gz, w / "shards.csv", gz_db, "--jobs", "1"))
        )
        results.setdefault("re-judge the .tar.gz shard, only --as-of changed", []).append(
            timed(scan(gz, w / "shards.csv", gz_db, "--jobs", "1", "--as-of", "2026-11-02"))
        )
        results.setdefault("scan the same members as one zip, cold, --jobs 1", []).append(
            timed(scan(zipped, w / "shards.csv", fresh("zip"), "--jobs", "1"))
        )
        results.setdefault("scan the same samples as one Parquet shard, cold, --jobs 1", []).append(
            timed(scan(parquet, w / "shards.csv", fresh("parquet"), "--jobs", "1"))
        )
        if args.million:
            shutil.rmtree(cache, ignore_errors=True)  # first use: the file is parsed, then cached as columns
            row = "scan loose folder, cold, --jobs 1, --reference 1M-entry file, first use"
            cmd = scan(loose, w / "loose.csv", fresh("million1"), "--jobs", "1", "-r", str(million))
            results.setdefault(row, []).append(timed(cmd, row))
            row = "scan loose folder, cold, --jobs 1, --reference 1M-entry file"
            cmd = scan(loose, w / "loose.csv", fresh("million"), "--jobs", "1", "-r", str(million))
            results.setdefault(row, []).append(timed(cmd, row))
        db = fresh("ref")
        results.setdefault("scan with --reference FOLDER, cold, --jobs 1", []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "-r", str(refs), "--as-of", "2026-11-01"))
        )
        results.setdefault("second scan, same --reference FOLDER, new --as-of", []).append(
            timed(scan(loose, w / "loose.csv", db, "--jobs", "1", "-r", str(refs), "--as-of", "2026-11-02"))
        )
        if args.big_shard:  # the same work per image in a shard ten times larger: no per-shard quadratic cost
            for folder, n in ((shards, args.count), (big, args.big_shard)):
                row = f"scan one tar shard of {n} samples, no manifest, cold, --jobs 2"
                cmd = [*CLI, "scan", str(folder), "--db", fresh(f"big{n}"), "-q", "--fail-on", "none", "--jobs", "2"]
                results.setdefault(row, []).append(timed(cmd, row))
        for jobs in ("1", "2"):  # reference fingerprints (256-bit pHash, views, keypoints) of the folder
            results.setdefault(f"fingerprint the reference folder, --jobs {jobs}", []).append(
                timed([*CLI, "fingerprint", str(refs), "-o", str(w / "refs.jsonl"), "-q", "--jobs", jobs])
            )
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"# CLI workflows — {platform.machine()}, Python {platform.python_version()}, {args.count} JPEGs")
    print(f"{args.refs} reference images, {args.repeat} runs each; wall seconds of whole processes\n")
    print("| run | min s | median s | img/s (median) | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for k, v in results.items():
        images = args.big_shard if k.startswith(f"scan one tar shard of {args.big_shard} ") else args.count
        rate = f"{images / med[k]:.0f}" if k.startswith(("scan", "re-judge", "second", "naive")) else ""
        print(f"| {k} | {min(v):.2f} | {med[k]:.2f} | {rate} | {PEAK_RSS.get(k, '')} |")
    naive = med["naive loop (sha256 + Pillow + pHash + dHash), whole process"]
    cold1 = med["scan loose folder, cold, --jobs 1"]
    ref1 = med["scan with --reference FOLDER, cold, --jobs 1"]
    shard1 = med["scan one tar shard of the same images, cold, --jobs 1"]
    gz1 = med["scan the same shard as one .tar.gz, cold, --jobs 1"]
    ratios = [
        ("cold --jobs 1 speed / naive loop", naive / cold1, ">= 2.2x"),
        ("--jobs 2 speed / --jobs 1", cold1 / med["scan loose folder, cold, --jobs 2"], ">= 1.8x"),
        ("tar shard time / loose folder", shard1 / cold1, "<= 1.3x"),
        (".tar.gz shard time / tar shard", gz1 / shard1, "(none)"),
        ("zip time / tar shard", med["scan the same members as one zip, cold, --jobs 1"] / shard1, "(none)"),
        ("Parquet shard time / tar shard", med["scan the same samples as one Parquet shard, cold, --jobs 1"] / shard1,
         "(none)"),
        ("re-judge time / cold scan", med["re-judge: same scan, only --as-of changed"] / cold1, "<= 0.35x"),
        ("tar shard: re-judge time / cold scan", med["re-judge the tar shard, only --as-of changed"] / shard1,
         "(none)"),
        (".tar.gz shard: re-judge time / cold scan", med["re-judge the .tar.gz shard, only --as-of changed"] / gz1,
         "(none)"),
        ("second reference scan / first", med["second scan, same --reference FOLDER, new --as-of"] / ref1, "<= 0.35x"),
        ("--version / import PIL.Image, imagehash", med["consentaudit --version"]
         / med["import PIL.Image, imagehash (python -c)"], "<= 3x"),
        ("fingerprint FOLDER: --jobs 2 speed / --jobs 1", med["fingerprint the reference folder, --jobs 1"]
         / med["fingerprint the reference folder, --jobs 2"], "(none)"),
    ]  # fmt: skip
    if args.million:
        added = med["scan loose folder, cold, --jobs 1, --reference 1M-entry file"] - cold1
        first = med["scan loose folder, cold, --jobs 1, --reference 1M-entry file, first use"] - cold1
        ratios.append(("seconds a 1M-entry reference file adds, first use (parse + cache)", first, "(none)"))
        first_rss = PEAK_RSS["scan loose folder, cold, --jobs 1, --reference 1M-entry file, first use"]
        ratios.append(("peak RSS on first use, MB", first_rss, "(none)"))
        ratios.append(("seconds a 1M-entry reference file adds", added, "<= 3 s"))
        ratios.append(
            ("peak RSS with it, MB", PEAK_RSS["scan loose folder, cold, --jobs 1, --reference 1M-entry file"], "<= 400")
        )
    if args.big_shard:
        small = med[f"scan one tar shard of {args.count} samples, no manifest, cold, --jobs 2"] / args.count
        large = med[f"scan one tar shard of {args.big_shard} samples, no manifest, cold, --jobs 2"] / args.big_shard
        ratios.append((f"{args.big_shard}-sample shard: time per image / {args.count}-sample shard", large / small,
                       "<= 1.2x"))  # fmt: skip
    print("\n| ratio (medians) | value | target |")
    print("|---|---:|---:|")
    for name, value, target in ratios:
        unit = "x" if target.endswith("x") else ""
        print(f"| {name} | {value:.2f}{unit} | {target} |")


if __name__ == "__main__":
    main()
