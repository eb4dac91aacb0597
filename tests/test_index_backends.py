"""Vector index backends: the same round trip for every backend, checked against brute force."""

import numpy as np
import pytest

from curate.errors import BackendError
from curate.index.base import build_index
from curate.index.faiss_index import FaissIndex


def unit(rng, n, d=32):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("backend,opts", [("numpy", {}), ("faiss", {}), ("faiss", {"ivf_threshold": 500, "nprobe": 64}),
                                          ("faiss", {"kind": "hnsw", "ivf_threshold": 500})])
def test_round_trip_matches_brute_force(tmp_path, backend, opts):
    rng = np.random.default_rng(0)
    x = unit(rng, 1200)
    index = build_index(backend, 32, **opts)
    assert index.search(x[:3], 2)[1].tolist() == [[-1, -1]] * 3  # empty index: no neighbours
    for part in np.array_split(x, 5):  # streamed in, ids are insertion positions
        index.add(part)
    assert index.ntotal == 1200
    sims, ids = index.search(x[:100], 3)
    truth = np.argsort(-(x[:100] @ x.T), axis=1)[:, :3]
    assert (ids[:, 0] == np.arange(100)).all() and np.allclose(sims[:, 0], 1.0, atol=1e-5)
    assert (ids == truth).mean() > 0.95  # IVF with every list probed is exact up to float ties
    index.save(tmp_path)
    again = build_index(backend, 32, **opts)
    again.load(tmp_path)
    assert again.ntotal == 1200 and (again.search(x[:100], 3)[1] == ids).all()


def test_faiss_switches_to_ivf_at_threshold_and_keeps_ids():
    rng = np.random.default_rng(1)
    x = unit(rng, 900)
    index = FaissIndex(32, ivf_threshold=600, nprobe=8)
    index.add(x[:500])
    assert index.kind == "flat"
    index.add(x[500:700])  # crosses the threshold: trained on the 700 seen so far
    index.add(x[700:])
    assert index.kind == "ivf" and index.ntotal == 900 and index.nlist >= 1
    _, ids = index.search(x, 1)
    assert (ids[:, 0] == np.arange(900)).mean() > 0.95  # a vector finds itself in its own list


def test_dimension_mismatch_is_a_clear_error():
    with pytest.raises(BackendError, match="same embedding model"):
        build_index("faiss", 8).add(np.zeros((2, 4), np.float32))


def test_cuda_requested_without_gpu_says_what_to_install():
    from curate.index.faiss_index import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendError, match="faiss-gpu"):
        FaissIndex(8, device="cuda")


