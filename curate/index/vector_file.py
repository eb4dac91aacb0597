"""An append-only file of float16 vectors: what a compressed index re-ranks against, kept off the heap.

A compressed index (curate/index/faiss_compressed.py) holds ~170 bytes per vector in memory; the exact
vectors it needs to re-rank candidates and to retrain as it grows live here, 2 bytes per dimension on
disk (10M 256-d vectors: 5 GB of disk, none of it on the heap; the page cache serves the reads).

Rows are read by position: ``rows(ids)`` reads each distinct row with one ``pread`` into an array,
so no page of the file is ever mapped into the process (mapped pages count toward its RSS, and the
kernel maps up to 16 pages around each one faulted in, ``MADV_RANDOM`` or not). Measured on the
2-core machine, 1,024 random rows of a 900k-row file in the page cache: a map per call 7.4 µs a row
(a fault each, the map's set-up and tear-down), ``pread`` 2.9 µs, one map kept across calls 2.1 µs
but +441 MB of RSS for 160 MB of distinct pages touched. ``chunks()`` streams every row in blocks
for a retrain (``curate.half``).

State: ``save(directory)`` hard-links the file there (a copy when the link is refused, e.g. across
file systems) and records the row count; rows appended later do not change what a saved state
means, because ``load`` reads only that many. A loaded file is read in place, and copied to a new
file in ``directory`` (set by ``spill_to``) only when the resumed run appends to it, so a state is
never written to; saved again before that, it reads from the new state's link (the runner removes
the old state once the new one is committed).
"""

from __future__ import annotations

import json
import os
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curate.half import read_rows, widen

FILE = "vectors.f16"


class VectorFile:
    DTYPE = np.float16

    def __init__(self, dim: int, directory: Path | None = None):
        self.dim = int(dim)
        self.directory = Path(directory) if directory else None
        self.n = 0
        self._path: Path | None = None     # the file rows are read from
        self._owned = False                # True: this object created _path (and may append, and deletes it)
        self._fh = None
        self._finalizer = None
        self._rfd: tuple | None = None      # (file, descriptor, its finalizer): what rows() reads

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
        self._fh.write(np.ascontiguousarray(vecs, dtype=self.DTYPE).tobytes())
        self.n += len(vecs)

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
        self._fh = open(path, "ab", buffering=1 << 20)  # noqa: SIM115 (lives as long as this object)
        self._path, self._owned = path, True
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
        uniq, where = np.unique(ids.ravel(), return_inverse=True)  # in file order, each row read once
        half = np.empty((len(uniq), self.dim), self.DTYPE)
        view, size = memoryview(half).cast("B"), self.row_bytes
        fd = self._reader()
        for j, row in enumerate(uniq.tolist()):
            if os.preadv(fd, [view[j * size:(j + 1) * size]], row * size) != size:
                raise OSError(f"{self._path}: holds fewer rows than recorded (row {row} of {self.n})")
        out = np.empty((len(uniq), self.dim), np.float32)
        widen(half, out)
        if len(uniq) == ids.size and (ids.size < 2 or bool(np.all(np.diff(ids.ravel()) > 0))):
            return out.reshape(*ids.shape, self.dim)  # ids in file order, each once: no gathered copy
        return out[where].reshape(*ids.shape, self.dim)

    def _reader(self) -> int:
        """A read-only descriptor of the current file, opened once per file."""
        if self._rfd is None or self._rfd[0] != self._path:
            self._close_reader()
            fd = os.open(self._path, os.O_RDONLY)
            self._rfd = (self._path, fd, weakref.finalize(self, os.close, fd))
        return self._rfd[1]

    def _close_reader(self) -> None:
        if self._rfd is not None:
            self._rfd[2]()  # closes the descriptor (once, even if the object is collected later)
            self._rfd = None

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
        self._close_reader()
        if self._finalizer is not None:
            self._finalizer()
        self._path, self._owned, self._fh, self._finalizer = None, False, None, None


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

