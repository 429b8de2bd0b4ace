"""When each step of a cold CLI scan starts and ends: where a `--jobs N` run has one busy core.

    python bench/scan_timeline.py [--jobs 1 2] [--repeat 3] [--work /tmp/consentaudit-cli-bench]

Runs `consentaudit scan` cold (fresh `--db`, `-q`) on the 1,000-JPEG folder and manifest that
bench/cli_workflows.py builds (built here the same way when absent), in a child process that wraps the audit's
steps (inputs, listing, store, plan, map, merge) and records the wall time of each since the process
started (Linux: /proc/self/stat), and at exit the CPU time (getrusage) of the driver and of its workers.
Prints the median of --repeat runs per step and per --jobs, then the serial part (before the map, and from
its end to the exit: one busy core) and what it allows: with the map scaling as measured, the best
`--jobs N` / `--jobs 1` ratio for that serial part, and the serial part a target ratio needs.

With --store-first, each repeat also runs `--jobs 2` with the store opened before the pool forks (the child
opens it first, so its opening is timed alone, on the critical path): its wall time less that opening is what
`--jobs 2` would take were the opening free — overlapped with the serial start-up at no cost, the most that
forking the workers early (a pre-imported zygote, the store opening meanwhile) could win.

Then the machine's own two-core scaling, with no consentaudit code: the naive loop of bench/cli_workflows.py
(read, sha256, Pillow, pHash + dHash) over every second image, timed after its imports, alone and again while
a second process runs the other half (alternating, --repeat times). Their ratio is what a second busy core
costs each process here (shared caches, memory bandwidth, a virtual machine's scheduling); twice the
efficiency is the most any perfectly parallel map can scale, and with it and the serial part measured above
the script prints the best ratio the machine allows. Wall-clock figures of one shared machine: quote
medians, never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

STORE_FIRST = "CONSENTAUDIT_TIMELINE_STORE_FIRST"  # set for the child: open the store before the pool forks
STEPS = ("load_inputs", "open_source", "_opened", "_bind_files", "_plan", "store_landing", "merge_scan")


def _process_age() -> float:
    """Seconds since this process started (0 where /proc is not there)."""
    try:
        start_ticks = float(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return 0.0
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def child(out: str, argv: list[str]) -> None:
    """Run the CLI with its steps wrapped; the marks go to `out` as JSON when the process exits."""
    import atexit
    import resource

    started = time.time() - _process_age()
    marks: list[tuple[str, float]] = []

    def mark(name: str) -> None:  # a step's first call (the store opens once; later calls return it)
        if all(n != name for n, _ in marks):
            marks.append((name, time.time() - started))

    mark("interpreter up")
    import consentaudit.cli.app as app

    mark("CLI imported")
    import consentaudit.audit as audit
    import consentaudit.executors as executors

    mark("scan modules imported")

    def wrapped(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **k: Any) -> Any:
            mark(f"{name} start")
            try:
                return fn(*a, **k)
            finally:
                mark(f"{name} end")

        return run

    for step in STEPS:
        setattr(audit, step, wrapped(step, getattr(audit, step)))
    if os.environ.get(STORE_FIRST):  # open the store before the pool forks: `_opened start/end` times it alone
        head_start_pool = audit._head_start_pool

        def store_first(req: Any, store: Any, run: Any) -> Any:
            audit._opened(store)
            return head_start_pool(req, store, run)

        audit._head_start_pool = store_first
    local_map = executors.LocalExecutor.map
    local_start = executors.LocalExecutor.start
    landed: list[bool] = []

    def timed_map(self: executors.LocalExecutor, units: Any, work: Any) -> Iterator[Any]:
        for result in local_map(self, units, work):
            if not landed:
                mark("first unit landed")
                landed.append(True)
            yield result
        mark("last unit landed")

    def timed_start(self: executors.LocalExecutor, units: Any, work: Any) -> Any:
        mark("pool start")
        started = local_start(self, units, work)
        mark("pool started (units submitted)")
        next_result = started.__next__

        class Timed:
            def __iter__(self) -> Any:
                return self

            def __next__(self) -> Any:
                try:
                    result = next_result()
                except StopIteration:
                    if landed and landed[-1]:
                        mark("last unit landed")
                        landed.append(False)
                    raise
                if not landed:
                    mark("first unit landed")
                    landed.append(True)
                return result

            def close(self) -> None:
                started.close()

        return Timed()

    executors.LocalExecutor.map = timed_map  # type: ignore[method-assign]
    executors.LocalExecutor.start = timed_start  # type: ignore[method-assign]

    def cpu(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    def write_marks() -> None:  # CPU seconds ride along as pseudo-marks: this process's, and its reaped workers'
        cpus = [("cpu driver", cpu(resource.RUSAGE_SELF)), ("cpu workers", cpu(resource.RUSAGE_CHILDREN))]
        Path(out).write_text(json.dumps([*marks, ("exit", time.time() - started), *cpus]))

    atexit.register(write_marks)
    sys.argv = ["consentaudit", *argv]
    app.main()


HALF = """
import hashlib, sys, time
from pathlib import Path
from PIL import Image
import imagehash
files = sorted(Path(sys.argv[1]).glob("*.jpg"))[int(sys.argv[2]) :: 2]
t = time.perf_counter()
for p in files:
    data = p.read_bytes()
    hashlib.sha256(data).hexdigest()
    with Image.open(p) as im:
        imagehash.phash(im), imagehash.dhash(im)
