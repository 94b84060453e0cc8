"""Handing freed C-heap memory back to the operating system (glibc `malloc_trim`).

CPython's small-object allocator returns its arenas when they empty, but every buffer over 512
bytes comes from the C library's malloc. While the worker reads a backlog, aiokafka's fetch
buffers and produce batches (up to hundreds of KiB, freed within a loop turn) are interleaved on
glibc's heap with long-lived blocks (the indexes' sorted sublists, dict tables). glibc gives back
only the free memory at the very top of its heap by itself, so the freed holes stay resident
(measured in docs/benchmarks.md); `malloc_trim(0)` returns them (it releases every free page,
wherever it is). Elsewhere (musl, macOS) there is no such call and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_malloc_trim = _find_malloc_trim()


def trim_heap() -> bool:
    """Return the C heap's free pages to the operating system; False where the C library cannot."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
