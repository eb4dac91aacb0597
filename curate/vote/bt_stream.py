"""Out-of-fold Bradley–Terry fits whose memory does not grow with N: vectors on disk, streamed.

The in-memory path (``bt.cross_fit``) holds every pair's feature vector as float32/64 and hands
the matrix to scikit-learn: 8.9 GB at 1M pairs. Here the full pass keeps, per pair, only what the
folds and the lookup need (a group key, an id hash, the margin: ~30 bytes), and the features
live in float16 files under the run directory (``VectorStore``), read back in row chunks:

* ``VectorStore``: one ``<name>.f16`` file per feature map, appended a batch at a time, read
  back by rows: into new arrays for the cache, or mapped a chunk at a time and converted into one
  reused buffer for the chunks beyond it (the page cache holds the file, not our RSS).
* ``stream_cross_fit``: the same objective and folds as ``bt.fit_bt`` / ``bt.cross_fit``
  (L2-regularised logistic regression on ±d without intercept, C·2 for the half-flipped data),
  minimised by the same L-BFGS-B with scikit-learn's stopping rule, but the loss and gradient are
  summed over chunks. Chunks converted to float32 are kept up to a fixed ``CACHE_BYTES`` (1 GiB)
  for the next passes and folds; beyond it they are read each pass, so memory is capped, and time
  stays linear in N (a pass costs the same per row either way). Equal to the in-memory path up to
  float16 rounding of the features and the solver's tolerance (``tests/test_vote_bt_stream.py``
  states both).
* ``stream_group_ids``: ``groups.group_ids`` from per-row 64-bit keys instead of a frame, with
  the same partition and the same numbering (groups ordered by first row), so ``group_folds``
  deals the same folds.
* ``IdIndex``: id → row by a sorted array of 64-bit id hashes (8 bytes a pair instead of a dict
  entry); a repeated id resolves to its last row, as a dict built from the rows would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl

from curate.half import RowBuffer, read_rows
from curate.id_hash import find_sorted
from curate.vote.bt import fold_ids
from curate.vote.groups import link_groups

CHUNK_ROWS = 65_536  # rows per read: 32 MB of float32 features at 128 dimensions
CACHE_BYTES = 1 << 30  # float32 chunks kept across passes and folds: a fixed cap, whatever N is


class VectorStore:
    """Float16 row matrices on disk, one file per name, all with the same rows in order."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.dims: dict[str, int] = {}
        self.rows: dict[str, int] = {}

    def append(self, name: str, m: np.ndarray) -> None:
        if self.dims.setdefault(name, m.shape[1]) != m.shape[1]:
            raise ValueError(f"{name}: {m.shape[1]} columns, the store holds {self.dims[name]}")
        with open(self.dir / f"{name}.f16", "ab") as fh:
            np.ascontiguousarray(m, dtype=np.float16).tofile(fh)
        self.rows[name] = self.rows.get(name, 0) + m.shape[0]

    def read(self, name: str, start: int, stop: int, buffer: RowBuffer | None = None) -> np.ndarray:
        """Rows [start, stop) as float32: a new array, or `buffer`'s (valid until its next use)."""
        return read_rows(self.dir / f"{name}.f16", start, stop, self.dims[name], buffer)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _chunks(n: int, size: int = CHUNK_ROWS):
    for a in range(0, n, size):
        yield a, min(n, a + size)


class _Chunks:
    """Row chunks of one stored matrix as float32, the first ones kept in memory up to
    ``cache_bytes`` (every L-BFGS step of every fold reads all rows: converting float16 once
    per cached chunk instead of once per pass is most of the speed), the rest read each time."""

    def __init__(self, store: VectorStore, name: str, chunk: int, cache_bytes: int):
        self.store, self.name, self.chunk = store, name, chunk
        self.n = store.rows[name]
        self.cache: dict[int, np.ndarray] = {}
        self.room = cache_bytes
        self._buffer = RowBuffer()

    def __iter__(self):
        """(start, stop, rows as float32); a chunk that is not cached is a view of a reused
        buffer, so the rows are only valid until the next chunk is asked for."""
        d = self.store.dims[self.name]
        for a, b in _chunks(self.n, self.chunk):
            x = self.cache.get(a)
            if x is None:
                if (b - a) * d * 4 <= self.room:
                    x = self.cache[a] = self.store.read(self.name, a, b)
                    self.room -= x.nbytes
                else:
                    x = self.store.read(self.name, a, b, self._buffer)
            yield a, b, x