def test_faiss_ivf_regrows_its_lists_as_it_grows():
    rng = np.random.default_rng(0)
    idx = FaissIndex(dim=16, ivf_threshold=400, nprobe=64)
    data = rng.normal(size=(4000, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    nlists = []
    for i in range(0, len(data), 200):
        idx.add(data[i:i + 200])
        nlists.append(idx.nlist)
    assert idx.ntotal == 4000 and idx.kind == "ivf"
    # trained at 400 vectors, then again at >= 1,600: more lists for the bigger index
    assert nlists[1] is not None and nlists[-1] > nlists[1]
    sims, ids = idx.search(data[:50], 1)
    assert (ids[:, 0] == np.arange(50)).all() and np.allclose(sims[:, 0], 1.0, atol=1e-5)


def test_hnsw_finds_the_same_neighbours_as_flat():
    """flat -> HNSW at 300 vectors; the ids survive the move."""
    rng = np.random.default_rng(2)
    x = unit(rng, 1500)
    hnsw, flat = FaissIndex(32, ivf_threshold=300, device="cpu", kind="hnsw"), FaissIndex(32, kind="flat")
    for part in np.array_split(x, 6):
        hnsw.add(part)
        flat.add(part)
    assert hnsw.kind == "hnsw" and flat.kind == "flat" and hnsw.ntotal == 1500
    q = x[:200] + 0.05 * unit(rng, 200)  # near-duplicates of stored rows, as a dedup asks
    (hs, hi), (fs, fi) = hnsw.search(q, 5), flat.search(q, 5)
    assert (hi[:, 0] == fi[:, 0]).all() and np.allclose(hs[:, 0], fs[:, 0], atol=1e-5)
    assert (hi == fi).mean() > 0.98


def test_hnsw_state_at_a_checkpoint_round_trips(tmp_path):
    """Saved mid-stream, loaded, then fed the rest: the same answers as the index that never stopped."""
    rng = np.random.default_rng(3)
    x = unit(rng, 1000)
    a = FaissIndex(32, kind="hnsw", ivf_threshold=200, ef_search=80)
    a.add(x[:600])
    a.save(tmp_path)
    b = FaissIndex(32, kind="hnsw", ivf_threshold=200, ef_search=80)
    b.load(tmp_path)
    assert b.kind == "hnsw" and b.ntotal == 600 and b._index.hnsw.efSearch == 80
    a.add(x[600:])
    b.add(x[600:])
    # faiss inserts a batch into the graph on several threads, so the two graphs may differ slightly
    assert (a.search(x, 3)[1] == b.search(x, 3)[1]).mean() > 0.99
    assert (b.search(x, 1)[1][:, 0] == np.arange(1000)).all()


def test_flat_kind_never_switches():
    idx = FaissIndex(8, kind="flat", ivf_threshold=10)
    idx.add(unit(np.random.default_rng(4), 100, 8))
    assert idx.kind == "flat" and idx.describe()["target"] == "flat"


def test_auto_on_cpu_is_flat_then_compressed():
    idx = FaissIndex(16, kind="auto", ivf_threshold=2000, device="cpu")
    x = unit(np.random.default_rng(5), 1000, 16)
    idx.add(x)
    assert idx.kind == "flat" and idx.describe()["target"] == "compressed"
    idx.add(unit(np.random.default_rng(6), 1500, 16))
    assert idx.kind == "compressed" and idx.ntotal == 2500
    assert (idx.search(x[:50], 1)[1][:, 0] == np.arange(50)).all()


def test_semantic_dedup_index_block_takes_every_backend_option_and_checks_it():
    from pydantic import ValidationError

    from curate.dedup.semantic import SemanticDedup

    step = SemanticDedup({"embedder": {"backend": "hashing", "cache": False, "options": {"dim": 32}},
                          "index": {"kind": "hnsw", "ivf_threshold": 10, "hnsw_m": 8, "ef_search": 128}})
    step._ensure_indexes()
    index = step.indexes[0]
    index.add(unit(np.random.default_rng(0), 20))
    assert index.kind == "hnsw" and index._index.hnsw.efSearch == 128 and index.hnsw_m == 8
    nested = SemanticDedup({"index": {"backend": "faiss", "options": {"nprobe": 4}}}).options.index
    assert nested.resolved() == {"kind": "auto", "nprobe": 4}  # faiss defaults to auto here
    with pytest.raises(ValidationError, match=r"ef_serch.*did you mean .ef_search"):  # a typo names the key it meant
        SemanticDedup({"index": {"ef_serch": 128}})
    # numpy has no faiss options: said, not ignored
    with pytest.raises(ValidationError, match="numpy.*unknown option .kind"):
        SemanticDedup({"index": {"backend": "numpy", "kind": "hnsw"}})


def test_numpy_blas_runs_on_one_thread_beside_faiss_and_faiss_keeps_its_own():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from curate.index.base import blas_beside_faiss

    _ = np.ones((64, 64)) @ np.ones((64, 64))  # numpy's BLAS loaded
    faiss = pytest.importorskip("faiss")
    faiss.IndexFlatIP(4)

    def threads(layer):
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas" and i.get("threading_layer") == layer]

    before = threads("pthreads")
    if not before:
        pytest.skip("numpy's BLAS here is not threaded by pthreads (nothing to limit)")
    others = threads("openmp")
    with blas_beside_faiss():
        assert threads("pthreads") == [1] * len(before)
        assert threads("openmp") == others  # faiss' OpenMP-built OpenBLAS shares faiss' pool: untouched
    assert threads("pthreads") == before
