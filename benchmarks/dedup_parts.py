"""Where semantic_dedup's index time goes as it grows: µs per pair per part, per 100k-pair segment.

    python benchmarks/dedup_parts.py --pairs 1000000                   # the default compressed index
    python benchmarks/dedup_parts.py --pairs 300000 --exact            # also the exact index's removals
    python benchmarks/dedup_parts.py --pairs 1000000 --set nprobe=4    # a FaissIndex option
    python benchmarks/dedup_parts.py --pairs 1000000 --kmeans 1000 8000  # a retrain's k-means alone
    python benchmarks/dedup_parts.py --pairs 10000000 --coarse 100 900 9000  # the coarse search alone
    python benchmarks/dedup_parts.py --pairs 10000000 --adds 900 7000         # an add alone
    python benchmarks/dedup_parts.py --pairs 10000000 --rows 3000000 --segment 500000  # 3M of the 10M vectors
    python benchmarks/dedup_parts.py --pairs 1000000 --const CANDIDATES=256   # a CompressedIVF constant
    python benchmarks/dedup_parts.py --pairs 300000 --codes                   # the scalar codes' error alone
    python benchmarks/dedup_parts.py --pairs 10000000 --keep .benchdata/final-10M   # keep the final index
    python benchmarks/dedup_parts.py --pairs 10000000 --reuse .benchdata/final-10M --const LOOK_ROUNDS=8

Vectors: the scale benchmark's pairs (``benchmarks/scale.py``'s generated file) after drop_identical,
length_filter and exact_dedup, embedded once by semantic_dedup's own ``vectors()`` (the hashing
embedder, 256-d, ``fields: [response]`` as in pipelines/clean_preferences.yaml) and cached under
``.benchdata/``. They are fed through ``assign_chunk`` and ``add`` in batches of 5000 and chunks of
2048, as the step does, with its default index (``kind: auto``) and threshold 0.97.

Per segment it prints the µs per pair of the compressed index's parts: ``search`` (all of it),
``codes`` (the middle re-rank: the 4-bit scalar codes gathered and scored), ``exact`` (the last
re-rank, with ``disk``: the float16 rows read from the vector file), ``add`` (all of it) and
``regrow`` (retraining). The rest of ``search`` is faiss' own (the coarse search over the centroids and the
fast-scan of the lists) and picking each step's best. At the end:
of 3,000 removed pairs, the share for which the final index still returns a row >= 0.97
(searched with the threshold as floor, as the step does; exact best by brute force over the
index's rows); the streaming decisions of ``--sample`` pairs (from
the whole stream, and from its last ``--tail``) against exact ones: is there a leader before the
pair >= 0.97, by brute force, and did the run remove it (the recall goal of issue #15 at any size);
with ``--exact``, every removal compared with the flat index's (slow: the flat search grows with N).
``--keep DIR`` saves the run's final index and kept rows there; ``--reuse DIR`` skips the run and
checks only that final index's recall and search time, e.g. under other ``--const`` values (a
minute at 10M, where the run takes half an hour).
"""

from __future__ import annotations

import argparse
import collections
import glob
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
THRESHOLD, BATCH, CHUNK = 0.97, 5000, 2048


def vectors(pairs: int) -> np.ndarray:
    """The response vectors of the scale data's first `pairs` pairs after the exact stages (cached)."""
    cache = ROOT / ".benchdata" / f"dedup-parts-{pairs}.npy"
    if cache.exists():
        return np.load(cache, mmap_mode="r")
    import subprocess

    import polars as pl

    from curate.dedup.semantic import SemanticDedup

    out = ROOT / ".benchdata" / f"scale-out-{pairs}-local"
    subprocess.run([sys.executable, str(Path(__file__).parent / "scale.py"), "--sizes", str(pairs),
                    *[x for s in ("semantic_dedup", "embed_bt_voter", "ensemble", "bias_report", "export")
                      for x in ("--skip", s)]], check=True)
    step = SemanticDedup(options={"embedder": {"backend": "hashing", "cache": False, "options": {"dim": 256}},
                                  "fields": ["response"]})
    parts = [step.vectors(pl.read_parquet(f))[0].astype(np.float16)
             for f in sorted(glob.glob(str(out / "data" / "*.parquet")))]
    np.save(cache, np.concatenate(parts))
    return np.load(cache, mmap_mode="r")


