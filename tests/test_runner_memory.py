"""return_freed_memory gives the C heap's free pages back (the runner calls it between stages)."""

import ctypes
import sys

import psutil
import pytest

from curate.runner.memory import _malloc_trim, return_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or _malloc_trim() is None, reason="glibc only")
def test_freed_heap_pages_go_back_to_the_os():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    me = psutil.Process()
    blocks = [libc.malloc(4096) for _ in range(60_000)]  # small: on the heap, not mmapped
    for b in blocks:
        ctypes.memset(b, 1, 4096)
    keep = blocks.pop()  # the top of the heap stays in use, so free() alone cannot shrink it
    for b in blocks:
        libc.free(b)
    before = me.memory_info().rss
    return_freed_memory()
    after = me.memory_info().rss
    libc.free(keep)
    assert before - after > 150 << 20, (before >> 20, after >> 20)
