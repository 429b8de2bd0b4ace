"""Scan speed: the naive imagehash baseline and consentaudit's scan in the same run.

    python bench/scan_speed.py [--count 1000] [--repeat 3] [--photos DIR ...] [--work /tmp/consentaudit-bench]

Builds (once) a folder of ~100 KB real JPEGs by cropping/resizing/re-encoding real photos (fixtures/photos
and ../shared/corpus when present), then prints img/s, by median and by best of --repeat rounds of whole
processes, for: the naive loop a user would write (read, sha256, Pillow, imagehash pHash + dHash, one core,
with its own start-up), `consentaudit scan` cold with --jobs 1 and --jobs 2, an unchanged re-scan and a cold
--exact-hashes scan, the peak RSS of each scan process, and --jobs 2's img/s per core; in-process figures
follow as a second table. With --camera it does the same on the corpus's camera JPEGs of 3 MP and
more (each copied --camera-copies times with a changed byte, so the files are distinct).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import imagehash
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from launcher import launcher  # noqa: E402

CLI = [sys.executable, "-m", "consentaudit.cli.app"]


def real_photos(folders: list[Path]) -> list[Path]:
    out = []
    for f in folders:
        for p in sorted(f.rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file():
                try:
                    with Image.open(p) as im:
                        if min(im.size) >= 300:
                            out.append(p)
                except Exception:
                    continue
    return out


def build(folder: Path, photos: list[Path], count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        with Image.open(photos[i % len(photos)]) as im:
            im = im.convert("RGB")
            k = rng.uniform(0.85, 1.0)
            w, h = im.size
            cw, ch = int(w * k), int(h * k)
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            im = im.crop((x, y, x + cw, y + ch))
            long_side = rng.randint(700, 820)
            s = long_side / max(im.size)
            im = im.resize((max(1, int(im.width * s)), max(1, int(im.height * s))), Image.LANCZOS)
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=rng.randint(85, 92))
        (folder / f"img{i:06d}.jpg").write_bytes(buf.getvalue())


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
"""  # the loop a user would write: read, sha256, Pillow, pHash + dHash, as a whole process with its start-up


def naive(folder: Path) -> float:
    """img/s of the naive loop in this process, after its imports (the in-process table only)."""
    files = sorted(folder.glob("*.jpg"))
    t = time.perf_counter()
    for p in files:
        with Image.open(p) as im:
            imagehash.phash(im)
            imagehash.dhash(im)
    return len(files) / (time.perf_counter() - t)


def run_scan(folder: Path, db: Path, jobs: int, extra: list[str] = ()) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB of the scan process tree's largest process), run by the launcher
    (launcher.py: this process's own peak, after an in-process audit, would floor the scan's)."""
    cmd = [*CLI, "scan", str(folder), "--db", f"sqlite:///{db}", "--jobs", str(jobs), "--quiet", "--fail-on", "none"]
    wall, code, rss = launcher().run([*cmd, *extra], quiet=False)
    if code != 0:
        raise SystemExit(f"scan failed with {code}")
    return wall, rss


def in_process(folder: Path, db: Path, jobs: int) -> float:
    """img/s of run_audit itself, after imports (what a long scan converges to)."""
    from consentaudit.audit import run_audit
    from consentaudit.request import AuditRequest
    from consentaudit.store import ScanStore

    db.unlink(missing_ok=True)
    store = ScanStore(f"sqlite:///{db}")
    t = time.perf_counter()
    report = run_audit(AuditRequest(dataset=folder, jobs=jobs), store)
    return report.summary.images / (time.perf_counter() - t)


def build_small(folder: Path, photos: list[Path], count: int, seed: int = 11) -> None:
    """`count` distinct small JPEGs (random 160 px crops of real photos) for the memory measurement."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for p in photos:
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((640, 640))
            sources.append(im)
    for i in range(count):
        im = sources[i % len(sources)]
        w, h = im.size
        x, y = rng.randint(0, w - 160), rng.randint(0, h - 120)
        buf = io.BytesIO()
        im.crop((x, y, x + 160, y + 120)).save(buf, "JPEG", quality=80)
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"s{i:07d}.jpg").write_bytes(buf.getvalue())


