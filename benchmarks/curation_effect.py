"""Does curation help the reward model trained on the data? Raw vs curated vs random vs noisy HH.

    python benchmarks/curation_effect.py [--data DIR] [--pipeline YAML] [--seeds 0 1 2] [--quick]

Per seed: HH (2,312 pairs) is split by prompt into 5 folds; one fold is held out with its original
labels, the other four are the training pool. The same reward model, an embedding Bradley–Terry
model (curate/vote/bt.py, MiniLM vectors cached under .benchdata/cache, ``prompt_resp`` features),
is trained on

    raw              the training pool as it is
    curated: <policy>  the pool after the pipeline's voters and ensemble (steps and options read
                     from the pipeline YAML, run as real steps), under each decision policy:
                     as configured (routed pairs stay, as in the pipeline's output), route excluded,
                     flip+drop (route: false), drop only (no flips: flip_below 0, route: false)
    random subset    a random subset of the pool the size of "curated: as configured"
    noise 20% / 40%  the pool with that share of labels flipped: raw, then curated (as configured)

and scored on pairs it never saw: the held-out HH fold (original labels) and LLMBar's 419 gold
pairs. Mean ± standard deviation over the seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

import _gold as g  # noqa: E402

POLICIES = {  # name → (decider option overrides, decisions that stay in the training data)
    "as configured": ({}, ("keep", "flip", "route")),
    "route excluded": ({}, ("keep", "flip")),
    "flip+drop": ({"route": False}, ("keep", "flip")),
    "drop only": ({"flip_below": 0.0, "route": False}, ("keep",)),
}


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

    def score(self, train: pl.DataFrame, test_idx: np.ndarray, seed: int) -> tuple[float, float]:
        from curate.vote.bt import fit_bt

        sign = train["_sign"].to_numpy().astype(float)
        if "flipped" in train.columns:
            sign = np.where(train["flipped"].fill_null(False).to_numpy(), -sign, sign)
        d = self.d_hh[train["_i"].to_numpy()] * sign[:, None]
        model = fit_bt(d, np.ones(len(d)), self.C, seed)
        return (float((model.decision_function(self.d_hh[test_idx]) > 0).mean()),
                float((model.decision_function(self.d_gold) > 0).mean()))


def curated_sets(pool: pl.DataFrame, specs, ctx, policies) -> dict[str, pl.DataFrame]:
    """Voters once, then each policy's deciders on the same votes."""
    voters = [s for s in specs if s[0] not in _deciders(specs)]
    voted = run_steps(g.build_steps(voters), pool, ctx)
    out = {}
    for name in policies:
        over, stay = POLICIES[name]
        deciders = [s for s in specs if s[0] in _deciders(specs)]
        decided = run_steps(g.build_steps(deciders, {n: over for n, _ in deciders}), voted, ctx)
        out[name] = decided.filter(pl.col("decision").is_in(stay))
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
    policies = ("as configured", "flip+drop") if quick else tuple(POLICIES)
    for name, cur in curated_sets(pool, specs, ctx, policies).items():
        res[f"curated: {name}"] = (cur.height, *trainer.score(cur, test_idx, seed))
    size = res["curated: as configured"][0]
    rnd = pool.sample(size, seed=seed)
    res["random subset (size of curated)"] = (size, *trainer.score(rnd, test_idx, seed))
    for rate in (0.2, 0.4):
        noisy = inject(pool, rate, seed + 100)
        res[f"noise {int(rate * 100)}%: raw"] = (noisy.height, *trainer.score(noisy, test_idx, seed))
        for name, cur in curated_sets(noisy, specs, ctx, ("as configured",)).items():
            res[f"noise {int(rate * 100)}%: curated ({name})"] = (cur.height, *trainer.score(cur, test_idx, seed))
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
    runs = [one_seed(hh, trainer, specs, ctx, s, args.quick) for s in args.seeds]
    print(f"\n## Reward model trained on HH variants (embedding BT, {len(args.seeds)} seeds, mean ± std)\n")
    print("| training data | pairs | HH held-out fold | LLMBar (419 gold) |")
    print("|---|---:|---:|---:|")
    for name in runs[0]:
        vals = np.array([r[name] for r in runs])
        m, s = vals.mean(axis=0), vals.std(axis=0)
        print(f"| {name} | {m[0]:.0f} | {m[1]:.3f} ± {s[1]:.3f} | {m[2]:.3f} ± {s[2]:.3f} |")
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