print(time.perf_counter() - t)
"""


def half_loop(dataset: Path, concurrent: bool) -> float:
    """Seconds the naive loop takes over the even-numbered images, alone or beside the odd-numbered half."""
    procs = [
        subprocess.Popen([sys.executable, "-c", HALF, str(dataset), str(k)], stdout=subprocess.PIPE)
        for k in (0, 1)[: 1 + concurrent]
    ]
    times = [float(p.communicate()[0]) for p in procs]
    return times[0]


def machine_efficiency(dataset: Path, repeat: int) -> tuple[float, float]:
    """Median seconds of one half of the naive loop alone, and while the other half runs beside it."""
    alone, beside = [], []
    for _ in range(repeat):
        alone.append(half_loop(dataset, False))
        beside.append(half_loop(dataset, True))
    return statistics.median(alone), statistics.median(beside)


def run_once(dataset: Path, manifest: Path, jobs: int, store_first: bool = False) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "marks.json"
        db = f"sqlite:///{Path(tmp) / 'scan.db'}"
        scan = ["scan", str(dataset), "-m", str(manifest), "--db", db, "-q", "--fail-on", "none", "--jobs", str(jobs)]
        env = {**os.environ, STORE_FIRST: "1"} if store_first else None
        cmd = [sys.executable, __file__, "--child", str(out), *scan]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        return dict(json.loads(out.read_text()))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # time the bytecode caches a default Python keeps
    os.environ.setdefault("CONSENTAUDIT_CACHE_DIR", tempfile.mkdtemp(prefix="consentaudit-timeline-"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-cli-bench"))
    ap.add_argument("--target", type=float, default=1.8, help="the --jobs N / --jobs 1 ratio to plan for")
    ap.add_argument("--no-machine", action="store_true", help="skip the naive loop's two-process scaling")
    ap.add_argument("--store-first", action="store_true", help="also --jobs 2 with the store opened before the fork")
    args = ap.parse_args()
    from cli_workflows import manifest_for
    from scan_speed import build, real_photos

    dataset, manifest = args.work / f"loose-{args.count}", args.work / "loose.csv"
    if not dataset.exists():
        photos = real_photos([p for p in (ROOT / "fixtures/photos", ROOT.parent / "shared/corpus") if p.exists()])
        build(dataset, photos, args.count)
    if not manifest.exists():
        manifest_for(dataset, manifest)
    runs: dict[int, list[dict[str, float]]] = {j: [] for j in args.jobs}
    first: list[dict[str, float]] = []  # --store-first runs
    for _ in range(args.repeat):  # alternating, so that the machine's drift touches every --jobs alike
        for j in args.jobs:
            runs[j].append(run_once(dataset, manifest, j))
        if args.store_first:
            first.append(run_once(dataset, manifest, 2, store_first=True))
    med = {j: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for j, rs in runs.items()}
    names = [n for n in dict.fromkeys(n for j in sorted(args.jobs, reverse=True) for n in med[j]) if n[:4] != "cpu "]
    print(f"# Cold scan timeline — {args.count} JPEGs, seconds since the process started, median of {args.repeat}\n")
    print("| step | " + " | ".join(f"--jobs {j}" for j in args.jobs) + " |")
    print("|---|" + "---:|" * len(args.jobs))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{med[j].get(name, float('nan')):.3f}" for j in args.jobs) + " |")
    print("\n| --jobs | wall s | map s | serial s (one busy core) | CPU s, driver | CPU s, workers |")
    print("|---:|---:|---:|---:|---:|---:|")
    parts = {}
    for j in args.jobs:
        m = med[j]
        start, end = m["store_landing start"], m["store_landing end"]
        mapped = end - min(start, m.get("pool start", start))  # a head start's too
        serial = m["exit"] - mapped
        parts[j] = (m["exit"], mapped, serial)
        cpus = f"{m['cpu driver']:.3f} | {m['cpu workers']:.3f}"
        print(f"| {j} | {m['exit']:.3f} | {mapped:.3f} | {serial:.3f} | {cpus} |")
    if 1 in parts:
        wall1, map1, _ = parts[1]
        for j in args.jobs:
            if j == 1:
                continue
            wall, mapped, serial = parts[j]
            scaling = map1 / mapped
            need = wall1 / args.target - map1 / scaling
            print(
                f"\n--jobs {j}: {wall1 / wall:.2f}x one job; the map scales {scaling:.2f}x; with this serial part "
                f"({serial:.2f} s) and that map, {args.target:.1f}x needs the serial part under {need:.2f} s"
            )
    if first and 1 in parts:
        wall = statistics.median(r["exit"] for r in first)
        opening = statistics.median(r["_opened end"] - r["_opened start"] for r in first)
        print(
            f"\n--jobs 2 with the store opened before the fork, median of {len(first)}: {wall:.3f} s, the opening "
            f"{opening:.3f} s of it; were the opening free, --jobs 2 / --jobs 1 would be "
            f"{parts[1][0] / (wall - opening):.2f}x"
        )
    if args.no_machine or 1 not in parts or 2 not in parts:
        return
    alone, beside = machine_efficiency(dataset, args.repeat)
    eff = alone / beside
    wall1, map1, _ = parts[1]
    serial2 = parts[2][2]
    print(
        f"\n## The machine: naive loop over half the images, median of {args.repeat}\n\n"
        f"alone {alone:.3f} s, beside the other half {beside:.3f} s: each process runs at {eff:.2f} of its lone "
        f"speed with both cores busy, so no map scales past {2 * eff:.2f}x here.\n"
        f"With --jobs 2's serial part ({serial2:.2f} s) and a map at {2 * eff:.2f}x, --jobs 2 / --jobs 1 is at most "
        f"{wall1 / (serial2 + map1 / (2 * eff)):.2f}x; {args.target:.1f}x would need the serial part under "
        f"{wall1 / args.target - map1 / (2 * eff):.2f} s."
    )


if __name__ == "__main__":
    main()
