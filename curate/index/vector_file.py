"""An append-only file of float16 vectors: what a compressed index re-ranks against, kept off the heap.

A compressed index (curate/index/faiss_compressed.py) holds ~170 bytes per vector in memory; the exact
vectors it needs to re-rank candidates and to retrain as it grows live here, 2 bytes per dimension on
disk (10M 256-d vectors: 5 GB of disk, none of it on the heap; the page cache serves the reads).

Rows are read by position: ``rows(ids)`` gathers through one memory map kept across calls, so a row
read again (near-duplicates share candidates) costs no new page fault. The file is grown ahead of
the rows in doublings (sparse: no disk is used until rows are written) so the map covers rows
appended after it was made; it is remade only when that room is used up, or once the pages it
has touched may add up to ``MAP_BUDGET`` bytes: mapped pages count toward the process's RSS,
so the map is dropped then and its pages stay in the page cache only. (A map per call, as
before, paid a fault on every row read: the re-rank's reads took 20 -> 35 µs per pair from 100k
to 1M scale pairs, against 13 -> 16 with a 256 MB budget and 14 -> 22 with 64 MB;
benchmarks/README.md, "Scale, 2026-12-02c".)
``chunks()`` streams every row in blocks for a retrain.

State: ``save(directory)`` hard-links the file there (a copy when the link is refused, e.g. across
file systems) and records the row count; rows appended later do not change what a saved state
means, because ``load`` reads only that many. A loaded file is read in place, and copied to a new
file in ``directory`` (set by ``spill_to``) only when the resumed run appends to it, so a state is
never written to; saved again before that, it reads from the new state's link (the runner removes
the old state once the new one is committed).
"""

from __future__ import annotations

import json
import mmap
import os
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curate.half import read_rows

FILE = "vectors.f16"


