"""What Ray costs here, what one shard costs, and what N workers would do with 10^8 images.

    python bench/scale_out.py [--images 1000] [--shards 4] [--repeat 3] [--work /tmp/consentaudit-scale-bench]

1. Whole CLI processes as a user installs them (a venv with `pip install -e '.[ray,scale]'`, or --python),
   alternating, --repeat times, on --images real-photo JPEGs (built as
   bench/scan_speed.py builds them) packed into --shards img2dataset-style tar shards, each run into a
   fresh SQLite store with `--out DIR`:
     local   `scan --jobs 2` (the process pool)
     ray     `scan --executor ray --jobs 2` (starts and stops a local Ray: ray.init(num_cpus=2))
     ray-up  `scan --executor ray --ray-address auto` against a Ray already running (`ray start --head
             --num-cpus 2`), as on a cluster that outlives one scan
   Min and median wall seconds and each one's ratio to local; the verdicts of the three are compared.
2. Per-shard costs measured here (in-process, labelled): one shard's map cost on one core (fingerprint +
   judge, the work a Ray task does), Ray's per-task overhead, and the driver's cost per image (storing the
   results, the merge, the Parquet). Then a model: W workers of one core each run the shards in parallel,
   the driver handles every image once; time(W) = max(shards x shard_cost / W + task overhead, images x
   driver_cost) + start-up. Printed for W = 1 … 100 and for 10^8 images in 10^4-image shards.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "src")]

from scan_speed import build, real_photos  # noqa: E402

CLI = [sys.executable, "-m", "consentaudit.cli.app"]
RAY = str(Path(sys.executable).with_name("ray"))


def user_install(venv: Path) -> Path:
    """The interpreter of a virtualenv holding what a user installs to scan on Ray, `pip install -e
    '.[ray,scale]'` (made when missing). The development venv also holds test-only packages (jsonschema's
    format checkers, pulled in by cyclonedx's validation extra) that make `import ray` take ~3 s instead of
    ~1 s, in the driver and in every Ray worker: timing Ray there would measure the test tooling."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", f"{ROOT}[ray,scale]"], check=True)
    return py


def use_interpreter(py: Path) -> None:
    global CLI, RAY
    CLI = [str(py), "-m", "consentaudit.cli.app"]
    RAY = str(py.with_name("ray"))
    t = time.perf_counter()
    subprocess.run([str(py), "-c", "import ray"], check=True)
    print(f"CLI and Ray from {py} (`import ray`: {time.perf_counter() - t:.2f} s as a whole process)\n")