def timed(spent: collections.Counter, cls: type, name: str, key: str) -> None:
    """Wrap cls.name so its seconds add up in spent[key]."""
    raw = cls.__dict__[name]
    static = isinstance(raw, staticmethod)
    fn = raw.__func__ if static else raw

    def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            spent[key] += time.perf_counter() - t

    setattr(cls, name, staticmethod(wrapper) if static else wrapper)


def run(vecs: np.ndarray, options: dict, segment: int, spent: collections.Counter):
    from curate.dedup.cluster import assign_chunk
    from curate.index.base import blas_beside_faiss
    from curate.index.faiss_index import FaissIndex

    index = FaissIndex(vecs.shape[1], **options)
    leaders, marks, start = [], [], time.perf_counter()
    with blas_beside_faiss():  # as semantic_dedup runs its loop
        for at in range(0, len(vecs), BATCH):
            batch = np.ascontiguousarray(vecs[at:at + BATCH], dtype=np.float32)
            for c in range(0, len(batch), CHUNK):
                v = batch[c:c + CHUNK]
                r = assign_chunk([v], [index], [THRESHOLD])
                index.add(v[r.leader])
                leaders.append(np.flatnonzero(r.leader) + at + c)
            done = min(at + BATCH, len(vecs))
            if done % segment == 0 or done == len(vecs):
                marks.append((done, time.perf_counter() - start, dict(spent), index.ntotal, index._lists()[0]))
    return index, np.concatenate(leaders), marks


def report(marks: list, parts: list[str]) -> None:
    print(f"{'pairs':>9} {'index rows':>10} {'lists':>6} {'µs/pair':>8} | " + " ".join(f"{p:>7}" for p in parts))
    prev_n, prev_t, prev = 0, 0.0, {}
    for n, t, spent, rows, lists in marks:
        scale = 1e6 / (n - prev_n)  # seconds in this segment -> µs per pair
        cols = " ".join(f"{(spent.get(p, 0) - prev.get(p, 0)) * scale:7.1f}" for p in parts)
        print(f"{n:>9,} {rows:>10,} {lists or 0:>6} {(t - prev_t) * scale:8.1f} | {cols}")
        prev_n, prev_t, prev = n, t, spent


def query_recall(index, vecs: np.ndarray, leaders: np.ndarray, cache: Path | None = None) -> None:
    """Of 3,000 removed pairs (each has a kept row >= threshold in the index), how many the index finds.
    The exact reference (each query's 512 best kept rows, by brute force) is kept in `cache` if given."""
    removed = np.setdiff1d(np.arange(len(vecs)), leaders)
    q = np.asarray(vecs[np.sort(np.random.default_rng(1).choice(removed, min(3000, len(removed)), replace=False))],
                   dtype=np.float32)
    if cache is not None and cache.exists():
        with np.load(cache) as kept:
            sims, match = kept["sims"], kept["match"]
    else:
        from curate.index.faiss_index import FaissIndex

        exact = FaissIndex(vecs.shape[1], kind="flat", device="cpu")  # the exact reference, as index_recall.py's
        for s in range(0, len(leaders), 200_000):
            exact.add(np.asarray(vecs[leaders[s:s + 200_000]], dtype=np.float32))
        sims, match = exact.search(q, 512)
        match = match[:, 0]  # an id in both indexes: both were given the leaders in order
        del exact
        if cache is not None:
            np.savez(cache, sims=sims, match=match)
    found = index.search(q, 1, floor=THRESHOLD)[0][:, 0] >= THRESHOLD
    need = sims[:, 0] >= THRESHOLD
    print(f"removed pairs whose kept match the final index returns: {int((found & need).sum())} / "
          f"{int(need.sum())} = {(found & need).sum() / max(1, need.sum()):.4f}")
    if index._compressed is not None and (need & ~found).any():
        miss = np.flatnonzero(need & ~found)
        miss_causes(index._compressed, sims[miss], q[miss], match[miss])


