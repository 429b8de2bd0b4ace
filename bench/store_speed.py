"""The team store's speed: the same scan into SQLite and into a real PostgreSQL server, in one run.

    python bench/store_speed.py [--count 900] [--rows 100000] [--repeat 3] [--work /tmp/consentaudit-store-bench]

1. Whole CLI processes (what users run): `consentaudit scan` of --count real-photo JPEGs (built as
   bench/scan_speed.py builds them, from fixtures/photos and ../shared/corpus when present) with --jobs 2,
   into a fresh SQLite file and into a fresh PostgreSQL database, alternating, --repeat times; min and
   median wall seconds of each, and the PostgreSQL / SQLite ratio.
2. In-process, labelled as such: the store's write path alone, as a scan's driver uses it (results of 64-image
   units written in transactions of landing.WRITE_IMAGES images: image, cache and finding rows), for --rows
   images into each backend: images per second and table rows per second (three rows per image).

The PostgreSQL server is a throwaway one (Debian's postgresql: initdb + pg_ctl in a temp folder, through
runuser when run as root), as the tests start it, but with fsync on (PostgreSQL's default).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from postgres_server import create_database, postgres_server  # noqa: E402
from scan_speed import build, real_photos  # noqa: E402

CLI = [sys.executable, "-m", "consentaudit.cli.app"]


def cli_scan(folder: Path, db: str, *extra: str) -> float:
    t = time.perf_counter()
    subprocess.run(
        [*CLI, "scan", str(folder), "--db", db, "--jobs", "2", "--quiet", "--fail-on", "none", *extra],
        check=True,
    )
    return time.perf_counter() - t


def findings(report: Path) -> list[tuple[str, str, str, list[str]]]:
    doc = json.loads(report.read_text())
    return [(f["path"], f["sha256"], f["verdict"], [r["detail"] for r in f["reasons"]]) for f in doc["findings"]]


def write_path(db: str, rows: int, sample_dir: Path) -> float:
    """Images per second of the store's write path for `rows` images (in-process)."""
    from consentaudit.landing import WRITE_IMAGES
    from consentaudit.mapper import UnitMapper
    from consentaudit.request import AuditRequest
    from consentaudit.scanner import scan_unit
    from consentaudit.sources import open_source
    from consentaudit.store import ScanStore

    req = AuditRequest(dataset=sample_dir)
    sample = scan_unit(list(open_source(sample_dir).items())[:64], req.settings())
    mapper = UnitMapper(req.settings(), req.rules(), [], [], req.phash_threshold)
    _, findings = mapper.judge(sample, {})
    store = ScanStore(db)
    scan_id, _ = store.begin_scan("bench-dataset", "bench-run", "2026-12-01T00:00:00Z")
    spent = 0.0  # only the store's own calls are timed, not making the rows
    for start in range(0, rows, WRITE_IMAGES):
        batch = range(start, min(start + WRITE_IMAGES, rows))
        images = [replace(sample[i % len(sample)], path=f"shard{i // 10000:05d}/{i:09d}.jpg") for i in batch]
        found = [replace(findings[i % len(findings)], path=img.path) for i, img in zip(batch, images, strict=True)]
        t = time.perf_counter()
        store.add_images(scan_id, "bench-dataset", images, "bench-algorithm", findings=found)
        spent += time.perf_counter() - t
    return rows / spent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=900)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-store-bench"))
    args = ap.parse_args()
    folder = args.work / f"photos-{args.count}"
    if not folder.exists():
        photos = real_photos([ROOT / "fixtures" / "photos", ROOT.parent / "shared" / "corpus"])
        build(folder, photos, args.count)
    print(f"# store speed — {platform.machine()}, {platform.python_version()}, {args.count} JPEGs, jobs 2")
    with postgres_server(durable=True) as base:
        walls: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        for n in range(args.repeat):
            sqlite_report, pg_report = args.work / f"sqlite-{n}.json", args.work / f"pg-{n}.json"
            walls["sqlite"].append(
                cli_scan(folder, f"sqlite:///{args.work / f'bench-{n}.db'}", "--report", str(sqlite_report))
            )
            walls["postgresql"].append(cli_scan(folder, create_database(base), "--report", str(pg_report)))
            (args.work / f"bench-{n}.db").unlink()
            same = findings(sqlite_report) == findings(pg_report)
            print(f"run {n + 1}: PostgreSQL findings equal SQLite's (path, sha256, verdict, reasons): {same}")
        print("\n## Whole CLI processes: cold scan into a fresh store")
        print("| store | min s | median s | img/s (median) |")
        print("|---|---|---|---|")
        for name, w in walls.items():
            med = statistics.median(w)
            print(f"| {name} | {min(w):.2f} | {med:.2f} | {args.count / med:.0f} |")
        ratio = statistics.median(walls["postgresql"]) / statistics.median(walls["sqlite"])
        print(f"\nPostgreSQL / SQLite (median wall): {ratio:.2f}x (target <= 1.3x)")
        print(f"\n## In-process (the store's write path alone, as the driver writes), {args.rows} images")
        sqlite_db = args.work / "write.db"
        sqlite_db.unlink(missing_ok=True)
        for name, url in (("sqlite", f"sqlite:///{sqlite_db}"), ("postgresql", create_database(base))):
            rate = write_path(url, args.rows, folder)
            print(f"{name}: {rate:,.0f} images/s = {3 * rate:,.0f} table rows/s (image + cache + finding)")


if __name__ == "__main__":
    main()
