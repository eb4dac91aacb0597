"""Voters and ensembles against gold: LLMBar (419 pairs, objective labels) with its stored judges.

    HF_HUB_OFFLINE=1 python benchmarks/vote_llmbar.py [--data ../shared/data/llmbar] [--no-lm]

Every pair is stored the right way round (chosen = gold), so any flip or drop is a mistake.
1. Voters: the stored LLM judges (one voter per judge x method, family = judge model; a Swap method's
   two orders give 1, 0 or 0.5), embedding BT (MiniLM, grouped out-of-fold), lexical BT (hashing
   embedder), LM likelihood (SmolLM2-135M). Accuracy of each on gold.
2. Ensembles over the judges: majority, weighted log-odds with and without families, Dawid–Skene.
3. Curation with defaults and no gold: flipped + dropped share of the correct pairs.
4. Gold calibration: inject 20% flips, give half of the pairs as a gold file, decide on all; report
   flips/drops among correct pairs of the other half and the recall of injected flips.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from curate.io.writers import write_frame  # noqa: E402
from curate.schema import add_votes, frame, make_pair  # noqa: E402
from curate.vote.embed_bt import EmbedBTVoter  # noqa: E402
from curate.vote.ensemble import Ensemble, EnsembleDS  # noqa: E402
from curate.vote.matrix import VoteMatrix  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "llmbar"
SUBSETS = ["Natural", "Adversarial/Neighbor", "Adversarial/GPTInst", "Adversarial/GPTOut", "Adversarial/Manual"]
METHODS = ["Vanilla", "Vanilla_NoRules", "CoT", "Swap", "Swap_CoT", "Metrics", "Reference", "Metrics_Reference"]


def _winner_vote(res, label: int) -> float | None:
    """A stored result → p(gold side wins): 1, 0, 0.5 (the orders disagree) or None (unparsed)."""
    if isinstance(res, str):
        res = ast.literal_eval(res)
    item = res[0] if isinstance(res, list) else res
    wins = [v.get("winner") for v in item.values()] if isinstance(item, dict) else []
    wins = [str(w) for w in wins if str(w) in ("1", "2")]
    if not wins:
        return None
    return float(np.mean([w == str(label) for w in wins]))


def load(root: Path) -> tuple[pl.DataFrame, dict]:
    recs, judges = [], {}
    for sub in SUBSETS:
        rows = json.load(gzip.open(root / sub / "dataset.json.gz"))
        base = len(recs)
        for r in rows:
            good, bad = (r["output_1"], r["output_2"]) if r["label"] == 1 else (r["output_2"], r["output_1"])
            recs.append(make_pair(r["input"], good, bad, f"llmbar:{sub}",
                                  metadata={"subset": sub, "group": base + len(recs)}))
        for jdir in sorted((root / sub / "evaluators").iterdir()):
            for m in METHODS:
                f = jdir / m / "result.json.gz"
                if f.exists():
                    res = json.load(gzip.open(f))
                    col = judges.setdefault((jdir.name, m), [None] * 419)
                    for i, r in enumerate(res):
                        col[base + i] = _winner_vote(r["results"], r["label"])
    df = frame(recs)
    return df, {k: v for k, v in judges.items() if sum(x is not None for x in v) >= 400}


def accuracy(p: np.ndarray) -> float:
    """Share right on gold (every label is right): p > 0.5 right, p = 0.5 half, no vote half."""
    p = np.nan_to_num(p, nan=0.5)
    return float(((p > 0.5) + 0.5 * (p == 0.5)).mean())


def with_judges(df: pl.DataFrame, judges: dict) -> pl.DataFrame:
    for (j, m), col in judges.items():
        df = add_votes(df, f"judge:{j}:{m}", "llm_judge", col, family=f"judge:{j}")
    return df


def bt_votes(df: pl.DataFrame, embedder: dict, name: str) -> pl.DataFrame:
    v = EmbedBTVoter(embedder=embedder, feature_maps=["resp", "prompt_resp"], seeds=[0, 1], voter=name)
    v.fit(lambda: iter([df]))
    return v(df)


def lm_votes(df: pl.DataFrame, cache: Path) -> pl.DataFrame:
    from curate.vote.lm_likelihood import LMLikelihoodVoter

    if cache.exists():
        m = np.load(cache)["margin"]
    else:
        v = LMLikelihoodVoter(threads=1)
        out = pl.concat([v(df[s: s + 32]) for s in range(0, df.height, 32)])
        m = np.array([x[-1]["margin"] if x[-1]["margin"] is not None else np.nan for x in out["votes"].to_list()])
        np.savez(cache, margin=m)
    return add_votes(df, "lm:smollm2", "lm_likelihood", list(1 / (1 + np.exp(-m))), list(m), family="lm:smollm2-135m")


def outcome(step, df: pl.DataFrame) -> dict:
    if getattr(step, "needs_full_pass", False):
        step.fit(lambda: iter([df]))
    out = step(df)
    dropped = sum(d.height for d in step.take_dropped())
    return {"flipped": int(out["flipped"].sum()), "dropped": dropped, "routed": int((out["decision"] == "route").sum()),
            "n": df.height, "out": out}


def section_voters(df: pl.DataFrame) -> None:
    vm = VoteMatrix.from_frame(df)
    fam = vm.by_family()
    print("\n## single voters and families on gold (accuracy; 0.5 / no vote counts half)")
    for name, mat in (("voter", vm), ("family", fam)):
        accs = sorted(((accuracy(mat.p[:, j]), v) for j, v in enumerate(mat.voters)), reverse=True)
        for a, v in accs[: 8 if name == "voter" else 20]:
            print(f"  {name:6s} {v:40s} {a:.3f}")


def section_ensembles(df: pl.DataFrame) -> None:
    vm = VoteMatrix.from_frame(df)
    print("\n## ensembles over the stored judges (accuracy on gold)")
    best = max(accuracy(vm.p[:, j]) for j in range(len(vm.voters)))
    side = np.where(np.isnan(vm.p), 0, np.sign(vm.p - 0.5))
    rows = {"best single judge": best, "majority (voters)": accuracy(0.5 + 0.5 * np.sign(side.sum(axis=1)))}
    fs = np.where(np.isnan(vm.by_family().p), 0, np.sign(vm.by_family().p - 0.5))
    rows["majority (families)"] = accuracy(0.5 + 0.5 * np.sign(fs.sum(axis=1)))
    for label, step in (("ensemble, families", Ensemble()),
                        ("ensemble, no families", Ensemble(families=False)),
                        ("ensemble_ds, families", EnsembleDS()),
                        ("ensemble_ds, no families", EnsembleDS(families=False))):
        if step.needs_full_pass:
            step.fit(lambda: iter([df]))
        rows[label] = accuracy(step.posterior(step.matrix(df)))
    for k, v in rows.items():
        print(f"  {k:28s} {v:.3f}")


def section_defaults(frames: dict[str, pl.DataFrame]) -> None:
    print("\n## curation with defaults, no gold: share of the (all correct) pairs flipped / dropped / routed")
    for name, df in frames.items():
        for label, step in (("ensemble hard", Ensemble()), ("ensemble_ds hard", EnsembleDS()),
                            ("ensemble soft", Ensemble(policy="soft")), ("clean_preferences.yaml", Ensemble(
                                keep_above=0.5, flip_below=0.2, route_strength=0.1))):
            r = outcome(step, df)
            print(f"  {name:22s} {label:24s} flipped {r['flipped'] / r['n']:.3f}  dropped {r['dropped'] / r['n']:.3f}"
                  f"  flip+drop {(r['flipped'] + r['dropped']) / r['n']:.3f}  routed {r['routed'] / r['n']:.3f}")


def section_gold(df: pl.DataFrame, tmp: Path, seed: int = 0) -> None:
    """Inject 20% flips; the first half (by a seeded draw) is the gold file; measure on the other half."""
    from curate.vote.decide import flip_pairs

    rng = np.random.default_rng(seed)
    noisy = rng.random(df.height) < 0.2
    gold_half = rng.random(df.height) < 0.5
    gold = write_frame(df.filter(pl.Series(gold_half)).drop("votes"), tmp / "gold.parquet")
    bad = flip_pairs(df, pl.Series(noisy), "inject").with_row_index("_i")
    print(f"\n## gold calibration: {int(noisy.sum())} of {df.height} labels flipped, "
          f"{int(gold_half.sum())} pairs as gold")
    for label, step in (("ensemble_ds + gold", EnsembleDS(gold={"path": str(gold)})),
                        ("ensemble + gold", Ensemble(gold={"path": str(gold)})),
                        ("ensemble_ds no gold", EnsembleDS()), ("ensemble no gold", Ensemble())):
        step.fit(lambda: iter([bad]))
        out = step(bad)
        kept_i = out["_i"].to_numpy()
        flipped = np.zeros(df.height, bool)  # flipped by the ensemble = final state differs from the injection
        flipped[kept_i[out["flipped"].to_numpy() != noisy[kept_i]]] = True
        dropped = ~np.isin(np.arange(df.height), kept_i)
        other, correct = ~gold_half, ~noisy
        fd = (flipped | dropped) & other & correct
        rec = (flipped & noisy & other).sum() / max((noisy & other).sum(), 1)
        acc = accuracy(np.where(noisy, 1 - step.posterior(step.matrix(bad)), step.posterior(step.matrix(bad)))[other])
        cal = step.stats.figures.get("calibration", {})
        print(f"  {label:22s} correct pairs flipped+dropped {fd.sum() / (other & correct).sum():.3f}"
              f"  injected flips undone {rec:.3f}  accuracy (held-out half) {acc:.3f}"
              f"  thresholds flip/drop {cal.get('flip_below')}/{cal.get('drop_below')}"
              f"  flip precision est {cal.get('precision', {}).get('flip')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--no-lm", action="store_true", help="skip the SmolLM2 likelihood voter (slow on CPU)")
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/curate-bench-vote"))
    args = ap.parse_args()
    args.tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    df, judges = load(args.data)
    print(f"{df.height} LLMBar pairs, {len(judges)} stored judge voters, loaded in {time.time() - t0:.0f}s")
    judged = with_judges(df, judges)
    offline = bt_votes(df, {}, "bt_minilm")
    offline = bt_votes(offline, {"backend": "hashing"}, "bt_lexical")
    if not args.no_lm:
        offline = lm_votes(offline, args.tmp / "lm_margins.npz")
    both = with_judges(offline, judges)
    section_voters(both)
    section_ensembles(judged)
    section_defaults({"judges": judged, "offline voters": offline, "judges + offline": both})
    section_gold(judged, args.tmp)
    print(f"\ntotal {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
