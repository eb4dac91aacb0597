"""Two-level k-means for the compressed index's lists: the split of centroids, their quality, its use."""

from __future__ import annotations

import numpy as np
import pytest

from curate.index import faiss_compressed, kmeans
from curate.index.faiss_index import FaissIndex

faiss = pytest.importorskip("faiss")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(seed: int, n: int, dim: int = 64, centres: int = 400, noise: float = 0.08,
              uneven: bool = True) -> np.ndarray:
    fixed = np.random.default_rng(100)  # the same clusters for every seed: held-out points are comparable
    base = unit(fixed.standard_normal((centres, dim)))
    # uneven cluster sizes, as texts repeat unevenly
    weights = fixed.pareto(1.5, centres) + 1 if uneven else np.ones(centres)
    rng = np.random.default_rng(seed)
    pick = rng.choice(centres, n, p=weights / weights.sum())
    return unit(base[pick] + noise * rng.standard_normal((n, dim)))


@pytest.mark.parametrize(("sizes", "k"), [([10, 10, 10], 7), ([1, 1, 98], 50), ([5, 3, 2], 10), ([3, 1], 2)])
def test_shares_split_centroids_in_proportion_within_bounds(sizes, k):
    out = kmeans.shares(np.array(sizes), k)
    assert out.sum() == k and (out >= 1).all() and (out <= np.array(sizes)).all()
    assert np.abs(out - k * np.array(sizes) / sum(sizes)).max() < 1 + 1e-9


def test_shares_refuse_an_impossible_split():
    with pytest.raises(ValueError, match="cannot split"):
        kmeans.shares(np.array([2, 2]), 5)
    with pytest.raises(ValueError, match="cannot split"):
        kmeans.shares(np.array([2, 2, 2]), 2)


def test_two_level_centroids_fit_the_points_as_well_as_plain_kmeans():
    x = clustered(0, 16_000)
    two = kmeans.two_level(x, 400, niter=10, seed=0)
    assert two.shape == (400, 64) and np.allclose(np.linalg.norm(two, axis=1), 1, atol=1e-5)
    km = faiss.Kmeans(64, 400, niter=10, seed=0, spherical=True)
    km.train(x)
    test = clustered(1, 4000)  # held-out points from the same clusters

    def fit(c: np.ndarray) -> float:  # mean similarity of a point to its nearest centroid
        return float((test @ c.T).max(axis=1).mean())

    assert fit(two) >= fit(km.centroids) - 0.03  # 0.780 vs 0.805 here; 0.675 vs 0.685 on scale vectors
    assert fit(two) > fit(unit(x[:400])) + 0.05  # and far better than no training at all


def test_the_compressed_index_takes_two_level_centroids_and_answers_as_the_exact_index(monkeypatch, tmp_path):
    calls = []
    real = faiss_compressed.two_level
    monkeypatch.setattr(faiss_compressed, "two_level", lambda *a: calls.append(a[1]) or real(*a))
    monkeypatch.setattr(faiss_compressed.CompressedIVF, "TWO_LEVEL_FROM", 16)
    monkeypatch.setattr(faiss_compressed.CompressedIVF, "LIST_SIZE", 256)
    x = clustered(2, 24_000, noise=0.05, uneven=False)  # dozens of rows each: the 64 candidates hold the best
    comp = FaissIndex(64, kind="compressed", ivf_threshold=4000, device="cpu")
    comp.spill_to(tmp_path)
    exact = FaissIndex(64, kind="flat")
    for i in range(0, len(x), 1000):
        comp.add(x[i:i + 1000])
        exact.add(x[i:i + 1000])
    assert calls == [16, 31, 62]  # trained at 4k rows, then at 8k and 16k: N // LIST_SIZE, at least 16
    q = unit(x[:2000] + 0.01 * np.random.default_rng(3).standard_normal((2000, 64)))
    (cs, ci), (es, ei) = comp.search(q, 1), exact.search(q, 1)
    assert ((cs[:, 0] >= 0.95) == (es[:, 0] >= 0.95)).mean() >= 0.99
    assert (ci[:, 0] == ei[:, 0]).mean() >= 0.98
