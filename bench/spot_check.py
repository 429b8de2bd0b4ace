"""What a regulator's spot-check costs against the full audit, and how often its bound covers the truth.

    python bench/spot_check.py [--count 900] [--sample 300] [--repeat 3] [--trials 2000]
                               [--work /tmp/consentaudit-spot-bench]

1. Whole CLI processes (what users run), alternating, --repeat times: the vendor's full `scan --jobs 2` of
   --count real-photo JPEGs (built as bench/scan_speed.py builds them) with a `manifest init --status
   granted -p ai-training` manifest, then the regulator's `spot-check --sample N --jobs 2` of its report —
   once with that manifest (no record can revoke) and once with one record revoked (the duplicate groups
   of sampled images are then re-read). Min and median wall seconds and the ratios to the full scan.
2. Coverage simulation (in-process, labelled): reports of --count findings with a true error rate p are
   spot-checked --trials times each with the tool's own sampler and bound (uniform sample without
   replacement, exact one-sided Clopper-Pearson at 95%); coverage is the share of trials whose bound is at
   least p. It must be at least 95% for every p.
"""

from __future__ import annotations

import argparse
import csv
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "src")]

from consentaudit.sampling import clopper_pearson_upper, rng_for, uniform_sample  # noqa: E402
from scan_speed import build, real_photos  # noqa: E402

CLI = [sys.executable, "-m", "consentaudit.cli.app"]


def run(*args: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - t


def revoke_one(manifest: Path, out: Path) -> None:
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0].update(status="revoked", revoked_at="2026-06-01", granted_at="2025-01-01")
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def timings(work: Path, count: int, sample: int, repeat: int) -> None:
    photos = real_photos([ROOT / "fixtures" / "photos", ROOT.parent / "shared" / "corpus"])
    data = work / "data"
    if not data.exists():
        build(data, photos, count)
    granted, revoked = work / "granted.csv", work / "revoked.csv"
    if not granted.exists():
        subprocess.run(
            [*CLI, "manifest", "init", str(data), "-o", str(granted), "--status", "granted", "-p", "ai-training",
             "--granted-at", "2025-01-01", "--quiet"],
            check=True, capture_output=True,
        )  # fmt: skip
    revoke_one(granted, revoked)
    times: dict[str, list[float]] = {"scan": [], "spot": [], "spot-revocable": []}
    for r in range(repeat):
        for manifest, label in ((granted, "spot"), (revoked, "spot-revocable")):
            db = work / f"vendor-{r}-{label}.db"
            report = work / f"audit-{label}.json"
            db.unlink(missing_ok=True)
            scan = ["scan", str(data), "-m", str(manifest), "--as-of", "2026-11-26", "--db", f"sqlite:///{db}"]
            t = run(*scan, "--jobs", "2", "--quiet", "--fail-on", "none", "--report", str(report), "--no-thumbnails")
            if label == "spot":
                times["scan"].append(t)
            spot = ["spot-check", str(report), "--dataset", str(data), "-m", str(manifest), "--sample", str(sample)]
            times[label].append(run(*spot, "--seed", f"beacon-{r}", "--jobs", "2", "--tolerance", "0.5"))
    n_files = sum(1 for _ in data.iterdir())
    print(f"## Spot-check cost, whole CLI processes ({n_files} real-photo JPEGs, sample {sample}, {repeat} runs)\n")
    print(f"machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}\n")
    print("| run | min s | median s | median / full scan |")
    print("|---|---:|---:|---:|")
    base = statistics.median(times["scan"])
    for label, ts in times.items():
        name = {
            "scan": "full scan --jobs 2",
            "spot": f"spot-check --sample {sample} (no record can revoke)",
            "spot-revocable": f"spot-check --sample {sample} (one record revoked: groups re-read)",
        }[label]
        print(f"| {name} | {min(ts):.2f} | {statistics.median(ts):.2f} | {statistics.median(ts) / base:.2f}× |")


def coverage(population: int, sample: int, trials: int) -> None:
    print(f"\n## Coverage of the 95% bound, simulated in-process ({population} findings, sample {sample}, "
          f"{trials} trials per rate)\n")  # fmt: skip
    print("| true error rate | coverage | mean bound |")
    print("|---:|---:|---:|")
    paths = [f"img/{i:06d}.jpg" for i in range(population)]
    for rate in (0.0, 0.005, 0.01, 0.02, 0.05, 0.1):
        wrong_count = round(rate * population)
        true_rate = wrong_count / population
        covered, bounds = 0, []
        for t in range(trials):
            setup = random.Random(t)
            wrong = set(setup.sample(paths, wrong_count))
            drawn = uniform_sample(paths, sample, rng_for(f"trial-{t}", f"report-{rate}"))
            bound = clopper_pearson_upper(sum(p in wrong for p in drawn), len(drawn), 0.95)
            bounds.append(bound)
            covered += bound >= true_rate
        print(f"| {true_rate:.3%} | {covered / trials:.2%} | {statistics.fmean(bounds):.3%} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=900)
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-spot-bench"))
    ap.add_argument("--fresh", action="store_true", help="rebuild the images")
    a = ap.parse_args()
    if a.fresh and a.work.exists():
        shutil.rmtree(a.work)
    a.work.mkdir(parents=True, exist_ok=True)
    timings(a.work, a.count, a.sample, a.repeat)
    coverage(a.count, a.sample, a.trials)


if __name__ == "__main__":
    main()