def reuse(directory: Path, vecs: np.ndarray, options: dict, spent: collections.Counter) -> None:
    """The final index a --keep run saved: its recall on removed pairs and its search time alone."""
    from curate.index.faiss_index import FaissIndex

    index = FaissIndex(vecs.shape[1], **options)
    index.load(directory)
    leaders = np.load(directory / "leaders.npy")
    print(f"final index of {len(leaders):,} kept rows from {directory}")
    query_recall(index, vecs, leaders, directory / "exact.npz")
    print(f"  the compressed search of those: {spent['search']:.2f} s, its scalar codes {spent['codes']:.2f} s, "
          f"its exact reads {spent['exact']:.2f} s")
    # the cost of the queries that decide a run's time: rows with no match >= the threshold, which
    # look furthest. Kept rows of the last 10% stand for them: no other kept row is >= the
    # threshold from one, by construction, so with their own row masked they are such queries
    from curate.index import faiss_compressed as fc

    tail = leaders[leaders >= int(len(vecs) * 0.9)]
    q = np.asarray(vecs[np.sort(np.random.default_rng(3).choice(tail, min(3000, len(tail)), replace=False))],
                   dtype=np.float32)
    own = fc.CompressedIVF._exact
    fc.CompressedIVF._exact = lambda self, v, ids: np.where((s := own(self, v, ids)) > 0.995, -np.inf, s)
    spent.clear()
    t = time.perf_counter()
    try:
        for c in range(0, len(q), CHUNK):
            index.search(q[c:c + CHUNK], 1, floor=THRESHOLD)
    finally:
        fc.CompressedIVF._exact = own
    per = 1e6 / len(q)
    print(f"{len(q):,} kept rows of the last 10%, their own row masked: {(time.perf_counter() - t) * per:.0f} µs "
          f"a query (scalar codes {spent['codes'] * per:.0f}, exact reads {spent['exact'] * per:.0f})")


def miss_causes(c, sims: np.ndarray, q: np.ndarray, match: np.ndarray) -> None:
    """Why the compressed index `c` missed each query's kept match (`match`: the exact best; `sims`:
    the exact 512 best similarities): the match's list was not among the `nprobe` probed, or its
    rank by PQ code among the probed lists' rows (past `wide`: never scored); the crowd: rows at or
    above the threshold, and within 0.05 below it; the match's scalar code in error sds from the
    threshold, and its rank by scalar code among the 2,048 best by PQ code (the exact reads a look
    would need to reach it, best code first)."""
    import faiss

    ivf = faiss.extract_index_ivf(c._index)
    rows = np.asarray(c.store.rows(match), dtype=np.float32)
    own = ivf.quantizer.search(rows, 1)[1][:, 0]
    probed = ivf.quantizer.search(q, c.nprobe)[1]
    listed = (probed == own[:, None]).any(1)
    _, cand = c._index.search(q, 2048)
    rank = np.where((cand == match[:, None]).any(1), (cand == match[:, None]).argmax(1), 2048)
    above, near = (sims >= THRESHOLD).sum(1), ((sims >= THRESHOLD - 0.05) & (sims < THRESHOLD)).sum(1)
    bands = [("list not probed", ~listed), (f"PQ rank < {c.CANDIDATES}", listed & (rank < c.CANDIDATES)),
             (f"PQ rank {c.CANDIDATES}-{c.wide - 1}", listed & (rank >= c.CANDIDATES) & (rank < c.wide)),
             (f"PQ rank {c.wide}-2047", listed & (rank >= c.wide) & (rank < 2048)),
             ("PQ rank >= 2048", listed & (rank >= 2048))]
    turned = c._sq.turn(q)
    # the match by scalar code: how many code-error sds from the threshold (a look reaches -SECOND_LOOK_SD)
    code = c._sq.similarities(turned, match[:, None])[:, 0]
    z = (code - THRESHOLD) / c._sq.error_sd(turned)
    ahead = (c._sq.similarities(turned, cand) > code[:, None]).sum(1)
    print(f"  the {len(q)} misses, by cause (the match's PQ rank among the probed lists' rows); the crowd "
          "(of the exact index's 512 best) and the match's scalar code in error sds from the threshold, and "
          "its rank by code among the 2,048 best by PQ code, median:")
    for name, m in bands:
        if m.any():
            print(f"    {name:>22}: {int(m.sum()):4d}   rows >= threshold {np.median(above[m]):5.0f}, "
                  f"within 0.05 below {np.median(near[m]):5.0f}; code {np.median(z[m]):+.1f} sd "
                  f"({int((z[m] < -c.SECOND_LOOK_SD).sum())} below reach), code rank {np.median(ahead[m]):.0f} "
                  f"(90th percentile {np.percentile(ahead[m], 90):.0f})")


