"""Handing freed memory back to the operating system when a stage's steps have released their state.

A dedup index or a key store is freed as many allocations, and glibc's malloc keeps freed pages
in its heaps for reuse: without a trim the next stage starts with the last one's peak still
resident (measured at 1M pairs: the export stage at 976 MB, as high as the dedup stage that came
before it). ``malloc_trim`` returns every free page of the heaps. Elsewhere (musl, macOS) this is
a garbage collection only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import cache


@cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    # glibc's soname first: find_library runs `ldconfig -p` in a child process, and a child forked
    # from a process holding GBs shows that RSS twice to a sampler of the process tree for a moment
    for name in (lambda: "libc.so.6", lambda: ctypes.util.find_library("c")):
        try:
            return ctypes.CDLL(name()).malloc_trim  # glibc only; AttributeError on musl
        except (OSError, AttributeError, TypeError):  # TypeError: find_library found none
            continue
    return None


def return_freed_memory() -> None:
    """Collect garbage, then give the C heaps' free pages back (glibc's ``malloc_trim(0)``)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
