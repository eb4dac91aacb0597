"""Vector index benchmark: duplicate recall vs the exact index, and cost per query as N grows.

    python benchmarks/index_recall.py                         # hashing vectors, N up to 300k
    python benchmarks/index_recall.py --sizes 10000,100000,1000000 --minilm 0
    python benchmarks/index_recall.py --kinds flat,hnsw --threads 2

Vectors: the HH sample's prompts and responses (chosen and rejected) embedded with the hashing
embedder (256-d, as in benchmarks/scale.py), then synthetic near-duplicates of them to reach N: each
new vector is a real one plus Gaussian noise, a third of them close enough to be duplicates at the
default semantic_dedup threshold (cosine >= 0.95), the rest not. Optionally (``--minilm``) the same
recall check on MiniLM vectors of the real texts at a small size.

Each index kind (curate's FaissIndex with ``kind: flat | ivf | hnsw | compressed``, same flat threshold) is fed the
vectors in streaming batches, as semantic_dedup feeds it. At each size in ``--sizes`` it is asked,
for held-out queries (half of them near-duplicates of stored rows):
(a) recall: of the queries whose exact best match is >= threshold, the share for which the index
    also returns a row >= threshold (what the dedup decision needs), and of all (query, row) pairs
    >= threshold among the exact top-k, the share the index returns (pair recall);
(b) µs per query (batched search, ``--threads`` faiss threads) and µs per added vector.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from _gold import shared_data  # ../shared/data, $CURATE_SHARED_DATA, or a worktree's

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HH = shared_data() / "hh-rlhf-harmless-base-test.jsonl.gz"
THRESHOLD = 0.95  # semantic_dedup's default


def hh_texts() -> list[str]:
    """Prompts (the transcript before the last Assistant turn) and both responses of the HH sample."""
    out: list[str] = []
    with gzip.open(HH, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            for side in ("chosen", "rejected"):
                head, _, reply = row[side].rpartition("\n\nAssistant:")
                out.append(reply.strip())
            out.append(head.strip())
    return list(dict.fromkeys(t for t in out if t))


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def near(rng, base: np.ndarray, n: int, dup_share: float) -> np.ndarray:
    """n perturbed copies of random rows of base: dup_share of them at cosine ~0.96-0.99, the rest ~0.6-0.9."""
    src = base[rng.integers(0, len(base), n)]
    d = base.shape[1]
    dup = rng.random(n) < dup_share
    # noise of norm s gives cosine ~ 1/sqrt(1+s^2): s in [0.1, 0.28] is >= 0.96, [0.5, 1.3] is <= 0.9
    s = np.where(dup, rng.uniform(0.1, 0.28, n), rng.uniform(0.5, 1.3, n))
    noise = unit(rng.standard_normal((n, d))) * s[:, None]
    return unit(src + noise)


def dataset(base: np.ndarray, n_max: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = np.concatenate([base, near(rng, base, max(0, n_max - len(base)), 1 / 3)])[:n_max]
    rng.shuffle(rows)
    return rows, rng  # queries are drawn per size, from the rows stored by then


def queries(rng, stored: np.ndarray, n: int) -> np.ndarray:
    return near(rng, stored, n, 0.5)


def recall(exact: tuple, approx: tuple, thr: float) -> tuple[float, float, int]:
    (es, ei), (as_, ai) = exact, approx
    has_dup = es[:, 0] >= thr
    found = as_[:, 0] >= thr
    decision = float(found[has_dup].mean()) if has_dup.any() else float("nan")
    pairs = {(q, int(i)) for q, (srow, irow) in enumerate(zip(es, ei)) for s, i in zip(srow, irow) if s >= thr}
    got = {(q, int(i)) for q, (srow, irow) in enumerate(zip(as_, ai)) for s, i in zip(srow, irow) if s >= thr}
    return decision, (len(pairs & got) / len(pairs) if pairs else float("nan")), int(has_dup.sum())


def timed_search(index, q: np.ndarray, k: int) -> tuple[tuple, float]:
    index.search(q[:10], k)  # warm
    start = time.perf_counter()
    out = index.search(q, k)
    return out, (time.perf_counter() - start) / len(q) * 1e6


def run(vectors: np.ndarray, rng, sizes: list[int], kinds: list[str], flat_threshold: int, k: int,
        n_queries: int, batch: int, **hnsw: int) -> list[dict]:
    from curate.index.faiss_index import FaissIndex

    dim = vectors.shape[1]
    indexes = {kind: FaissIndex(dim, kind=kind, ivf_threshold=flat_threshold, device="cpu", **hnsw) for kind in kinds}
    exact = indexes.get("flat") or FaissIndex(dim, kind="flat", device="cpu")
    add_s = {kind: 0.0 for kind in kinds}
    rows, at = [], 0
    for size in sizes:
        while at < size:
            part = vectors[at:min(size, at + batch)]
            for kind, idx in indexes.items():
                start = time.perf_counter()
                idx.add(part)
                add_s[kind] += time.perf_counter() - start
            if exact is not indexes.get("flat"):
                exact.add(part)
            at += len(part)
        q = queries(rng, vectors[:size], n_queries)
        truth, _ = timed_search(exact, q, k)
        for kind, idx in indexes.items():
            got, us = timed_search(idx, q, k)
            dec, pair, n_dup = recall(truth, got, THRESHOLD)
            rows.append(dict(N=size, kind=idx.kind, asked=kind, us_per_query=round(us, 1),
                             us_per_add=round(add_s[kind] / size * 1e6, 1), dup_recall=round(dec, 4),
                             pair_recall=round(pair, 4), dup_queries=n_dup))
            print(table_row(rows[-1]), flush=True)
    return rows


HEADER = f"{'N':>9} {'kind':>6} {'us/query':>9} {'us/add':>8} {'dup recall':>10} {'pair recall':>11} {'dup q':>6}"


def table_row(r: dict) -> str:
    return (f"{r['N']:>9} {r['kind']:>6} {r['us_per_query']:>9} {r['us_per_add']:>8} {r['dup_recall']:>10} "
            f"{r['pair_recall']:>11} {r['dup_queries']:>6}")


def minilm_check(texts: list[str], n: int, flat_threshold: int, k: int, **hnsw: int) -> None:
    """Recall on MiniLM vectors of real texts (small: MiniLM on CPU is ~100 texts/s on a busy machine)."""
    from curate.embed.sentence_transformers import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    real = emb.embed(texts[:n])
    rng = np.random.default_rng(1)
    vectors = unit(np.concatenate([real, near(rng, real, 3 * n, 1 / 3)]))
    rng.shuffle(vectors)
    print(f"\nMiniLM ({emb.dim}-d): {n} real texts + {3 * n} synthetic near-duplicates")
    print(HEADER)
    run(vectors, rng, [len(vectors)], ["flat", "ivf", "hnsw"], flat_threshold, k, 1000, 2000, **hnsw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,30000,100000,300000")
    ap.add_argument("--kinds", default="flat,ivf,hnsw")
    ap.add_argument("--flat-threshold", type=int, default=5000, help="ivf_threshold of every index")
    ap.add_argument("--dim", type=int, default=256, help="hashing embedder dimension")
    ap.add_argument("--k", type=int, default=10, help="neighbours per query (pair recall)")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=5000, help="vectors added per streaming batch")
    ap.add_argument("--threads", type=int, default=1, help="faiss OpenMP threads")
    ap.add_argument("--minilm", type=int, default=1000, help="real texts embedded with MiniLM (0: skip)")
    ap.add_argument("--hnsw-m", type=int, default=None, help="hnsw_m (default: FaissOptions')")
    ap.add_argument("--ef-search", type=int, default=None)
    ap.add_argument("--ef-construction", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the rows here")
    a = ap.parse_args()
    import faiss

    from curate.embed.hashing import HashingEmbedder

    faiss.omp_set_num_threads(a.threads)
    sizes = sorted(int(s) for s in a.sizes.split(","))
    texts = hh_texts()
    base = HashingEmbedder(dim=a.dim).embed(texts)
    vectors, rng = dataset(base, sizes[-1], a.queries)
    hnsw = {k: v for k, v in (("hnsw_m", a.hnsw_m), ("ef_search", a.ef_search),
                              ("ef_construction", a.ef_construction)) if v is not None}
    print(f"hashing ({a.dim}-d): {len(base)} real HH texts + {len(vectors) - len(base)} synthetic near-duplicates; "
          f"threshold {THRESHOLD}, k={a.k}, {a.threads} thread(s), flat below {a.flat_threshold}, "
          f"hnsw {hnsw or 'defaults'}")
    print(HEADER)
    rows = run(vectors, rng, sizes, a.kinds.split(","), a.flat_threshold, a.k, a.queries, a.batch, **hnsw)
    if a.minilm:
        minilm_check(texts, a.minilm, min(a.flat_threshold, 2000), a.k, **hnsw)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
