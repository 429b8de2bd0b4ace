"""The command line (typer). Commands are thin: parse options, call the library, render, exit."""

import os

# A scan's parallelism is its --jobs processes. OpenBLAS's own threads, in each of them, would only contend
# with the other jobs, and at the sizes of fingerprint.py's matrix products (a picture of ~200x150 pixels
# times 41 weight rows) they cost more than they save: one thread per process (set before NumPy loads;
# a value the user set wins). consentaudit.blas notes it, so that forked workers need not limit it again.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import consentaudit.blas  # noqa: F401