def stream_recall(vecs: np.ndarray, leaders: np.ndarray, sample: int, tail: float) -> None:
    """The streaming decisions against exact ones, sampled: a pair is an exact duplicate when some
    leader before it in the stream (kept by this run, from an earlier chunk or its own) is >= the
    threshold by brute force. Recall = the share of those this run removed; the run removes nothing
    else (the index returns exact similarities). Sampled from the whole stream and from its last
    `tail` (where the index is biggest), so the check costs sample × leaders, not pairs × leaders."""
    n = len(vecs)
    rng = np.random.default_rng(2)
    removed = np.ones(n, bool)
    removed[leaders] = False
    for name, lo in (("whole stream", 0), (f"last {tail:.0%}", int(n * (1 - tail)))):
        at = np.sort(rng.choice(np.arange(lo, n), min(sample, n - lo), replace=False))
        q = np.asarray(vecs[at], dtype=np.float32)
        best = np.full(len(at), -np.inf, np.float32)
        for s in range(0, len(leaders), 50_000):
            part = leaders[s:s + 50_000]
            rows = np.asarray(vecs[part], dtype=np.float32)
            before = np.searchsorted(part, at)  # leaders are in stream order: a prefix of the block
            for b in range(0, len(at), 500):  # (500, 50k) similarities at a time: 100 MB
                sims = q[b:b + 500] @ rows.T
                sims[np.arange(len(part))[None, :] >= before[b:b + 500, None]] = -np.inf
                best[b:b + 500] = np.maximum(best[b:b + 500], sims.max(axis=1, initial=-np.inf))
        dup = best >= THRESHOLD
        found = int((dup & removed[at]).sum())
        print(f"streaming decisions vs exact, {name} ({len(at):,} sampled pairs): exact duplicates {int(dup.sum()):,}, "
              f"removed by this run {found:,}: recall {found / max(1, dup.sum()):.4f}; "
              f"removed without an exact match {int((~dup & removed[at]).sum())}")


