"""The BLAS library behind NumPy's matrix products, in a worker process."""

from __future__ import annotations


def one_blas_thread() -> None:
    """A worker is one of --jobs processes: the BLAS library behind NumPy's matrix products (OpenBLAS; the
    fingerprint's resize is two such products) gets one thread in it, not one per core, which in every worker
    at once would oversubscribe the cores — measured: a two-job in-process scan of 160 camera JPEGs, 52 img/s
    with OpenBLAS's own threads against 120 with one. The CLI also sets OPENBLAS_NUM_THREADS=1 before NumPy
    loads; a library caller's workers are limited here (threadpoolctl, ~6 ms a worker)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
