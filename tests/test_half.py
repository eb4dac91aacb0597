"""curate.half.read_rows: float16 rows back as float32, into new arrays or a reused buffer."""

import numpy as np
import pytest

from curate.half import RowBuffer, read_rows, widen


def test_reads_equal_the_rows_written(tmp_path):
    rng = np.random.default_rng(0)
    m = rng.standard_normal((5000, 48)).astype(np.float16)
    path = tmp_path / "x.f16"
    m.tofile(path)
    buffer = RowBuffer()
    for a, b in [(0, 7), (13, 4000), (4999, 5000), (1, 5000), (30, 30)]:  # offsets off every page boundary
        want = m[a:b].astype(np.float32)
        fresh, reused = read_rows(path, a, b, 48), read_rows(path, a, b, 48, buffer)
        assert fresh.dtype == reused.dtype == np.float32
        assert np.array_equal(fresh, want) and np.array_equal(reused, want)
    first = read_rows(path, 0, 10, 48, buffer)
    read_rows(path, 10, 20, 48, buffer)
    assert np.array_equal(first, m[10:20].astype(np.float32))  # the buffer is reused: said in the docstring
    with pytest.raises(OSError, match="fewer rows"):
        read_rows(path, 4000, 6000, 48, buffer)


def test_widen_handles_views_that_are_not_contiguous():
    half = np.arange(24, dtype=np.float16).reshape(4, 6)[:, ::2]
    out = np.empty((4, 3), np.float32)
    widen(half, out)
    assert np.array_equal(out, half.astype(np.float32))