class VectorFile:
    DTYPE = np.float16
    MAP_BUDGET = 128 << 20  # bytes of pages the read map may touch before it is dropped (its RSS, per index)
    MIN_ROOM = 1 << 16      # rows the file is first grown to ahead of the writes

    def __init__(self, dim: int, directory: Path | None = None):
        self.dim = int(dim)
        self.directory = Path(directory) if directory else None
        self.n = 0
        self._path: Path | None = None     # the file rows are read from
        self._owned = False                # True: this object created _path (and may append, and deletes it)
        self._fh = None
        self._finalizer = None
        self._room = 0                     # rows the file's length holds (>= n: grown ahead of the writes)
        self._map: np.memmap | None = None # the read map, over _room rows
        self._touched = 0                  # bytes of pages the read map may have faulted in

    def __len__(self) -> int:
        return self.n

    @property
    def row_bytes(self) -> int:
        return self.dim * np.dtype(self.DTYPE).itemsize

    def spill_to(self, directory: Path) -> None:
        """Where the next file this object creates goes (a run's own folder rather than the temp dir)."""
        self.directory = Path(directory)

    # ------------------------------------------------------------ writing
    def append(self, vecs: np.ndarray) -> None:
        if not len(vecs):
            return
        if not self._owned:
            self._own()
        if self.n + len(vecs) > self._room:
            self._grow(self.n + len(vecs))
        self._fh.seek(self.n * self.row_bytes)
        self._fh.write(np.ascontiguousarray(vecs, dtype=self.DTYPE).tobytes())
        self.n += len(vecs)

    def _grow(self, rows: int) -> None:
        """Lengthen the file (sparse) to room for at least `rows`, doubling; the read map is remade."""
        self._room = max(self.MIN_ROOM, rows, 2 * self._room)
        self._fh.flush()
        os.ftruncate(self._fh.fileno(), self._room * self.row_bytes)
        self._unmap()

    def _own(self) -> None:
        """Start a file of our own, with the rows of the loaded one (if any) copied in first."""
        where = self.directory or Path(tempfile.gettempdir())
        where.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="curate-vectors-", suffix=".f16", dir=where)
        path = Path(name)
        with os.fdopen(fd, "wb") as out:
            if self._path is not None and self.n:
                with open(self._path, "rb") as src:
                    _copy_bytes(src, out, self.n * self.row_bytes)
        # positioned writes, not "ab": the file is longer than its rows (grown ahead, see _grow)
        self._fh = open(path, "r+b", buffering=1 << 20)  # noqa: SIM115 (lives as long as this object)
        self._path, self._owned, self._room = path, True, self.n
        self._unmap()
        self._finalizer = weakref.finalize(self, _remove, self._fh, path)

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    # ------------------------------------------------------------ reading
    def rows(self, ids: np.ndarray) -> np.ndarray:
        """float32 rows at positions `ids` (any shape; every id in [0, n))."""
        ids = np.asarray(ids, dtype=np.int64)
        if not self.n:
            return np.zeros((*ids.shape, self.dim), np.float32)
        self.flush()
        if self._map is None or len(self._map) < self.n or self._touched > self.MAP_BUDGET:
            self._unmap()
            self._map = np.memmap(self._path, dtype=self.DTYPE, mode="r", shape=(max(self._room, self.n), self.dim))
            if hasattr(mmap, "MADV_RANDOM"):  # no fault-around or read-ahead: each row is one small read
                self._map._mmap.madvise(mmap.MADV_RANDOM)
        flat = ids.ravel()
        # an upper bound on the pages this call faults in: the distinct pages its rows start on
        self._touched += len(np.unique(flat * self.row_bytes // mmap.PAGESIZE)) * max(mmap.PAGESIZE, self.row_bytes)
        return self._map[flat].astype(np.float32).reshape(*ids.shape, self.dim)

    def _unmap(self) -> None:
        self._map, self._touched = None, 0

    def chunks(self, size: int = 65_536) -> Iterator[tuple[int, np.ndarray]]:
        """(first position, float32 block) over every row (``curate.half``: nothing stays mapped).
        Each block is a new array: callers keep them (the training sample is cut from them)."""
        self.flush()
        for start in range(0, self.n, size):
            yield start, read_rows(self._path, start, min(self.n, start + size), self.dim)

    # ------------------------------------------------------------ state
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        (directory / "vectors.json").write_text(json.dumps({"rows": self.n, "dim": self.dim}))
        if self._path is None:
            return
        self.flush()
        target = directory / FILE
        try:
            os.link(self._path, target)
        except OSError:  # another file system, or links not allowed: copy the rows that count
            with open(self._path, "rb") as src, open(target, "wb") as out:
                _copy_bytes(src, out, self.n * self.row_bytes)
        if not self._owned:
            # still reading a loaded state's file: follow it to the new state, since the runner
            # removes the old state once this one is committed
            self._path = target
            self._unmap()

    def load(self, directory: Path) -> None:
        directory = Path(directory)
        meta = json.loads((directory / "vectors.json").read_text())
        self.close()
        self.n, self.dim = int(meta["rows"]), int(meta["dim"])
        path = directory / FILE
        self._path = path if path.exists() else None
        if self.n and (self._path is None or self._path.stat().st_size < self.n * self.row_bytes):
            from curate.errors import ResumeError

            raise ResumeError(f"{directory}: the saved vectors hold fewer than the {self.n} rows the index "
                              f"needs; the state is damaged, start a new run (--overwrite)")

    def close(self) -> None:
        self._unmap()
        if self._finalizer is not None:
            self._finalizer()
        self._path, self._owned, self._fh, self._finalizer, self._room = None, False, None, None, 0


def _copy_bytes(src, out, count: int) -> None:
    while count > 0:
        block = src.read(min(count, 1 << 24))
        if not block:
            break
        out.write(block)
        count -= len(block)


def _remove(fh, path: Path) -> None:
    fh.close()
    Path(path).unlink(missing_ok=True)

