"""The BLAS library behind NumPy's matrix products, in a worker process."""

from __future__ import annotations

import os
import sys

# OPENBLAS_NUM_THREADS=1 was in the environment when this module loaded, before NumPy: an OpenBLAS that loads
# later reads it and starts one thread (the CLI imports this module right after setting it)
_ONE_BEFORE_NUMPY = "numpy" not in sys.modules and os.environ.get("OPENBLAS_NUM_THREADS") == "1"


def one_blas_thread() -> None:
    """A worker is one of --jobs processes: the BLAS library behind NumPy's matrix products (OpenBLAS; the
    fingerprint's resize is two such products) gets one thread in it, not one per core, which in every worker
    at once would oversubscribe the cores — measured: a two-job in-process scan of 160 camera JPEGs, 52 img/s
    with OpenBLAS's own threads against 120 with one. Nothing to do where the CLI set OPENBLAS_NUM_THREADS=1
    before NumPy loaded an OpenBLAS; a library caller's workers are limited here (threadpoolctl, ~7 ms a
    worker)."""
    if _ONE_BEFORE_NUMPY and _numpy_blas().startswith("scipy-openblas"):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def _numpy_blas() -> str:
    """The BLAS NumPy was built with, by name ("scipy-openblas" in the PyPI wheels; "" if unknown)."""
    try:
        from numpy.__config__ import CONFIG

        return str(CONFIG["Build Dependencies"]["blas"]["name"])
    except (ImportError, KeyError, TypeError):
        return ""
