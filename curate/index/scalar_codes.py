"""4-bit scalar codes of every indexed vector, and query similarities computed on the codes.

The compressed index's middle re-rank (curate/index/faiss_compressed.py) scores each query's
candidates by these codes. faiss' 4-bit scalar quantizer (``QT_4bit``) stores dimension ``i`` as a
nibble ``c_i`` (even dimensions in the low half of a byte, odd ones in the high half) and decodes
it as ``vmin_i + (c_i + 0.5) * vdiff_i / 15``. So a query's inner product with a decoded row is

    q · x̂ = q · (vmin + 0.5 * scale) + Σ_i (q_i * scale_i) * c_i,     scale = vdiff / 15

an offset per query plus a dot product of per-query weights with the raw nibbles. ``similarities``
computes that with two batched matmuls over the gathered codes, where decoding every candidate to
float32 first (faiss ``decode``, then a gather and an einsum) cost ~45 µs a query against ~15 µs
(2,048 queries × 64 candidates, 890k rows; benchmarks/README.md, "Scale, 2026-12-07").

The codes are of the vectors turned by a fixed random rotation (``ROTATION_SEED``; queries are
turned the same way, and a rotation keeps inner products), and each dimension's range is its mean
± ``RANGE_SDS`` sds, not its min to max. Why: hashed and learned embeddings put a few large values
in a few dimensions (per-dimension kurtosis ~13 on the scale data), so a min-to-max range spent
most of its 16 steps on tails that few rows reach. Rotated, every dimension is near normal
(kurtosis 3.0), and a range of ± 3 sds clips 0.3% of values. The error of a similarity fell from
sd 0.021 to 0.007 on the scale data's response vectors (bias -0.001 on pairs above 0.9;
benchmarks/README.md, "semantic_dedup's index, 2026-12-07d"), at the same 4 bits a dimension.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curate.index.base import faiss_module as _faiss


class CodeBlocks:
    """Fixed-width codes by row, in blocks of BLOCK rows: appending never copies what is held
    (a doubling array would briefly need 1.5x its size at 10M rows)."""

    BLOCK = 1 << 16

    def __init__(self, width: int):
        self.width, self.n = width, 0
        self._blocks: list[np.ndarray] = []

    def append(self, codes: np.ndarray) -> None:
        at = 0
        while at < len(codes):
            if not self._blocks or self.n % self.BLOCK == 0:
                self._blocks.append(np.empty((self.BLOCK, self.width), np.uint8))
            fill = self.n % self.BLOCK
            take = min(self.BLOCK - fill, len(codes) - at)
            self._blocks[-1][fill:fill + take] = codes[at:at + take]
            self.n, at = self.n + take, at + take

    def take(self, ids: np.ndarray) -> np.ndarray:
        """The codes of rows `ids` (any order, repeats allowed), gathered block by block."""
        ids = np.asarray(ids, dtype=np.int64)
        block = ids // self.BLOCK
        # block numbers are small integers: a stable sort of them is a radix sort, not a comparison sort
        order = np.argsort(block.astype(np.int32 if len(self._blocks) >= 1 << 15 else np.int16), kind="stable")
        cuts = np.searchsorted(block[order], np.arange(len(self._blocks) + 1))
        out = np.empty((len(ids), self.width), np.uint8)
        for b in np.flatnonzero(np.diff(cuts)).tolist():
            rows = order[cuts[b]:cuts[b + 1]]
            out[rows] = self._blocks[b][ids[rows] - b * self.BLOCK]
        return out


class ScalarCodes:
    """The trained 4-bit quantizer (faiss ``ScalarQuantizer``) and the codes of every row added,
    both in the rotated space (``rotation``; None: the vectors as they are, as quantizers saved
    before the rotation were trained)."""

    ROTATION_SEED = 0
    CELLS = 1 << 15  # (query, row) codes scored at a time by similarities
    RANGE_SDS = 3.0  # each rotated dimension's range: mean +- this many sds (3.5: sd 0.008, 2.5: a bias of -0.008)

    def __init__(self, dim: int, sq: Any, rotation: np.ndarray | None = None):
        self.dim, self.sq, self.rotation = dim, sq, rotation
        trained = np.asarray(_faiss().vector_to_array(sq.trained), dtype=np.float32)
        vmin, self._scale = trained[:dim], trained[dim:] / 15
        self._offset = vmin + 0.5 * self._scale
        self.codes = CodeBlocks(sq.code_size)

    @staticmethod
    def random_rotation(dim: int) -> np.ndarray:
        """A fixed (seeded) random orthogonal matrix: the Q of a Gaussian matrix's QR."""
        gauss = np.random.default_rng(ScalarCodes.ROTATION_SEED).standard_normal((dim, dim))
        return np.linalg.qr(gauss)[0].astype(np.float32)

    @classmethod
    def trained_on(cls, sample: np.ndarray) -> ScalarCodes:
        faiss = _faiss()
        rotation = cls.random_rotation(sample.shape[1])
        sq = faiss.ScalarQuantizer(sample.shape[1], faiss.ScalarQuantizer.QT_4bit)
        sq.rangestat, sq.rangestat_arg = faiss.ScalarQuantizer.RS_meanstd, cls.RANGE_SDS
        sq.train(np.asarray(sample, dtype=np.float32) @ rotation)
        return cls(sample.shape[1], sq, rotation)

    @classmethod
    def from_trained(cls, trained: np.ndarray, rotated: bool = True) -> ScalarCodes:
        """A quantizer saved with ``trained_array()``: per dimension its minimum, then its range;
        `rotated`: trained on rotated vectors (saved states from before the rotation were not)."""
        dim = len(trained) // 2
        sq = _faiss().ScalarQuantizer(dim, _faiss().ScalarQuantizer.QT_4bit)
        _faiss().copy_array_to_vector(np.asarray(trained, dtype=np.float32), sq.trained)
        return cls(dim, sq, cls.random_rotation(dim) if rotated else None)

    def trained_array(self) -> np.ndarray:
        return _faiss().vector_to_array(self.sq.trained)

    def turn(self, vecs: np.ndarray) -> np.ndarray:
        """`vecs` in the codes' space (rotated), as ``error_sd`` and ``similarities`` take queries:
        the caller turns a batch once (one matmul), not each slice it scores."""
        vecs = np.asarray(vecs, dtype=np.float32)
        return np.ascontiguousarray(vecs if self.rotation is None else vecs @ self.rotation)

    def append(self, vecs: np.ndarray) -> None:
        self.codes.append(self.sq.compute_codes(self.turn(vecs)))

    def error_sd(self, turned: np.ndarray) -> np.ndarray:
        """Per query (`turned` by ``turn``), the sd of ``similarities``' error: a value rounded to the
        middle of its cell is off by a uniform error of sd ``scale_i / sqrt(12)`` per dimension (the
        0.3% of values past the range, clipped, are off by more: measured, the spread is ~1.1x this)."""
        return np.sqrt((np.square(turned) @ np.square(self._scale)) / 12)

    def similarities(self, turned: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(n, k) inner products of each query (`turned` by ``turn``) with its k rows `ids` (-1: none,
        scored -inf), as decoded from the codes. Scored ``CELLS`` codes at a time: the float copies
        of a whole (128, 1,792) block of a deep look were ~240 MB, fresh zeroed pages from the OS at
        every call (past glibc's 32 MB mmap threshold), where blocks of ~16 MB are reused."""
        n, k = ids.shape
        step = max(1, self.CELLS // max(1, n))
        if k <= step:
            return self._similarities(turned, ids)
        return np.concatenate([self._similarities(turned, ids[:, at:at + step]) for at in range(0, k, step)], axis=1)

    def _similarities(self, turned: np.ndarray, ids: np.ndarray) -> np.ndarray:
        n, k = ids.shape
        codes = self.codes.take(np.where(ids >= 0, ids, 0).ravel()).reshape(n, k, -1)
        w = turned * self._scale  # (n, dim): one weight per nibble
        low = (codes & 15).astype(np.float32)  # even dimensions
        high = (codes >> 4)[:, :, :self.dim // 2].astype(np.float32)  # odd ones (an odd dim leaves one unused)
        sims = (np.matmul(low, w[:, 0::2, None]) + np.matmul(high, w[:, 1::2, None]))[:, :, 0]
        sims += (turned @ self._offset)[:, None]
        sims[ids < 0] = -np.inf
        return sims