def measure(label: str, folder: Path, work: Path, repeat: int) -> None:
    """Whole processes, `repeat` rounds each of: the naive loop, cold scans with --jobs 1 and 2, the
    unchanged re-scan of the --jobs 1 database, a cold --exact-hashes scan; one after the other within a
    round, so load on the shared machine falls on every row alike. Prints img/s by median and by best run
    and each row's largest peak RSS; then, as a second table, in-process figures (one run each)."""
    files = sorted(folder.glob("*.jpg"))
    n = len(files)
    avg_kb = sum(p.stat().st_size for p in files) / n / 1024
    print(f"\n## {label}: {n} JPEGs, mean {avg_kb:.0f} KB; whole processes, {repeat} rounds")
    rows: dict[str, list[float]] = {
        "naive loop (sha256 + Pillow + pHash + dHash), whole process": [],
        "consentaudit scan, cold, --jobs 1": [],
        "consentaudit scan, cold, --jobs 2": [],
        "consentaudit scan, unchanged re-scan": [],
        "consentaudit scan --exact-hashes, cold, --jobs 1": [],
    }
    names = list(rows)
    peak = dict.fromkeys(names, 0)
    for _ in range(repeat):
        wall, code, _rss = launcher().run([sys.executable, "-c", NAIVE, str(folder)])
        if code != 0:
            raise SystemExit(f"the naive loop failed with {code}")
        rows[names[0]].append(wall)
        for name, jobs, extra, db_name, fresh in (
            (names[1], 1, [], "1", True),
            (names[2], 2, [], "2", True),
            (names[3], 1, [], "1", False),  # the --jobs 1 database of this round, unchanged
            (names[4], 1, ["--exact-hashes"], "exact", True),
        ):
            db = work / f"bench-{label}-{db_name}.db"
            if fresh:
                db.unlink(missing_ok=True)
            wall, rss = run_scan(folder, db, jobs, extra)
            rows[name].append(wall)
            peak[name] = max(peak[name], rss)
    base = n / statistics.median(rows[names[0]])
    print(f"\n| {'command':<50} | img/s, median | img/s, best | median / naive | peak RSS |")
    print(f"|{'-' * 52}|---:|---:|---:|---:|")
    for name, walls in rows.items():
        med, best = n / statistics.median(walls), n / min(walls)
        shown = f"{peak[name]} MB" if peak[name] else ""
        print(f"| {name:<50} | {med:.1f} | {best:.1f} | {med / base:.2f}x | {shown} |")
    one, two = rows[names[1]], rows[names[2]]
    print(
        f"\n--jobs 2: {n / statistics.median(two) / 2:.1f} img/s per core (median; best run "
        f"{n / min(two) / 2:.1f}); --jobs 2 / --jobs 1 {statistics.median(one) / statistics.median(two):.2f}x "
        f"(medians), {min(one) / min(two):.2f}x (best runs)"
    )
    print("\nIn-process (after imports, one run each; not what a user's command costs):")
    print(f"{'naive loop, no sha256, in-process':<48} {naive(folder):8.1f} img/s")
    for jobs in (1, 2):
        rate = in_process(folder, work / f"bench-{label}-inproc.db", jobs)
        print(f"{'run_audit in-process, cold, jobs ' + str(jobs):<48} {rate:8.1f} img/s")


def main() -> None:
    # The timed processes keep their bytecode caches as a default Python does (pip writes them for installed
    # packages, and an editable checkout writes its own on first run); a session with PYTHONDONTWRITEBYTECODE
    # set would time compiling the package from source in every process.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--photos", type=Path, nargs="*")
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-bench"))
    ap.add_argument("--camera", action="store_true")
    ap.add_argument("--skip-small", action="store_true", help="skip the ~100 KB photo measurement")
    ap.add_argument("--camera-copies", type=int, default=10)
    ap.add_argument("--rss-count", type=int, default=0, help="also scan this many small images for peak RSS")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of whole-process runs per folder")
    args = ap.parse_args()
    launcher()  # started while this process is small
    folders = args.photos or [p for p in (ROOT / "fixtures/photos", ROOT.parent / "shared/corpus") if p.exists()]
    photos = real_photos(folders)
    print(f"{len(photos)} real source photos; machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    small = args.work / f"jpeg100k-{args.count}"
    if not small.exists():
        build(small, photos, args.count)
    if not args.skip_small:
        measure("~100 KB photos", small, args.work, args.repeat)
    if args.camera:
        cam = args.work / "camera"
        if not cam.exists():
            cam.mkdir(parents=True)
            big = []
            for p in photos:
                with Image.open(p) as im:
                    if p.suffix.lower() in (".jpg", ".jpeg") and im.size[0] * im.size[1] >= 3_000_000:
                        big.append(p)
            for p in big:
                data = p.read_bytes()
                for k in range(args.camera_copies):
                    (cam / f"{p.stem}-{k}.jpg").write_bytes(data + bytes([k]))  # trailing byte: a distinct file
        measure("camera JPEGs (3-15 MP)", cam, args.work, args.repeat)
    if args.rss_count:
        many = args.work / f"small-{args.rss_count}"
        if not many.exists():
            t = time.perf_counter()
            build_small(many, photos, args.rss_count)
            print(f"\nbuilt {args.rss_count} small JPEGs in {time.perf_counter() - t:.0f} s")
        db = args.work / "bench-many.db"
        db.unlink(missing_ok=True)
        for jobs in (2,):
            wall, rss = run_scan(many, db, jobs)
            print(
                f"## {args.rss_count} small JPEGs: cold scan --jobs {jobs}: {args.rss_count / wall:.0f} img/s, "
                f"peak RSS {rss} MB (main process)"
            )
            wall, rss = run_scan(many, db, jobs)
            print(
                f"## {args.rss_count} small JPEGs: unchanged re-scan: {args.rss_count / wall:.0f} img/s, "
                f"peak RSS {rss} MB"
            )
    shutil.rmtree(args.work / "unused", ignore_errors=True)


if __name__ == "__main__":
    main()
