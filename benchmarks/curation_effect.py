"""Does curation help the reward model trained on the data? Raw vs curated vs random vs noisy HH.

    python benchmarks/curation_effect.py [--data DIR] [--pipeline YAML] [--seeds 0 1 2] [--quick]

Per seed: HH (2,312 pairs) is split by prompt into 5 folds; one fold is held out with its original
labels, the other four are the training pool. The same reward model, an embedding Bradley–Terry
model (curate/vote/bt.py, MiniLM vectors cached under .benchdata/cache, ``prompt_resp`` features),
is trained on

    raw              the training pool as it is
    curated: <policy>  the pool after the pipeline's voters and ensemble (steps and options read
                     from the pipeline YAML, run as real steps; the voters' own fold seeds move with
                     the benchmark seed), under each decision policy: as configured with soft targets
                     (every kept/routed pair, BT on target p_chosen), as configured with routed pairs
                     excluded, hard thresholds (flip+drop, route: false), hard drop only
    random subset    a random subset of the pool, the size of a curated set
    noise 20% / 40%  the pool with that share of labels flipped: raw, curated (as configured, soft
                     targets / routed excluded), gold-calibrated (a 10% slice gets one human vote =
                     its original HH label; ensemble with ``gold: {humans: true}``), and a random
                     subset the size of the gold-calibrated set

and scored on pairs it never saw: the held-out HH fold (original labels) and LLMBar's 419 gold
pairs. Mean ± standard deviation over the seeds, and LLMBar pairs right per seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gold as g  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

POLICIES = {  # name → (decider option overrides, decisions that stay, train on soft targets p_chosen)
    "as configured, soft targets": ({}, ("keep", "flip", "route"), True),
    "as configured, routed excluded": ({}, ("keep", "flip"), False),
    "hard thresholds (flip+drop, route: false)": ({"policy": "hard", "route": False}, ("keep", "flip"), False),
    "hard, drop only (flip_below 0)": ({"policy": "hard", "flip_below": 0.0, "route": False}, ("keep",), False),
}
QUICK = ("as configured, soft targets", "as configured, routed excluded")
HUMAN_SHARE = 0.1  # the slice of the noisy pool whose original HH label plays the verified human answer


def run_steps(steps: list, df: pl.DataFrame, ctx) -> pl.DataFrame:
    """Run steps as the runner would (setup, fit for full-pass steps); dropped rows come back with
    decision = drop so every input row is accounted for."""
    dropped = []
    for step in steps:
        step.setup(ctx)
        if step.needs_full_pass:
            step.fit(lambda df=df: iter([df]))
        df = step(df)
        dropped += [d.drop("_step", "_reason") for d in step.take_dropped()]
    out = pl.concat([df, *dropped], how="diagonal") if dropped else df
    if "decision" in out.columns:
        out = out.with_columns(pl.col("decision").fill_null("drop"))
    return out


def inject(df: pl.DataFrame, rate: float, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    m = np.zeros(df.height, bool)
    m[rng.choice(df.height, int(round(rate * df.height)), replace=False)] = True
    s = pl.Series(m)
    return df.with_columns(pl.when(s).then(pl.col("rejected")).otherwise(pl.col("chosen")).alias("chosen"),
                           pl.when(s).then(pl.col("chosen")).otherwise(pl.col("rejected")).alias("rejected"),
                           (pl.col("_sign") * pl.when(s).then(-1).otherwise(1)).alias("_sign"))


class Trainer:
    """The embedding BT reward model on fixed vectors: rows by `_i`, orientation by `_sign`/`flipped`."""

    def __init__(self, d_hh: np.ndarray, d_gold: np.ndarray, C: float):
        self.d_hh, self.d_gold, self.C = d_hh, d_gold, C

    def score(self, train: pl.DataFrame, test_idx: np.ndarray, seed: int, soft: bool = False) -> tuple[float, float]:
        """Accuracy on the held-out HH fold and on LLMBar. `soft`: BT on the soft target p_chosen
        (cross-entropy with target p per pair, i.e. each pair once as won with weight p and once as
        lost with weight 1 − p), the linear-model analogue of training on the ensemble's confidence."""
        sign = train["_sign"].to_numpy().astype(float)
        if "flipped" in train.columns:
            sign = np.where(train["flipped"].fill_null(False).to_numpy(), -sign, sign)
        d = self.d_hh[train["_i"].to_numpy()] * sign[:, None]
        if soft:
            model = _fit_soft(d, train["p_chosen"].fill_null(0.5).to_numpy(), self.C, seed)
        else:
            from curate.vote.bt import fit_bt

            model = fit_bt(d, np.ones(len(d)), self.C, seed)
        return (float((model.decision_function(self.d_hh[test_idx]) > 0).mean()),
                float((model.decision_function(self.d_gold) > 0).mean()))


