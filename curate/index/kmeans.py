"""Centroids for an IVF index with many lists: two-level (hierarchical) k-means.

Plain k-means compares every training point with every centroid on each pass: with the training
sample growing with the list count (``TRAIN_PER_LIST`` points a list) its cost grows with the
square of the list count, which made the compressed index's retraining the part of semantic_dedup
that grew fastest with N (about a minute for the retrain at ~8M rows on 2 cores). Two levels cut a
pass to points × 2·sqrt(lists): ``sqrt(k)`` coarse clusters first, then each coarse cluster's own
points split into a share of the ``k`` lists proportional to its size (the recipe faiss' authors use
for IVF indexes with a million lists).

Input: an (n, d) float32 sample, unit-length rows (inner-product indexes); output: (k, d) float32
unit-length centroids, ready for ``quantizer.add``.
"""

from __future__ import annotations

import math

import numpy as np

from curate.index.base import faiss_module as _faiss


def _kmeans(x: np.ndarray, k: int, niter: int, seed: int) -> np.ndarray:
    faiss = _faiss()
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True,
                      min_points_per_centroid=1, max_points_per_centroid=1 << 30)
    # the caller sized the sample (no resampling, no warning when a coarse cluster's share is tight)
    km.train(np.ascontiguousarray(x, dtype=np.float32))
    return km.centroids


def shares(sizes: np.ndarray, k: int) -> np.ndarray:
    """Split `k` centroids over clusters of `sizes` points, in proportion (largest remainders), each
    cluster at least one and at most one per point."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if k < len(sizes) or k > sizes.sum():
        raise ValueError(f"cannot split {k} centroids over {len(sizes)} clusters of {int(sizes.sum())} points")
    exact = k * sizes / sizes.sum()
    out = np.clip(np.floor(exact).astype(np.int64), 1, sizes)
    # hand out (or take back) the difference one at a time, by the remainders
    order = np.argsort(-(exact - out), kind="stable")
    at = 0
    while out.sum() < k:
        j = order[at % len(order)]
        if out[j] < sizes[j]:
            out[j] += 1
        at += 1
    order = np.argsort(exact - out, kind="stable")
    at = 0
    while out.sum() > k:
        j = order[at % len(order)]
        if out[j] > 1:
            out[j] -= 1
        at += 1
    return out


def two_level(x: np.ndarray, k: int, niter: int = 10, seed: int = 0) -> np.ndarray:
    """k centroids of the rows of `x`: sqrt(k) coarse clusters, then each split in proportion to its size."""
    n = len(x)
    if k > n:
        raise ValueError(f"{k} centroids need at least {k} training points, got {n}")
    top = max(1, round(math.sqrt(k)))
    if top < 2:
        return _kmeans(x, k, niter, seed)
    coarse = _kmeans(x, top, niter, seed)
    index = _faiss().IndexFlatIP(x.shape[1])
    index.add(coarse)
    assign = index.search(np.ascontiguousarray(x, dtype=np.float32), 1)[1].ravel()
    sizes = np.bincount(assign, minlength=top)
    full = np.flatnonzero(sizes)  # a coarse centroid no point chose gets no lists
    parts = []
    for c, kc in zip(full, shares(sizes[full], k), strict=True):
        members = x[assign == c]
        parts.append(members if kc == len(members) else _kmeans(members, int(kc), niter, seed + 1 + int(c)))
    out = np.concatenate(parts).astype(np.float32)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
