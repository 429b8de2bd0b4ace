"""The local pool's workers run NumPy's matrix products on one BLAS thread each."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

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