def _fit_soft(d: np.ndarray, p: np.ndarray, c: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    # rows (d, won, p) and (d, lost, 1 - p): total weight n, as fit_bt's n rows, hence the same C = 2c
    x = np.vstack([d, d])
    t = np.r_[np.ones(len(d)), np.zeros(len(d))]
    w = np.r_[p, 1.0 - p]
    model = LogisticRegression(C=2 * c, fit_intercept=False, max_iter=2000, random_state=seed)
    return model.fit(x, t, sample_weight=w)


def with_human_slice(pool: pl.DataFrame, share: float, seed: int) -> pl.DataFrame:
    """A `share` of the rows get one human vote: the original HH label (the truth of an injected flip)."""
    from curate.schema import add_votes

    pick = np.zeros(pool.height, bool)
    pick[np.random.default_rng(seed).choice(pool.height, int(round(share * pool.height)), replace=False)] = True
    slice_ = pool.filter(pl.Series(pick))
    p = np.where(slice_["_sign"].to_numpy() > 0, 1.0, 0.0)  # _sign -1: the label was flipped by inject
    voted = add_votes(slice_, "human:hh_original", "human", p.tolist())
    return pl.concat([voted, pool.filter(pl.Series(~pick))], how="diagonal_relaxed")


def reseeded(voters: list, seed: int) -> dict[str, dict]:
    """Overrides that move every voter's own fold-split `seeds` with the benchmark seed (else all
    benchmark seeds would share the voters' splits: only the pool would change)."""
    from curate.registry import STEPS

    out = {}
    for name, opts in voters:
        cls = STEPS.get(name)
        if "seeds" in cls.Options.model_fields:
            base = opts.get("seeds", cls.Options.model_fields["seeds"].get_default(call_default_factory=True))
            out[name] = {"seeds": [x + 1000 * seed for x in base]}
    return out


def curated_sets(pool: pl.DataFrame, specs, ctx, policies, extra: dict | None = None,
                 seed: int = 0) -> dict[str, tuple]:
    """Voters once, then each policy's deciders on the same votes: name → (rows that stay, soft)."""
    voters = [s for s in specs if s[0] not in _deciders(specs)]
    voted = run_steps(g.build_steps(voters, reseeded(voters, seed)), pool, ctx)
    out = {}
    for name in policies:
        over, stay, soft = POLICIES[name]
        deciders = [s for s in specs if s[0] in _deciders(specs)]
        decided = run_steps(g.build_steps(deciders, {n: {**over, **(extra or {})} for n, _ in deciders}), voted, ctx)
        out[name] = (decided.filter(pl.col("decision").is_in(stay)), soft)
    return out


def _deciders(specs) -> set[str]:
    from curate.registry import STEPS

    return {n for n, _ in specs if "decision" in STEPS.get(n).outputs}


def one_seed(hh: pl.DataFrame, trainer: Trainer, specs, ctx, seed: int, quick: bool) -> dict[str, tuple]:
    prompts = hh["_prompt"].to_list()
    folds = g.prompt_folds(prompts, 5, seed)
    test_idx = np.flatnonzero(folds == 0)
    pool = hh.filter(pl.Series(folds != 0))
    res: dict[str, tuple] = {"raw": (pool.height, *trainer.score(pool, test_idx, seed))}
    for name, (cur, soft) in curated_sets(pool, specs, ctx, QUICK if quick else tuple(POLICIES), seed=seed).items():
        res[f"curated: {name}"] = (cur.height, *trainer.score(cur, test_idx, seed, soft))
    size = res["curated: as configured, routed excluded"][0]
    res["random subset, size of routed excluded"] = (size, *trainer.score(pool.sample(size, seed=seed), test_idx, seed))
    gold = {"gold": {"humans": True, "target_precision": 0.9}}
    for rate in (0.2, 0.4):
        tag = f"noise {int(rate * 100)}%"
        noisy = inject(pool, rate, seed + 100)
        res[f"{tag}: raw"] = (noisy.height, *trainer.score(noisy, test_idx, seed))
        for name, (cur, soft) in curated_sets(noisy, specs, ctx, QUICK, seed=seed).items():
            res[f"{tag}: curated ({name})"] = (cur.height, *trainer.score(cur, test_idx, seed, soft))
        human = with_human_slice(noisy, HUMAN_SHARE, seed + 200)
        cal = curated_sets(human, specs, ctx, ("as configured, routed excluded",), gold, seed)
        cur, _ = cal["as configured, routed excluded"]
        res[f"{tag}: gold-calibrated on a {HUMAN_SHARE:.0%} human slice, routed excluded"] = (
            cur.height, *trainer.score(cur, test_idx, seed))
        res[f"{tag}: random subset, size of gold-calibrated"] = (
            cur.height, *trainer.score(noisy.sample(cur.height, seed=seed), test_idx, seed))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="shared data folder (default: $CURATE_SHARED_DATA or ../shared/data)")
    ap.add_argument("--pipeline", default=str(g.PIPELINE))
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="two policies only")
    ap.add_argument("--rm-features", default="prompt_resp")
    args = ap.parse_args(argv)
    cache = g.use_bench_cache()
    from curate.context import RunContext
    from curate.io.reader import Reader
    from curate.vote.bt import features
    from curate.vote.embed_bt import EmbedBTVoter

    t0 = time.perf_counter()
    data = g.shared_data(args.data)
    specs = g.voting_steps(Path(args.pipeline))
    print("voting part of", args.pipeline + ":", ", ".join(n for n, _ in specs))
    hh = pl.concat([b.frame for b in Reader(str(data / "hh-rlhf-harmless-base-test.jsonl.gz"), format="hh",
                                             batch_size=5000).batches()])
    hh = hh.with_row_index("_i").with_columns(pl.lit(1).alias("_sign"),
                                              pl.col("prompt").list.last().struct.field("content").alias("_prompt"))
    gold = g.pair_frame(g.llmbar_pairs(g.load_llmbar(data)))
    bt_opts = next((o for n, o in specs if n == "embed_bt_voter"), {})
    embedder = EmbedBTVoter({k: v for k, v in bt_opts.items() if k in ("embedder", "prompt_chars", "C")})
    ctx = RunContext.for_dir(g.BENCHDATA / "curation_effect", cache_dir=cache, progress=False)
    embedder.setup(ctx)
    trainer = Trainer(features(embedder.vectors(hh), args.rm_features),
                      features(embedder.vectors(gold), args.rm_features), embedder.options.C)
    print(f"embeddings ready: {time.perf_counter() - t0:.1f} s")
    # each seed its own context seed, so the voters' out-of-fold splits change with the seed too
    runs = [one_seed(hh, trainer, specs, RunContext.for_dir(ctx.run_dir, cache_dir=cache, progress=False, seed=s),
                     s, args.quick) for s in args.seeds]
    print(f"\n## Reward model trained on HH variants (embedding BT, {len(args.seeds)} seeds, mean ± std)\n")
    print("| training data | pairs | HH held-out fold | LLMBar (419 gold) | LLMBar right per seed |")
    print("|---|---:|---:|---:|---|")
    for name in runs[0]:
        vals = np.array([r[name] for r in runs])
        m, s = vals.mean(axis=0), vals.std(axis=0)
        per_seed = " / ".join(f"{int(round(v * 419))}" for v in vals[:, 2])
        print(f"| {name} | {m[0]:.0f} | {m[1]:.3f} ± {s[1]:.3f} | {m[2]:.3f} ± {s[2]:.3f} | {per_seed} |")
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
