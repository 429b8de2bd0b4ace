"""The C heap of this process: give freed memory back to the system."""

from __future__ import annotations

import ctypes


def give_back_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's `malloc_trim`; nothing where there is none).

    glibc keeps memory freed in the middle of its heap: after a 1M-line fingerprint file is parsed (Arrow
    batches, NumPy parts, then their concatenation) ~140 MB stay resident though nothing uses them, and a
    scan's peak RSS is counted from there."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return
    trim(0)
