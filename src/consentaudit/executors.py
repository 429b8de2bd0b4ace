"""Executors run the map step of a scan: `map(units, fn)` yields `(unit, fn(unit))` for every unit, in
input order. `fn` is a picklable callable that touches neither the store nor the terminal, so any executor
can run it: the local process pool here, a distributed engine beside it.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

from consentaudit.blas import one_blas_thread
from consentaudit.inflight import submitted_in_order
from consentaudit.sources.item import Item

R = TypeVar("R")
Unit = Sequence[Item]
_WORK: Callable[[Unit], Any] | None = None  # set in each worker process by _init


def _init(work: Callable[[Unit], Any]) -> None:
    global _WORK
    _WORK = work
    one_blas_thread()


def _run(unit: Unit) -> Any:
    assert _WORK is not None
    return _WORK(unit)


MIN_UNIT = 4  # images: the smallest unit the tail of a multi-job scan is cut into


def units_of(items: Sequence[Item], batch_size: int, jobs: int) -> Iterator[Sequence[Item]]:
    """Work units of at most `batch_size` images. With several jobs each unit is at most 1/(2 x jobs) of
    the images still to hand out, so units shrink towards the end (to MIN_UNIT) and the workers finish
    together: 100 camera photos on two jobs are units of 25, 19, 14, ... 4, not 64 and 36 with one worker idle
    for the whole second unit; on a large scan all but the last few units are `batch_size`."""
    i, n = 0, len(items)
    while i < n:
        size = batch_size if jobs <= 1 else max(MIN_UNIT, min(batch_size, -(-(n - i) // (2 * jobs))))
        yield items[i : i + size]
        i += size


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    name: str

    def describe(self) -> str:
        """What ran the map step, for the report header."""
        ...

    def prepare(self) -> None:
        """Start what takes time to start (a cluster connection, worker processes), before the scan plans."""
        ...

    def close(self) -> None:
        """Release what prepare() or map() started."""
        ...

    def map(self, units: Iterable[Unit], work: Callable[[Unit], R]) -> Iterator[tuple[Unit, R]]: ...


class LocalExecutor:
    """Worker processes on this machine (one process in-line with jobs=1). The work object is handed to
    each worker once, at start; at most 2 x jobs units are in flight, so memory is bounded by the unit
    size, not the dataset."""

    name = "local"

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def describe(self) -> str:
        return f"local ({self.jobs} process{'es' if self.jobs != 1 else ''})"

    def prepare(self) -> None:
        """Nothing: the pool forks when the units are known (forked workers inherit the loaded modules)."""

    def close(self) -> None:
        """Nothing: map() shuts its pool down."""

    def map(self, units: Iterable[Unit], work: Callable[[Unit], R]) -> Iterator[tuple[Unit, R]]:
        if self.jobs <= 1:
            for unit in units:
                yield unit, work(unit)
            return
        started = self.start(units, work)
        try:
            yield from started
        finally:
            started.close()

    def start(self, units: Iterable[Unit], work: Callable[[Unit], R]) -> Started[R]:
        """The pool forked and its first units submitted now, before anyone asks for a result: the driver
        does other work (opens the store) while the workers hash. Close what this returns."""
        return Started(self.jobs, units, work)


def warm(work: Callable[[Unit], Any]) -> None:
    """Do here, once, what each forked worker would otherwise do on its first unit (`work.warm()`, when the
    work object has one): the workers inherit it instead of each repeating it."""
    warm_up = getattr(work, "warm", None)
    if callable(warm_up):
        warm_up()


class Started(Generic[R]):
    """Units running on a pool of `jobs` forked workers: 2 x jobs submitted when made, one more as each
    result is taken; iterating yields (unit, result) in input order. close() cancels what has not begun,
    waits for what has, and stops the workers (also done when the units run out or a unit fails)."""

    def __init__(self, jobs: int, units: Iterable[Unit], work: Callable[[Unit], R]) -> None:
        units = iter(units)
        first = list(itertools.islice(units, jobs))  # no more workers than units: --jobs 64 on 20 images forks 5
        units = itertools.chain(first, units)
        forks = "fork" in multiprocessing.get_all_start_methods()
        if forks:
            warm(work)
        ctx = multiprocessing.get_context("fork" if forks else "spawn")
        workers = max(1, len(first))
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init, initargs=(work,))
        self._flow = submitted_in_order(units, lambda u: self._pool.submit(_run, u), 2 * jobs)
        self._closed = False
        try:
            self._first = next(self._flow, None)  # the first 2 x jobs units submitted (none awaited)
        except BaseException:  # a unit list that fails to give a unit, a pool that cannot start
            self.close()
            raise

    def __iter__(self) -> Iterator[tuple[Unit, R]]:
        return self

    def __next__(self) -> tuple[Unit, R]:
        try:
            if self._first is not None:
                (unit, fut), self._first = self._first, None
            else:
                unit, fut = next(self._flow)
            return unit, fut.result()
        except BaseException:  # StopIteration at the end, or a failed unit: the workers stop either way
            self.close()
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._first = None
            self._pool.shutdown(wait=True, cancel_futures=True)


# `--executor` values, and img2dataset's `--distributor` spellings of them
EXECUTOR_NAMES = {"local": "local", "multiprocessing": "local", "ray": "ray"}


def executor_for(name: str, jobs: int, ray_address: str | None = None, retries: int = 2) -> Executor:
    """The executor a scan asks for by name: the local pool, or Ray (imported only then)."""
    from consentaudit.errors import InputError

    kind = EXECUTOR_NAMES.get(name)
    if kind is None:
        raise InputError(f"--executor {name!r}: choose local or ray (img2dataset's multiprocessing is local)")
    if kind == "ray":
        from consentaudit.ray_executor import RayExecutor

        return RayExecutor(jobs, ray_address, retries)
    return LocalExecutor(jobs)
