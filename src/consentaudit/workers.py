"""Run work units in parallel processes, results in order, with a bounded number of units in flight."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from consentaudit.item import Item
from consentaudit.models import ScannedImage
from consentaudit.scanner import ScanSettings, scan_unit


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def map_units(units: Iterable[Sequence[Item]], settings: ScanSettings, jobs: int
              ) -> Iterator[tuple[Sequence[Item], list[ScannedImage]]]:
    """(unit, results) for every unit, in input order. With jobs > 1, units run in worker processes and at
    most 2 x jobs units are in flight, so memory is bounded by the batch size, not the dataset."""
    if jobs <= 1:
        for unit in units:
            yield unit, scan_unit(unit, settings)
        return
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pending: deque[tuple[Sequence[Item], Future[list[ScannedImage]]]] = deque()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        it = iter(units)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 2 * jobs:
                try:
                    unit = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((unit, pool.submit(scan_unit, unit, settings)))
            if not pending:
                return
            unit, fut = pending.popleft()
            yield unit, fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