def _fit_stream(chunks: _Chunks, y: np.ndarray, folds: np.ndarray, held_out: int, c: float) -> np.ndarray:
    """``bt.fit_bt`` on the rows outside fold `held_out`: the objective scikit-learn's lbfgs
    minimises (mean log-loss plus ||w||² / (2·C·n) with C = 2c) with the same L-BFGS-B settings.
    fit_bt's random half-flip (−d with the other label) leaves every loss term as it is, so here
    the label sign is applied directly and nothing per pair is kept but the fold ids. Returns w."""
    from scipy.optimize import minimize
    from scipy.special import expit

    n_train = int((folds != held_out).sum())
    C = 2 * c

    def loss_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        w32 = w.astype(np.float32)
        loss, grad = 0.0, np.zeros_like(w)
        for a, b, x in chunks:
            train = folds[a:b] != held_out
            qq = (train * (2 * y[a:b] - 1)).astype(np.float32)  # ±1: the label side; 0: held out
            m = qq * (x @ w32)
            # held-out rows weigh nothing: masking beats copying the training rows out
            loss += float(np.logaddexp(0, -m)[train].sum())
            grad += x.T @ (-qq * expit(-m)).astype(np.float32)
        return loss / n_train + w @ w / (2 * C * n_train), grad / n_train + w / (C * n_train)

    res = minimize(loss_grad, np.zeros(chunks.store.dims[chunks.name]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000, "maxls": 50, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps})
    return res.x


def stream_cross_fit(store: VectorStore, name: str, y: np.ndarray, k: int = 5, c: float = 1.0, seed: int = 0,
                     groups: np.ndarray | None = None, chunk: int = CHUNK_ROWS,
                     cache_bytes: int = CACHE_BYTES) -> np.ndarray:
    """Out-of-fold margins for every row of ``store[name]``, as ``bt.cross_fit`` gives them."""
    n = store.rows[name]
    if n < 2 * k:
        raise ValueError(f"cross-fitting with {k} folds needs at least {2 * k} pairs, got {n}")
    folds = fold_ids(n, k, seed, groups).astype(np.int16)  # 2 bytes a pair for the whole fit
    chunks = _Chunks(store, name, chunk, cache_bytes)
    out = np.zeros(n, dtype=np.float64)
    for f in range(k):
        w = _fit_stream(chunks, y, folds, f, c).astype(np.float32)
        for a, b, x in chunks:
            test = folds[a:b] == f
            if test.any():
                out[a:b][test] = x[test] @ w
    return out


def stream_group_ids(prompt_keys: np.ndarray, cluster_keys: np.ndarray | None = None) -> np.ndarray:
    """``groups.group_ids`` from keys: `prompt_keys` (uint64, one per row: the normalised prompt
    hash) and optional `cluster_keys` (a masked uint64 array, masked = no cluster)."""
    return link_groups(prompt_keys, *([] if cluster_keys is None else [cluster_keys]))


class IdIndex:
    """Row of each id, from 64-bit id hashes; the last row wins for a repeated id."""

    def __init__(self, hashes: np.ndarray):
        order = np.argsort(hashes, kind="stable")
        h = hashes[order]
        last = np.r_[h[1:] != h[:-1], True] if len(h) else np.zeros(0, dtype=bool)
        self.hashes, self.rows = h[last], order[last]

    def lookup(self, ids: pl.Series) -> np.ndarray:
        """Row per id, -1 where the id was not fitted."""
        pos, found = find_sorted(self.hashes, ids)
        return np.where(found, self.rows[pos] if len(self.rows) else -1, -1)