def sampled(vecs: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` rows of `vecs` (at most all of them) drawn without replacement, in file order, as float32."""
    return np.asarray(vecs[np.sort(rng.choice(len(vecs), min(len(vecs), size), replace=False))], dtype=np.float32)


def kmeans_check(vecs: np.ndarray, lists: list[int]) -> None:
    """A retrain's k-means alone: faiss' plain k-means against curate's two-level one (index/kmeans.py),
    on TRAIN_PER_LIST sampled vectors per list; fit = mean similarity of 20,000 sampled vectors to
    their nearest centroid."""
    import faiss

    from curate.index.faiss_compressed import CompressedIVF as C
    from curate.index.kmeans import two_level

    rng = np.random.default_rng(0)
    test = sampled(vecs, rng, 20_000)
    for k in lists:
        x = sampled(vecs, rng, C.TRAIN_PER_LIST * k)
        for name in ("plain", "two-level"):
            t = time.perf_counter()
            if name == "plain":
                km = faiss.Kmeans(x.shape[1], k, niter=C.KMEANS_ITER, seed=C.SEED, spherical=True,
                                  max_points_per_centroid=1 << 30)
                km.train(x)
                cent = km.centroids
            else:
                cent = two_level(x, k, C.KMEANS_ITER, C.SEED)
            spent = time.perf_counter() - t
            fit = float((test @ cent.T).max(axis=1).mean())
            print(f"k-means, {k:,} lists on {len(x):,} vectors: {name:>9} {spent:7.2f} s, fit {fit:.4f}")


def coarse_check(vecs: np.ndarray, lists: list[int]) -> None:
    """The coarse search alone: a query's nprobe nearest centroids through the HNSW graph (efSearch
    as the index sets it) against an exact flat search, 1 thread, 10,000 sampled queries, over
    two-level centroids of TRAIN_PER_LIST sampled vectors per list."""
    import faiss

    from curate.index.faiss_compressed import CompressedIVF as C
    from curate.index.kmeans import two_level

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    q = sampled(vecs, rng, 10_000)
    for k in lists:
        x = sampled(vecs, rng, C.TRAIN_PER_LIST * k)
        cent = two_level(x, k, C.KMEANS_ITER, C.SEED)
        flat = faiss.IndexFlatIP(cent.shape[1])
        flat.add(cent)
        graph = faiss.IndexHNSWFlat(cent.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        graph.add(cent)
        graph.hnsw.efSearch = max(C.COARSE_EF, 2 * C.NPROBE)
        took = {}
        for name, index in (("flat", flat), ("hnsw", graph)):
            t = time.perf_counter()
            took[name] = (index.search(q, C.NPROBE)[1], (time.perf_counter() - t) / len(q) * 1e6)
        hits = np.mean([len(set(a) & set(b)) / C.NPROBE for a, b in zip(took["hnsw"][0], took["flat"][0], strict=True)])
        print(f"coarse search, {k:,} lists: HNSW (M 32, efSearch {graph.hnsw.efSearch}) {took['hnsw'][1]:6.1f} µs "
              f"a query, finds {hits:.3f} of the {C.NPROBE} nearest; flat {took['flat'][1]:6.1f} µs")


def adds_check(vecs: np.ndarray, lists: list[int]) -> None:
    """An add's cost alone, 2 threads: faiss' own add (its coarse search for each row's list) against the
    compressed index's add of rows its last search saw (``_known_lists`` + ``_add_to``: the search's
    nearest lists reused), into an index of `lists` lists holding 200,000 rows, chunks of 2048."""
    import faiss

    from curate.index.faiss_compressed import CompressedIVF as C
    from curate.index.kmeans import two_level

    rng = np.random.default_rng(0)
    for k in lists:
        x = sampled(vecs, rng, C.TRAIN_PER_LIST * k)
        index = faiss.index_factory(x.shape[1], f"IVF{k},PQ{x.shape[1] // 4}x4fs", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.quantizer.add(two_level(x, k, C.KMEANS_ITER, C.SEED))
        index.train(x)
        ivf.nprobe = C.NPROBE
        rows = sampled(vecs, rng, 400_000)
        index.add(rows[:200_000])
        comp = C.__new__(C)  # just the parts _remember_nearest, _known_lists and _add_to use
        comp.dim, comp.nlist, comp._index, comp._probe, comp._centroids = x.shape[1], k, index, None, None
        took = collections.Counter()
        for at in range(200_000, 300_000, CHUNK):
            chunk = rows[at:at + CHUNK]
            t = time.perf_counter()
            index.add(chunk)
            took["faiss"] += time.perf_counter() - t
            chunk = rows[at + 100_000:at + 100_000 + CHUNK]
            comp._remember_nearest(chunk, ivf.quantizer.search(chunk, C.NPROBE)[1][:, 0])  # the search's, not timed
            t = time.perf_counter()
            comp._add_to(chunk, comp._known_lists(chunk))
            took["reused"] += time.perf_counter() - t
        print(f"adds, {k:,} lists: faiss' add {took['faiss'] / 100_000 * 1e6:5.1f} µs a row, "
              f"with the search's lists {took['reused'] / 100_000 * 1e6:5.1f} µs")


def codes_check(vecs: np.ndarray) -> None:
    """The middle re-rank's codes alone: the error of their similarities against the exact ones, for
    each of 2,000 sampled queries' 64 nearest rows among 300,000 (the rows a re-rank sees), with the
    index's codes (rotated, mean +- RANGE_SDS sds) and with plain ones (each dimension's min to max,
    as before 2026-12-07d); both trained on 40,000 sampled rows. "top 1": the share of queries
    whose nearest row scores best by code."""
    import faiss

    from curate.index.scalar_codes import ScalarCodes

    rng = np.random.default_rng(0)
    rows = sampled(vecs, rng, 300_000)
    train, q = rows[rng.choice(len(rows), 40_000, replace=False)], rows[rng.choice(len(rows), 2000, replace=False)]
    sims = q @ rows.T
    near = np.argsort(-sims, axis=1)[:, 1:65]  # the first is the query itself
    exact = np.take_along_axis(sims, near, axis=1)
    sq = faiss.ScalarQuantizer(rows.shape[1], faiss.ScalarQuantizer.QT_4bit)
    sq.train(train)
    plain, rotated = ScalarCodes(rows.shape[1], sq), ScalarCodes.trained_on(train)
    for name, codes in (("plain (min-max)", plain), ("rotated", rotated)):
        codes.append(rows)
        turned = codes.turn(q)
        coded = codes.similarities(turned, near)
        err, high = coded - exact, exact >= 0.9
        print(f"codes, {name:>15}: error sd {err.std():.4f} (error_sd predicts {codes.error_sd(turned).mean():.4f}), "
              f"bias {err.mean():+.4f}; pairs >= 0.9: sd {err[high].std():.4f}, bias {err[high].mean():+.4f}; "
              f"top 1 {(np.argmax(coded, axis=1) == 0).mean():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=1_000_000, help="a size benchmarks/scale.py generates")
    ap.add_argument("--segment", type=int, default=100_000)
    ap.add_argument("--exact", action="store_true", help="also run the flat index and compare removals")
    ap.add_argument("--sample", type=int, default=3000, help="pairs whose streaming decision is checked exactly")
    ap.add_argument("--tail", type=float, default=0.1, help="...from the whole stream and from this last share")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a FaissIndex option (kind, nprobe, refine, ef_search, ...)")
    ap.add_argument("--kmeans", type=int, nargs="+", metavar="LISTS",
                    help="only time a retrain's k-means at these list counts, plain vs two-level")
    ap.add_argument("--coarse", type=int, nargs="+", metavar="LISTS",
                    help="only time the coarse search (HNSW vs flat) at these list counts")
    ap.add_argument("--rows", type=int, help="only the first ROWS of the --pairs vectors (e.g. 3M of the 10M)")
    ap.add_argument("--const", action="append", default=[], metavar="NAME=VALUE",
                    help="a CompressedIVF class constant for this run (CANDIDATES=256, FLAT_COARSE_UPTO=0, ...)")
    ap.add_argument("--codes", action="store_true", help="only measure the scalar codes' error, plain vs rotated")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="save the final index and the kept rows in DIR")
    ap.add_argument("--reuse", type=Path, metavar="DIR",
                    help="no run: load a --keep DIR and check its final index alone (with any --const)")
    ap.add_argument("--adds", type=int, nargs="+", metavar="LISTS",
                    help="only time an add at these list counts, faiss' own vs with the search's lists")
    a = ap.parse_args()
    if a.adds:
        return adds_check(vectors(a.pairs), a.adds)
    if a.codes:
        return codes_check(vectors(a.pairs)[:a.rows] if a.rows else vectors(a.pairs))
    if a.coarse:
        return coarse_check(vectors(a.pairs), a.coarse)
    if a.kmeans:
        return kmeans_check(vectors(a.pairs), a.kmeans)
    import yaml

    from curate.index import faiss_compressed as fc
    from curate.index import scalar_codes as sc
    from curate.index import vector_file as vf

    spent: collections.Counter = collections.Counter()
    for cls, name, key in [(fc.CompressedIVF, "search", "search"), (sc.ScalarCodes, "similarities", "codes"),
                           (fc.CompressedIVF, "_exact", "exact"), (vf.VectorFile, "rows", "disk"),
                           (fc.CompressedIVF, "add", "add"), (fc.CompressedIVF, "build", "regrow")]:
        timed(spent, cls, name, key)
    for name, value in (c.split("=", 1) for c in a.const):
        if not hasattr(fc.CompressedIVF, name):
            ap.error(f"--const {name}: CompressedIVF has no such constant")
        setattr(fc.CompressedIVF, name, yaml.safe_load(value))  # 256 an int, 0.05 a float
    vecs = vectors(a.pairs)[:a.rows] if a.rows else vectors(a.pairs)
    options = {"kind": "auto", **{k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in a.sets)}}
    if a.reuse:
        return reuse(a.reuse, vecs, options, spent)
    index, leaders, marks = run(vecs, options, a.segment, spent)
    if a.keep:
        a.keep.mkdir(parents=True, exist_ok=True)
        index.save(a.keep)
        np.save(a.keep / "leaders.npy", leaders)
    print(f"{len(vecs):,} pairs, index {options}: {marks[-1][1]:.1f} s, {len(vecs) - len(leaders):,} removed")
    report(marks, ["search", "codes", "exact", "disk", "add", "regrow"])
    query_recall(index, vecs, leaders)
    stream_recall(vecs, leaders, a.sample, a.tail)
    if a.exact:
        _, exact, marks = run(vecs, {**options, "kind": "flat"}, a.segment, collections.Counter())
        both = len(np.intersect1d(np.setdiff1d(np.arange(len(vecs)), exact),
                                  np.setdiff1d(np.arange(len(vecs)), leaders)))
        n_exact = len(vecs) - len(exact)
        print(f"exact index: {marks[-1][1]:.1f} s, {n_exact:,} removed; found by both {both:,}: "
              f"recall {both / max(1, n_exact):.4f}, removed only by this index {len(vecs) - len(leaders) - both:,}")


if __name__ == "__main__":
    main()
