"""The local pool: its workers run NumPy's matrix products on one BLAS thread each, and reference
fingerprints (`fingerprint`, `manifest init`, reference builds, a scan's `--reference FOLDER`) run on it."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from conftest import PHOTOS
from consentaudit import mapper
from consentaudit.executors import LocalExecutor
from consentaudit.inputs import REFERENCE
from consentaudit.models import ScannedImage
from consentaudit.sources import open_source

CODE = """
import json, os
os.environ.pop("OPENBLAS_NUM_THREADS", None)  # a library caller: nothing set before NumPy loads
import numpy
from threadpoolctl import threadpool_info
from consentaudit.executors import LocalExecutor

def blas(_unit=None):
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

print(json.dumps([blas(), [r for _, r in LocalExecutor(2).map([[1], [2], [3]], blas)]]))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS starts one thread anyway")
def test_pool_workers_use_one_blas_thread_each() -> None:
    """Without the CLI's OPENBLAS_NUM_THREADS, a two-job pool's workers would each run OpenBLAS on every core
    (measured: 52 against 120 img/s on camera JPEGs); each worker is limited to one thread, the caller's own
    process keeps its threads."""
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout
    caller, workers = json.loads(out.strip().splitlines()[-1])
    assert caller and max(caller) > 1  # OpenBLAS would use several threads here
    assert workers == [[1]] * 3


