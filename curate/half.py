"""Reading float16 row files back as float32: the one reader of the BT fit's feature files
(``vote/bt_stream.VectorStore``) and of the compressed index's vectors (``index/vector_file``).

Both stream millions of 256-d rows, over and over (every L-BFGS step of every fold; every index
regrow), so how a chunk is read decides their speed past what fits in memory. Measured on the
2-core CI machine, per 256-d row: ``np.fromfile`` + ``astype`` into new arrays 1,350 ns (page
faults of two fresh arrays, and numpy's float16 conversion, which has no SIMD here: 2.3 ns a
value); mapping the rows and converting with torch (F16C, 0.5 ns a value) into a buffer already
faulted in, ~160 ns. The map is closed before returning, so no page stays mapped into the process
(mapped pages count toward its RSS; the page cache holds the file either way).
"""

from __future__ import annotations

import mmap
from functools import cache
from pathlib import Path

import numpy as np


@cache
def _torch():
    try:
        import torch
    except ImportError:  # a core dependency, but the conversion does not need it
        return None
    return torch


def widen(half: np.ndarray, out: np.ndarray) -> None:
    """float16 → float32 into `out` (same shape)."""
    torch = _torch()
    if torch is None or not half.flags.c_contiguous or not out.flags.c_contiguous:
        np.copyto(out, half)
    else:
        torch.from_numpy(out).copy_(torch.from_numpy(half))


class RowBuffer:
    """A float32 matrix reused for consecutive reads (its pages faulted in once)."""

    def __init__(self) -> None:
        self._full = np.zeros(0, np.float32)

    def rows(self, rows: int, dim: int) -> np.ndarray:
        if self._full.size < rows * dim:
            self._full = np.empty(rows * dim, np.float32)
        return self._full[:rows * dim].reshape(rows, dim)


def read_rows(path: Path, start: int, stop: int, dim: int, buffer: RowBuffer | None = None) -> np.ndarray:
    """Rows [start, stop) of a float16 file of `dim` columns, as float32: a new array, or
    `buffer`'s (valid until its next use)."""
    out = buffer.rows(stop - start, dim) if buffer is not None else np.empty((stop - start, dim), np.float32)
    if stop <= start:
        return out
    at, size = start * dim * 2, (stop - start) * dim * 2
    base = at - at % mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as fh:
        if fh.seek(0, 2) < at + size:
            raise OSError(f"{path}: holds fewer rows than recorded (rows {start}-{stop} of {dim} columns)")
        # ACCESS_COPY: a private map torch may view as writable; nothing is written to it
        m = mmap.mmap(fh.fileno(), size + at - base, access=mmap.ACCESS_COPY, offset=base)
    try:
        if hasattr(m, "madvise"):
            m.madvise(mmap.MADV_SEQUENTIAL)
        half = np.frombuffer(m, dtype=np.float16, count=size // 2, offset=at - base).reshape(-1, dim)
        widen(half, out)
        del half  # the map cannot close while a view of it lives
    finally:
        m.close()
    return out