def pack(folder: Path, shards_dir: Path, shards: int) -> int:
    files = sorted(folder.glob("*.jpg"))
    shards_dir.mkdir(parents=True, exist_ok=True)
    per = -(-len(files) // shards)
    for s in range(shards):
        with tarfile.open(shards_dir / f"{s:05d}.tar", "w", format=tarfile.USTAR_FORMAT) as tf:
            for k, f in enumerate(files[s * per : (s + 1) * per]):
                key = f"{s:05d}{k:04d}"
                meta = json.dumps({"url": f"https://img{s}.example.org/{k}.jpg", "key": key}).encode()
                for name, data in ((f"{key}.jpg", f.read_bytes()), (f"{key}.json", meta)):
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime = len(data), 1764000000
                    tf.addfile(info, io.BytesIO(data))
    return len(files)


def cli(shards: Path, work: Path, label: str, *extra: str) -> tuple[float, list[tuple[str, str]]]:
    db, out, report = work / f"{label}.db", work / f"out-{label}", work / f"{label}.json"
    db.unlink(missing_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run(
        [*CLI, "scan", str(shards), "--db", f"sqlite:///{db}", "--out", str(out), "--report", str(report),
         "--quiet", "--fail-on", "none", "--no-thumbnails", "--as-of", "2026-11-26", *extra],
        check=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - t
    doc = json.loads(report.read_text())
    return elapsed, [(f["path"], f["verdict"]) for f in doc["findings"]]


def whole_processes(shards: Path, work: Path, repeat: int, images: int, n_shards: int) -> None:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env)
    times: dict[str, list[float]] = {"local": [], "ray": [], "ray-up": []}
    verdicts: dict[str, list[tuple[str, str]]] = {}
    for _ in range(repeat):
        for label, extra in (("local", ["--jobs", "2"]), ("ray", ["--executor", "ray", "--jobs", "2"])):
            t, v = cli(shards, work, label, *extra)
            times[label].append(t)
            verdicts[label] = v
    subprocess.run(
        [RAY, "start", "--head", "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    try:
        for _ in range(repeat):
            t, v = cli(shards, work, "ray-up", "--executor", "ray", "--ray-address", "auto", "--jobs", "2")
            times["ray-up"].append(t)
            verdicts["ray-up"] = v
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env)
    same = verdicts["ray"] == verdicts["local"] == verdicts["ray-up"]
    print(f"## Whole CLI processes: {images} real-photo JPEGs in {n_shards} tar shards, --out, {repeat} runs\n")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"verdicts identical across executors: {same}\n")  # fmt: skip
    print("| executor | min s | median s | median / local |")
    print("|---|---:|---:|---:|")
    base = statistics.median(times["local"])
    names = {
        "local": "local `--jobs 2`",
        "ray": "ray, local Ray started by the scan",
        "ray-up": "ray, Ray already running (`--ray-address auto`)",
    }
    for label, ts in times.items():
        print(f"| {names[label]} | {min(ts):.2f} | {statistics.median(ts):.2f} | {statistics.median(ts) / base:.2f}× |")


def per_shard_costs(shards: Path, work: Path) -> tuple[float, float, float, int]:
    """(seconds per shard on one core, Ray seconds per task, driver seconds per image, images per shard)."""
    from consentaudit.audit import shard_units
    from consentaudit.mapper import UnitMapper
    from consentaudit.request import AuditRequest
    from consentaudit.sources import open_source

    items = list(open_source(shards).items())
    units = list(shard_units(items, 64, 1))
    req = AuditRequest(dataset=shards)
    mapper = UnitMapper(req.settings(), req.rules(), [], [], req.phash_threshold)
    mapper(units[0][:4])  # warm imports
    t = time.perf_counter()
    for u in units:
        mapper(u)
    shard_cost = (time.perf_counter() - t) / len(units)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:

        @ray.remote
        def nothing(x: int) -> int:
            return x

        ray.get([nothing.remote(i) for i in range(50)])
        t = time.perf_counter()
        ray.get([nothing.remote(i) for i in range(1000)])
        task = (time.perf_counter() - t) / 1000
    finally:
        ray.shutdown()
    # the driver: a local --jobs 1 scan minus its map time, per image (store writes, merge, Parquet, report)
    t, _ = cli(shards, work, "driver", "--jobs", "1")
    driver = max(0.0, t - shard_cost * len(units) - 1.0) / len(items)  # 1.0 s: start-up, measured apart
    return shard_cost, task, driver, len(units[0])


def model(shard_cost: float, task: float, driver: float, per_shard: int) -> None:
    print("\n## Per-shard costs measured here (in-process) and the throughput they imply\n")
    print(f"- one shard of {per_shard} images on one core: {shard_cost:.2f} s ({per_shard / shard_cost:.0f} img/s)")
    print(f"- Ray task overhead: {task * 1000:.2f} ms per task")
    print(f"- driver (store, merge, Parquet, report): {driver * 1e6:.0f} µs per image")
    print("\nModel for 10^8 images in 10^4-image shards (10^4 shards), workers of one core each, one driver:\n")
    print("| workers | map (h) | driver (h) | total (h) | images/s |")
    print("|---:|---:|---:|---:|---:|")
    images, per = 10**8, 10**4
    shard_10k = shard_cost / per_shard * per
    for w in (1, 2, 8, 32, 100, 400):
        m = (images / per) * (shard_10k + task) / w
        d = images * driver
        total = max(m, d)
        print(f"| {w} | {m / 3600:.1f} | {d / 3600:.1f} | {total / 3600:.1f} | {images / total:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-scale-bench"))
    ap.add_argument("--python", type=Path, help="the interpreter to run the CLI and Ray with (default: a venv "
                    "with the user install '.[ray,scale]', made in WORK/user-venv when missing)")  # fmt: skip
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    loose, shards = a.work / f"jpegs-{a.images}", a.work / f"shards-{a.images}-{a.shards}"
    if not loose.exists():
        build(loose, real_photos([ROOT / "fixtures" / "photos", ROOT.parent / "shared" / "corpus"]), a.images)
    if not shards.exists():
        pack(loose, shards, a.shards)
    use_interpreter(a.python or user_install(a.work / "user-venv"))
    whole_processes(shards, a.work, a.repeat, a.images, a.shards)
    model(*per_shard_costs(shards, a.work))


if __name__ == "__main__":
    main()
