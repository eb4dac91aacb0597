"""Noisy-label detection and recovery on real HH-RLHF pairs.

    HF_HUB_OFFLINE=1 python benchmarks/noise.py [--data ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz]

1. Outer 5-fold: each fold is once the clean test fold; on the other four (the training pool) flip
   10% / 20% / 40% of the labels (seeded).
2. Vote: embedding Bradley–Terry voters (all-MiniLM-L6-v2; feature maps × fold seeds), each pair
   scored out-of-fold (curate's ``embed_bt_voter`` step). No LLM judge is included (the one offline
   LLM, SmolLM2-135M, was not tried as a judge here; on 2 shared cores it would take hours).
3. Detect flips on the SAME out-of-fold probabilities: curate (``ensemble_ds`` with default thresholds,
   its ranking at cleanlab's count, and a second voter+ensemble round on the round-1 labels),
   cleanlab's ``find_label_issues`` (pairs shown in a random orientation so there are two classes)
   and its label-quality ranking cut at curate's count, and random selection.
4. Train a BT RM on the clean / noisy / curated training pool; score it on the clean held-out fold.
Prints one table per noise level; no timing assertions, only figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from curate.context import RunContext  # noqa: E402
from curate.io.reader import Reader  # noqa: E402
from curate.runner.local import default_cache_dir  # noqa: E402
from curate.vote.bt import PairVectors, features, fit_bt  # noqa: E402
from curate.vote.embed_bt import EmbedBTVoter  # noqa: E402
from curate.vote.ensemble import EnsembleDS  # noqa: E402
from curate.vote.matrix import VoteMatrix, logit  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"


def load(path: Path, limit: int | None) -> pl.DataFrame:
    df = pl.concat([b.frame for b in Reader(str(path), batch_size=5000, limit=limit).batches()])
    return df.with_row_index("_i")


def inject(df: pl.DataFrame, rate: float, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    noisy = np.zeros(df.height, bool)
    noisy[rng.choice(df.height, int(round(rate * df.height)), replace=False)] = True
    m = pl.Series(noisy)
    out = df.with_columns(pl.when(m).then(pl.col("rejected")).otherwise(pl.col("chosen")).alias("chosen"),
                          pl.when(m).then(pl.col("chosen")).otherwise(pl.col("rejected")).alias("rejected"))
    return out, noisy


def pr(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    tp = int((flagged & truth).sum())
    return tp / max(int(flagged.sum()), 1), tp / max(int(truth.sum()), 1)


def average_precision(score: np.ndarray, truth: np.ndarray) -> float:
    """AP of ranking by score, highest first (area under the precision–recall curve)."""
    order = np.argsort(-score, kind="stable")
    hits = truth[order]
    prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((prec * hits).sum() / max(hits.sum(), 1))


def cleanlab_flags(p_first: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab on pairs shown as (a, b) in random order; label = which one the data marks chosen."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    swap = np.random.default_rng(seed + 7).random(len(p_first)) < 0.5
    labels = swap.astype(int)  # class 0: a (=chosen) wins; class 1: b (=chosen, after the swap) wins
    p_a = np.where(swap, 1 - p_first, p_first)
    probs = np.clip(np.stack([p_a, 1 - p_a], axis=1), 1e-6, 1 - 1e-6)
    issues = find_label_issues(labels, probs)
    quality = get_label_quality_scores(labels, probs)
    return issues, -quality


def vote(noisy: pl.DataFrame, ctx: RunContext, args) -> tuple[pl.DataFrame, dict]:
    """One embed_bt_voter step per embedding family: MiniLM (`bt`) and, with --lexical, the hashing
    embedder (`lex`: bag of word n-grams, no model), whose errors are not MiniLM's."""
    families = [("bt", {})] + ([("lex", {"backend": "hashing"})] if args.lexical else [])
    oof = {}
    for name, emb in families:
        voter = EmbedBTVoter(feature_maps=args.feature_maps, seeds=args.seeds, folds=args.folds, C=args.C,
                             voter=name, embedder=emb)
        voter.setup(ctx)
        voter.fit(lambda df=noisy: iter([df]))
        noisy = voter(noisy)
        oof.update(voter.stats.figures["oof_accuracy"])
    return noisy, oof


def precision_at_recall(score: np.ndarray, truth: np.ndarray, recall: float) -> tuple[float, int]:
    """Precision of the top of the ranking (highest score first) cut where it first reaches `recall`."""
    hits = np.cumsum(truth[np.argsort(-score, kind="stable")])
    k = int(np.searchsorted(hits, recall * truth.sum() - 1e-9)) + 1
    return float(hits[k - 1] / k), k


