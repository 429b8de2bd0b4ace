"""The C allocator of a command that decodes images: large buffers reused from the heap, not mapped anew.

Under glibc's defaults, the buffers of a few MB that every image needs (the file's bytes, Pillow's copy of
them, libjpeg's work memory) are mapped from the kernel as fresh zeroed pages and returned to it when freed,
or the free top of the heap is trimmed back: ~130-370 page faults a 6 MP camera JPEG, ~0.4 ms of system time.
A command that decodes images makes glibc serve allocations up to KEEP_BYTES from the heap and keep up to
KEEP_BYTES of freed heap for the next file (mallopt: M_MMAP_THRESHOLD, M_TRIM_THRESHOLD). Worker processes
forked later inherit it. Measured (docs/performance-history.md): 1-6 faults an image instead of 130-370; whole CLI,
camera JPEGs a second +1-5% with one job, 0-6% with two. A command process only: a program that imports
consentaudit keeps its allocator as it set it.
"""

from __future__ import annotations

import sys

KEEP_BYTES = 64 << 20  # Pillow allocates image memory in blocks of up to 16 MB: the limit must pass them
M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3


def reuse_large_buffers(limit: int = KEEP_BYTES) -> bool:
    """Tell glibc's malloc to serve and keep buffers up to `limit` bytes on the heap; whether it took. Nothing
    changes where the C library is not glibc (musl's mallopt does nothing; macOS and Windows have none)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # loaded already by NumPy in a command that decodes images

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # each on its own: a glibc that caps the mapping threshold (at half its 64 MB heap size, in some
    # versions) still keeps freed memory, and gets the largest threshold it takes
    kept = bool(mallopt(M_TRIM_THRESHOLD, limit))
    mapped = bool(mallopt(M_MMAP_THRESHOLD, limit)) or bool(mallopt(M_MMAP_THRESHOLD, min(limit, 32 << 20)))
    return kept and mapped
