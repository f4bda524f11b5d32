"""Give the memory a read freed back to the operating system.

A reader allocates far more than it keeps (text buffers, parsed objects, intermediate columns).
pyarrow's allocator (mimalloc or jemalloc) and glibc's heap keep freed memory for reuse, so
without this a process holds several times its SpanFrame after a read (measured in
``benchmarks/reader_memory.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pyarrow as pa


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def release_free_memory() -> None:
    """Return pyarrow's unused pool memory and glibc's free heap pages (``malloc_trim``) to the OS."""
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