def curate_round(noisy: pl.DataFrame, ctx: RunContext, args) -> tuple:
    """embed_bt_voter → ensemble_ds, as a pipeline would run them. Returns the decided frame (flips
    applied), the dropped row ids, the voters' OOF accuracy, the per-row DS posterior and the votes."""
    voted, oof = vote(noisy, ctx, args)
    ds = EnsembleDS(**args.decide)
    ds.fit(lambda: iter([voted]))
    p_ds = ds.posterior(ds.matrix(voted))  # one column per family, as the step decides
    decided = ds(voted)
    dropped = {r for d in ds.take_dropped() for r in d["_i"].to_list()}
    return decided, dropped, {"oof": oof, "prior": ds.model.prior}, p_ds, voted


def rm_accuracy(v: PairVectors, train_idx: np.ndarray, wrong: np.ndarray, test_idx: np.ndarray, args) -> np.ndarray:
    """Train one BT RM on the training pairs (label wrong where `wrong`); correctness on the clean test rows."""
    d = features(v, args.rm_features)
    model = fit_bt(d[train_idx], np.where(wrong, 0.0, 1.0), args.C)
    return model.decision_function(d[test_idx]) > 0


def run_fold(rate: float, data: pl.DataFrame, train: np.ndarray, test: np.ndarray, vecs: PairVectors,
             ctx: RunContext, args, fold: int) -> dict:
    pool = data[train.tolist()]
    noisy, truth = inject(pool, rate, args.seed + 100 * fold)
    ids = pool["_i"].to_numpy()
    decided, dropped, info, p_ds, voted = curate_round(noisy, ctx, args)
    vm = VoteMatrix.from_frame(voted).by_family()
    # the shared out-of-fold probability: mean over families of each family's mean logit
    p_mean = 1 / (1 + np.exp(-np.nanmean(vm.margin, axis=1)))
    flip1 = np.isin(ids, decided.filter(pl.col("flipped"))["_i"].to_list())
    drop1 = np.isin(ids, list(dropped))
    # round 2: vote again on the labels round 1 left (flips applied, drops removed), decide again
    decided2, dropped2, _, _, _ = curate_round(decided.drop("votes").with_columns(
        pl.lit([], dtype=voted.schema["votes"]).alias("votes")), ctx, args)
    ids2 = decided2["_i"].to_numpy()
    flip2 = flip1.copy()
    toggled = np.isin(ids, ids2[decided2["flipped"].to_numpy() != decided.filter(
        pl.col("_i").is_in(ids2))["flipped"].to_numpy()]) if decided2.height else np.zeros(len(ids), bool)
    flip2 ^= toggled
    drop2 = drop1 | np.isin(ids, list(dropped2))
    cl_flag, cl_score = cleanlab_flags(p_mean, args.seed + fold)
    k = int(cl_flag.sum())
    cur_score = -(logit(p_ds) + 1e-3 * np.nanmean(vm.margin, axis=1))  # DS posterior, ties by mean margin
    at_k = lambda score, n=k: np.isin(np.arange(len(ids)), np.argsort(-score, kind="stable")[:n])  # noqa: E731
    k_cur = int(flip1.sum())  # equal recall the other way: cleanlab's ranking cut at curate's count
    rnd = np.zeros(len(ids), bool)
    rnd[np.random.default_rng(args.seed + 1 + fold).choice(len(ids), k, replace=False)] = True
    acc = lambda wrong, keep=None: rm_accuracy(  # noqa: E731
        vecs, train if keep is None else train[keep], wrong if keep is None else wrong[keep], test, args)
    return {
        "truth": truth, "oof": info["oof"], "prior": info["prior"], "k": k,
        "flags": {"curate_flip": flip1, "curate_flip_or_drop": flip1 | drop1, "curate_ds_at_k": at_k(cur_score),
                  "mean_p_at_k": at_k(-p_mean), "cleanlab": cl_flag, "random_at_k": rnd,
                  "cleanlab_quality_at_curate_k": at_k(cl_score, k_cur), "curate_2rounds_flip": flip2},
        "scores": {"curate_ds": cur_score, "mean_p": -p_mean, "cleanlab_quality": cl_score},
        "rm": {"clean": acc(np.zeros(len(ids), bool)), "noisy": acc(truth),
               "curated_flip": acc(truth ^ flip1), "curated_flip_drop": acc(truth ^ flip1, ~drop1),
               "curated_drop_flagged": acc(truth, ~(flip1 | drop1)),
               "curated_2rounds": acc(truth ^ flip2, ~drop2), "cleanlab_flip": acc(truth ^ cl_flag),
               "cleanlab_drop": acc(truth, ~cl_flag)},
    }


