"""The map step on Ray: one Ray task per work unit, on a cluster or a local Ray. The same picklable work
object as the local pool runs; it goes to the object store once (`ray.put`) and each worker process
deserialises it once, however many units it runs. At most `in_flight` tasks are pending (default: two per
CPU of the cluster), results come back in input order, a unit is retried `retries` times (a lost worker or
an exception alike), and a unit that still fails becomes error findings for its files (`work.failed`).

Ray is imported only here and only when a scan asks for it (`--executor ray`, the `[ray]` extra). Workers
must be able to import consentaudit and read the dataset's paths: on a cluster, install the package on
every node and keep the data on storage every node mounts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from consentaudit.blas import one_blas_thread
from consentaudit.errors import InputError
from consentaudit.inflight import submitted_in_order
from consentaudit.sources.item import Item

R = TypeVar("R")
Unit = Sequence[Item]
_WORK: dict[str, Any] = {}  # in each Ray worker: the work object, by object id, deserialised once


def _run_unit(holder: list[Any], unit: Unit) -> Any:
    """A Ray task: run the work object (an ObjectRef inside a list, so Ray does not resolve it per task) on
    one unit."""
    import ray

    ref = holder[0]
    key = ref.hex()
    work = _WORK.get(key)
    if work is None:
        one_blas_thread()  # a worker process is one of the cluster's CPUs (once per work object: cheap, idempotent)
        _WORK.clear()
        work = _WORK[key] = ray.get(ref)
    return work(unit)


def _warm_up() -> int:
    """A Ray task run once per CPU as soon as the scan connects: the worker processes start and import what a
    unit needs while the driver is still opening the store and listing the dataset."""
    import consentaudit.fingerprint  # Pillow, imagehash, NumPy
    import consentaudit.merge  # noqa: F401  (matching, verdicts; the line above binds `consentaudit`)

    return os.getpid()


class RayExecutor:
    name = "ray"

    def __init__(self, jobs: int, address: str | None = None, retries: int = 2, in_flight: int | None = None) -> None:
        self.jobs = jobs
        self.address = address
        self.retries = retries
        self.in_flight = in_flight
        self.cluster = ""  # what map() connected to, for the report header
        self._connected = False
        self._started = False  # this executor started Ray (a local Ray): close() shuts it down
        self._warming: list[Any] = []
        self._cpus = jobs  # the cluster's CPUs, once connected

    def describe(self) -> str:
        return f"ray ({self.cluster or 'not started'})"

    def _connect(self) -> bool:
        """Join RAY_ADDRESS / --ray-address, else a running cluster on this machine, else start a local Ray
        with `jobs` CPUs. True when this call started Ray (and map() must shut it down)."""
        try:
            import ray
        except ImportError:
            raise InputError("--executor ray needs Ray: pip install 'consentaudit[ray]'") from None
        if ray.is_initialized():
            self.cluster = "existing Ray session"
            return False
        opts: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR", "include_dashboard": False}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from an audit
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            try:
                ray.init(address=address, **opts)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise InputError(f"cannot join the Ray cluster at {address}: {exc}") from None
            self.cluster = f"Ray cluster {address}"
            return True
        try:
            ray.init(address="auto", **opts)
            self.cluster = "Ray cluster on this machine"
        except (ConnectionError, ValueError, RuntimeError):
            ray.init(num_cpus=self.jobs, **opts)
            self.cluster = f"local Ray, {self.jobs} CPUs"
        return True

    def prepare(self) -> None:
        """Connect and start warming the workers (see `_warm_up`); map() does it when nobody called this."""
        if self._connected:
            return
        self._started = self._connect()
        self._connected = True
        import ray

        self._cpus = int(ray.cluster_resources().get("CPU", self.jobs)) or 1  # type: ignore[no-untyped-call]
        warm = ray.remote(_warm_up).options(num_cpus=1)
        self._warming = [warm.remote() for _ in range(min(self._cpus, 64))]

    def close(self) -> None:
        if self._connected and self._started:
            import ray

            ray.shutdown()
        self._connected = self._started = False
        self._warming = []

    def map(self, units: Iterable[Unit], work: Callable[[Unit], R]) -> Iterator[tuple[Unit, R]]:
        self.prepare()
        import ray
        from ray.exceptions import RayError

        try:
            cap = self.in_flight or 2 * self._cpus
            task = ray.remote(_run_unit).options(num_cpus=1, max_retries=self.retries, retry_exceptions=True)
            holder = [ray.put(work)]
            failed: Callable[[Unit, str], R] | None = getattr(work, "failed", None)
            for unit, ref in submitted_in_order(units, lambda u: task.remote(holder, u), cap):
                try:
                    result: R = ray.get(ref)
                except RayError as exc:
                    if failed is None:
                        raise
                    why = f"Ray task failed after {self.retries} retries ({type(exc).__name__}: {str(exc)[:200]})"
                    result = failed(unit, why)
                yield unit, result
        finally:
            self.close()
