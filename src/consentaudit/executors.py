"""Run work units in parallel processes, results in order, with a bounded number of units in flight."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

from consentaudit.sources.item import Item

R = TypeVar("R")
_WORK: Callable[[Sequence[Item]], Any] | None = None  # set in each worker process by _init


def _init(work: Callable[[Sequence[Item]], Any]) -> None:
    global _WORK
    _WORK = work


def _run(unit: Sequence[Item]) -> Any:
    assert _WORK is not None
    return _WORK(unit)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def map_units(
    units: Iterable[Sequence[Item]], work: Callable[[Sequence[Item]], R], jobs: int
) -> Iterator[tuple[Sequence[Item], R]]:
    """(unit, work(unit)) for every unit, in input order. With jobs > 1, units run in worker processes (the
    work object is handed to each worker once, at start) and at most 2 x jobs units are in flight, so
    memory is bounded by the batch size, not the dataset."""
    if jobs <= 1:
        for unit in units:
            yield unit, work(unit)
        return
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pending: deque[tuple[Sequence[Item], Future[R]]] = deque()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init, initargs=(work,))
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
                pending.append((unit, pool.submit(_run, unit)))
            if not pending:
                return
            unit, fut = pending.popleft()
            yield unit, fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