def run_level(rate: float, data: pl.DataFrame, vecs: PairVectors, ctx: RunContext, args) -> dict:
    """Outer k-fold: every pair is in the clean test fold once, so RM accuracy uses all pairs."""
    folds = np.random.default_rng(args.seed).permutation(data.height) % args.outer
    parts = [run_fold(rate, data, np.flatnonzero(folds != f), np.flatnonzero(folds == f), vecs, ctx, args, f)
             for f in range(args.outer)]
    truth = np.concatenate([p["truth"] for p in parts])
    r = {"rate": rate, "pairs": len(truth), "test_pairs": data.height, "noisy": int(truth.sum()),
         "k": sum(p["k"] for p in parts), "oof": parts[0]["oof"], "prior": float(np.mean([p["prior"] for p in parts]))}
    r["pr"] = {name: pr(np.concatenate([p["flags"][name] for p in parts]), truth) + (
        int(np.concatenate([p["flags"][name] for p in parts]).sum()),) for name in parts[0]["flags"]}
    r["ap"] = {name: float(np.mean([average_precision(p["scores"][name], p["truth"]) for p in parts]))
               for name in parts[0]["scores"]}
    r["ap"]["random"] = rate
    # equal recall: every ranking cut where it reaches the recall of cleanlab's find_label_issues
    flags = np.concatenate([p["flags"]["cleanlab"] for p in parts])
    r["cl_recall"] = float((flags & truth).sum() / max(truth.sum(), 1))
    r["at_recall"] = {name: precision_at_recall(np.concatenate([p["scores"][name] for p in parts]), truth,
                                                r["cl_recall"]) for name in parts[0]["scores"]}
    r["rm_acc"] = {name: float(np.concatenate([p["rm"][name] for p in parts]).mean()) for name in parts[0]["rm"]}
    return r


def report(r: dict) -> None:
    print(f"\n=== noise {r['rate']:.0%}: {r['noisy']} of {r['pairs']} training-pool pairs flipped "
          f"(summed over outer folds) ===")
    print("fold-0 OOF accuracy of each voter vs the noisy labels:", {k: round(v, 3) for k, v in r["oof"].items()})
    print(f"Dawid-Skene label prior (estimated share of correct labels), mean over folds: {r['prior']:.3f}")
    print(f"{'flip detection':28s} {'precision':>9s} {'recall':>7s} {'flagged':>8s}   (cleanlab flagged k={r['k']})")
    for name, (p, rc, n) in r["pr"].items():
        print(f"{name:28s} {p:9.3f} {rc:7.3f} {n:8d}")
    print("average precision (whole ranking, mean over folds):", {k: round(v, 3) for k, v in r["ap"].items()})
    cl_p = r["pr"]["cleanlab"][0]
    print(f"at cleanlab's recall {r['cl_recall']:.3f} (its precision {cl_p:.3f}), precision of each ranking:",
          {k: f"{v[0]:.3f} (k={v[1]})" for k, v in r["at_recall"].items()})
    a = r["rm_acc"]
    lost = a["clean"] - a["noisy"]
    print(f"RM accuracy on the clean held-out folds ({r['test_pairs']} test pairs, each tested once):")
    for name, v in a.items():
        shows_recovery = lost > 0.005 and name not in ("clean", "noisy")
        rec = f"  recovers {(v - a['noisy']) / lost:+.0%} of the loss" if shows_recovery else ""
        print(f"  {name:24s} {v:.4f}{rec}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=None, help="read at most this many rows")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2, 0.4])
    ap.add_argument("--feature-maps", nargs="+", default=["resp", "prompt_resp", "joint"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--folds", type=int, default=5, help="inner cross-fitting folds of the voters")
    ap.add_argument("--outer", type=int, default=5, help="outer folds: each is the clean test fold once")
    ap.add_argument("--C", type=float, default=0.1)
    ap.add_argument("--rm-features", default="prompt_resp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lexical", action=argparse.BooleanOptionalAction, default=True,
                    help="add the lexical BT family (hashing embedder) beside MiniLM")
    args = ap.parse_args()
    # the library's default thresholds; no humans in a benchmark, so would-be routes are dropped
    args.decide = {"route": False, "human_weight": 1.0}
    t0 = time.time()
    data = load(args.data, args.limit)
    ctx = RunContext.for_dir(Path("/tmp/curate-bench-noise"), cache_dir=default_cache_dir())
    emb = EmbedBTVoter(feature_maps=["resp", "prompt_resp", "joint"])
    emb.setup(ctx)
    vecs = emb.vectors(data)  # cached on disk: the voters below reuse these vectors
    print(f"{data.height} pairs, embedded in {time.time() - t0:.0f}s (cache: {ctx.cache_dir}); "
          f"voters: {args.feature_maps} x seeds {args.seeds}, C={args.C}; decisions: {args.decide}")
    for rate in args.rates:
        report(run_level(rate, data, vecs, ctx, args))
    print(f"\ntotal {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