CLI_CODE = """
import json, sys
from datetime import date
import consentaudit.cli  # what the console script does first: OPENBLAS_NUM_THREADS=1 before NumPy loads
import numpy
from consentaudit.executors import LocalExecutor

def probe(_unit=None):
    loaded = "threadpoolctl" in sys.modules  # the worker limited OpenBLAS itself
    from threadpoolctl import threadpool_info
    return [loaded, [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]]

print(json.dumps([r for _, r in LocalExecutor(2).map([[1], [2]], probe)]))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS starts one thread anyway")
def test_cli_workers_have_one_blas_thread_without_limiting_it() -> None:
    """Under the CLI, OpenBLAS was told one thread before NumPy loaded: forked workers run on one thread and
    skip threadpoolctl (~7 ms a worker, on a scan's critical path)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", CLI_CODE], capture_output=True, text=True, check=True, env=env)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[False, [1]], [False, [1]]]


def test_reference_fingerprints_run_on_the_pool_as_one_process_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference fingerprint costs ~40 ms an image (256-bit pHash, views, ORB keypoints): `--jobs 2` runs
    the units in worker processes and gives the images, in order, exactly as one process does."""
    items = list(open_source(PHOTOS).items())
    one = mapper.fingerprint_items(items, REFERENCE, jobs=1)
    real = mapper.scan_unit

    def tagged(unit: list[object], settings: object) -> list[ScannedImage]:  # which process ran the unit
        return [replace(img, notes=(*img.notes, f"pid {os.getpid()}")) for img in real(unit, settings)]  # type: ignore[arg-type]

    monkeypatch.setattr(mapper, "scan_unit", tagged)  # the forked workers inherit it
    seen: list[int] = []
    two = mapper.fingerprint_items(items, REFERENCE, lambda p: seen.append(p.done), jobs=2)
    pids = {n for img in two for n in img.notes if n.startswith("pid ")}
    assert pids and f"pid {os.getpid()}" not in pids  # every unit ran in a worker
    assert [replace(i, notes=tuple(n for n in i.notes if not n.startswith("pid "))) for i in two] == one
    assert len(seen) > 2 and seen[-1] == len(items) == len(one)  # progress a unit at a time
    assert all(img.fingerprint is not None and img.fingerprint.keypoints for img in one[:3])


def test_fingerprint_command_writes_the_same_file_on_two_jobs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from consentaudit.cli.app import app

    runner = CliRunner()
    files = []
    for jobs in ("1", "2"):
        out = tmp_path / f"refs-{jobs}.jsonl"
        result = runner.invoke(app, ["fingerprint", str(PHOTOS), "-o", str(out), "--jobs", jobs, "--quiet"])
        assert result.exit_code == 0, result.output
        files.append(out.read_bytes())
    assert files[0] == files[1] and files[0].count(b"\n") > 10


def _mark(folder: Path, unit: list[int]) -> int:
    (folder / f"unit{unit[0]}").write_text(str(os.getpid()))
    return unit[0] * 10


def test_started_units_run_before_a_result_is_asked_for_and_close_stops_them(tmp_path: Path) -> None:
    """`start` forks the pool and submits 2 x jobs units at once (the driver opens its store meanwhile);
    results come in order; close() runs nothing more and stops the workers."""
    units = [[i] for i in range(1, 9)]
    started = LocalExecutor(2).start(units, partial(_mark, tmp_path))
    for _ in range(600):  # the first four units run with nobody asking (a poll, not a timing)
        if len(list(tmp_path.iterdir())) == 4:
            break
        time.sleep(0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unit1", "unit2", "unit3", "unit4"]
    assert next(started) == ([1], 10)  # taking a result submits the fifth unit
    started.close()
    started.close()  # idempotent
    assert not multiprocessing.active_children()
    assert len(list(tmp_path.iterdir())) <= 5 and not (tmp_path / "unit6").exists()
    whole = LocalExecutor(2).start(units, partial(_mark, tmp_path))
    assert list(whole) == [(u, u[0] * 10) for u in units]  # in order; exhausted, it stops its workers
    assert not multiprocessing.active_children()


def test_a_start_that_fails_leaves_no_workers(tmp_path: Path) -> None:
    """Units that fail to come (a listing error after the first unit forked the pool) raise from start(),
    and the workers it forked are stopped."""

    def units() -> Iterator[list[int]]:
        yield [1]
        raise OSError("the listing failed")

    with pytest.raises(OSError, match="listing failed"):
        LocalExecutor(2).start(units(), partial(_mark, tmp_path))
    assert not multiprocessing.active_children()


WARM_CODE = """
import json, sys
from datetime import date
from consentaudit import fingerprint, mapper
from consentaudit.executors import LocalExecutor
from consentaudit.scanner import ScanSettings
from consentaudit.verdicts import Rules

def state(_unit=None):
    return ["PIL.JpegImagePlugin" in sys.modules, bool(fingerprint._ORDER)]

class Probe:  # a work object warmed as `work` warms, reporting what its worker found at its first unit
    def __init__(self, work):
        self.warm = work.warm
    def __call__(self, unit):
        return state()

before = state()
rules = Rules(("training",), date(2026, 1, 1))
works = [mapper.UnitMapper(ScanSettings(), rules, [], [], 8), mapper.ScanOnly(ScanSettings())]
print(json.dumps([before, [[r for _, r in LocalExecutor(2).map([[1], [2]], Probe(w))] for w in works]]))
"""


def test_workers_inherit_the_warm_up_instead_of_each_repeating_it() -> None:
    """Pillow's format plugins and the LANCZOS pass-order check are done once in the driver, before the pool
    forks (~20 ms of CPU a worker otherwise): a worker's first unit finds both, for a scan's map and for
    `fingerprint_items`."""
    out = subprocess.run([sys.executable, "-c", WARM_CODE], capture_output=True, text=True, check=True).stdout
    before, workers = json.loads(out.strip().splitlines()[-1])
    assert before == [False, False]  # a fresh process has neither
    assert workers == [[[True, True], [True, True]]] * 2


def test_no_more_workers_than_units(tmp_path: Path) -> None:
    """`--jobs 64` on a handful of images forks one worker per unit, not 64 (each a process of tens of MB)."""
    units = [[1], [2], [3]]
    started = LocalExecutor(8).start(units, partial(_mark, tmp_path))
    try:
        assert len(multiprocessing.active_children()) == 3
        assert list(started) == [(u, u[0] * 10) for u in units]
    finally:
        started.close()
    assert not multiprocessing.active_children()
