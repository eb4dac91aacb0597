"""Stored LLM judges on LLMBar's gold pairs: single judges, position consistency, ensembles.

    python benchmarks/judges.py [--data DIR] [--quick] [--judges GPT-4 ChatGPT] [--methods Vanilla CoT]

1. Every judge × pairwise method's stored replies become votes through curate's ``stored_judge``
   step (curate's verdict parser + llm_judge's swap rule), one voter each.
2. Table 1, per voter: accuracy against gold (mean over both orders, a parse failure counts wrong;
   the authors' own figure from statistics.json beside it), agreement of curate's parse with the
   authors', vote accuracy (p > ½ right, p = ½ or none counts ½), position consistency, parse failures.
3. Table 2, by subset: the best single voter (chosen out-of-fold: 5 folds grouped by prompt), plain
   majority votes (of voters, and of families = judges), curate's ``ensemble`` (equal weights; family
   weights fitted out-of-fold on the other folds' gold, as the log-odds of accuracy, or by curate's
   L2 logistic regression ``fit_logistic_weights``) and ``ensemble_ds`` (fitted on the votes alone,
   no gold), each run as a real step on the frame of votes. Accuracy as in Table 1, scored on a seeded
   mirrored copy (half the pairs shown the other way round, so the label, which is gold, cannot help
   an aggregator that trusts it); flipped / dropped-or-routed = what each step does to the correct
   labels in the gold orientation with its default thresholds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gold as g  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from curate.judge.stored import StoredJudge  # noqa: E402
from curate.vote.calibrate import fit_logistic_weights  # noqa: E402
from curate.vote.decide import flip_pairs  # noqa: E402
from curate.vote.ensemble import Ensemble, EnsembleDS  # noqa: E402
from curate.vote.matrix import VoteMatrix, logit  # noqa: E402

QUICK_METHODS = ("Vanilla", "CoT", "Swap")


def vote_accuracy(p: np.ndarray) -> np.ndarray:
    """Per pair: 1 if p favours chosen, 0 if it favours rejected, ½ for p = ½ or no vote."""
    return np.where(np.isnan(p), 0.5, np.where(p > 0.5, 1.0, np.where(p < 0.5, 0.0, 0.5)))


def import_votes(base: pl.DataFrame, data: Path, judges, methods, workdir: Path) -> tuple[pl.DataFrame, list[dict]]:
    """Run one stored_judge step per (judge, method) over the gold frame; rows of Table 1."""
    frame, table = base, []
    for judge in judges:
        for method in [m for m in g.verdict_methods(data, judge) if not methods or m in methods]:
            outs = judge_file(base, data, judge, method, workdir)
            step = StoredJudge(path=str(outs["path"]), voter=f"{judge}:{method}", family=judge)
            frame = step(frame)
            raw = [json.loads(v[-1]["raw"]) for v in frame["votes"].to_list()]
            ab_ok = np.array([r["verdicts"][0] == "A" for r in raw])
            ba_ok = np.array([r["verdicts"][1] == "B" for r in raw])
            mine = [r["verdicts"][0] == "A" if r["verdicts"][0] in ("A", "B") else None for r in raw] + \
                   [r["verdicts"][1] == "B" if r["verdicts"][1] in ("A", "B") else None for r in raw]
            theirs = outs["author_ab"] + outs["author_ba"]
            s = step.summary()
            table.append({"judge": judge, "method": method, "voter": step.voter,
                          "acc": float((ab_ok.mean() + ba_ok.mean()) / 2),
                          "authors": g.author_accuracy(data, judge, method),
                          "agree": float(np.mean([a == b for a, b in zip(mine, theirs)])),
                          "consistency": s["position_consistency"], "parse_fail": s["parse_failure_rate"]})
    return frame, table


def judge_file(base: pl.DataFrame, data: Path, judge: str, method: str, workdir: Path) -> dict:
    rows = g.judge_outputs(data, judge, method)
    path = g.write_jsonl([{"id": i, "ab": r["ab"], "ba": r["ba"]} for i, r in zip(base["id"], rows)],
                         workdir / f"{judge}__{method}.jsonl")
    return {"path": path, "author_ab": [r["author_ab"] for r in rows], "author_ba": [r["author_ba"] for r in rows]}


def run_ensemble(step, frame: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """p(gold chosen) and decision per row (in `_i` order) after running the step for real."""
    if step.needs_full_pass:
        step.fit(lambda: iter([frame]))
    out = pl.concat([step(frame), *[d.drop("_step", "_reason") for d in step.take_dropped()]], how="diagonal")
    out = out.sort("_i")
    p = out["p_chosen"].to_numpy().astype(float)
    p = np.where(out["flipped"].to_numpy(), 1 - p, p)  # back to the gold orientation
    return p, out["decision"].fill_null("drop").to_list() if "decision" in out.columns else []


def mirrored(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Half the pairs (seeded) shown the other way round. Gold is LLMBar's label, so in the gold
    orientation any aggregator that trusts the label (Dawid–Skene's label prior, a gold-fitted prior)
    is scored on its own input; mirrored, the label says nothing and only the votes decide. The step
    marks those rows `flipped`, which run_ensemble maps back to the gold orientation."""
    mask = pl.Series(np.random.default_rng(seed + 11).random(frame.height) < 0.5)
    return flip_pairs(frame, mask, "benchmark", "mirror")


def both_ways(make, frame: pl.DataFrame, seed: int) -> tuple[np.ndarray, list[str]]:
    """Accuracy from the mirrored frame, decisions (what happens to correct labels) from the gold one."""
    p, _ = run_ensemble(make(), mirrored(frame, seed))
    _, d = run_ensemble(make(), frame)
    return vote_accuracy(p), d


def oof_weights(fam: VoteMatrix, correct: np.ndarray, folds: np.ndarray, frame: pl.DataFrame, seed: int,
                C: float = 1.0):
    """Family weights fitted on 4 prompt-grouped folds, the Ensemble step run on the fifth; returns
    (accuracy, decisions) per kind: log-odds of family accuracy, and L2 logistic regression."""
    out = {}
    for kind in ("accuracy", "logistic"):
        acc, dec = np.zeros(frame.height), [""] * frame.height
        for f in np.unique(folds):
            test = folds == f
            train = VoteMatrix(fam.voters, fam.kinds, fam.p[~test], fam.margin[~test], fam.families)
            if kind == "logistic":
                w, pool = fit_logistic_weights(train, np.ones(train.rows, bool), C), "sum"  # every label is gold
            else:
                acc_f = correct[~test].mean(axis=0)
                w, pool = {v: float(max(logit(a), 0.0)) for v, a in zip(fam.voters, acc_f)}, "mean"
            a, d = both_ways(lambda w=w, pool=pool: Ensemble(weights=w, pool=pool, route=True),
                             frame.filter(pl.Series(test)), seed)
            acc[test] = a
            for i, x in zip(np.flatnonzero(test), d):
                dec[i] = x
        out[kind] = (acc, dec)
    return out


def majority(p: np.ndarray) -> np.ndarray:
    sign = np.nansum(np.sign(np.nan_to_num(p - 0.5)), axis=1)
    return np.where(sign > 0, 1.0, np.where(sign < 0, 0.0, 0.5))


def ensembles(frame: pl.DataFrame, voters: list[str], folds: np.ndarray, seed: int = 0,
              C: float = 1.0) -> dict[str, tuple]:
    keep = pl.element().struct.field("voter").is_in(voters)
    frame = frame.with_columns(pl.col("votes").list.eval(pl.element().filter(keep)))
    vm = VoteMatrix.from_frame(frame, voters)
    fam = vm.by_family()
    correct = vote_accuracy(vm.p)  # (pairs, voters)
    best = np.zeros(frame.height)
    for f in np.unique(folds):
        test = folds == f
        best[test] = correct[test, int(np.argmax(correct[~test].mean(axis=0)))]
    fitted = oof_weights(fam, vote_accuracy(fam.p), folds, frame, seed, C)
    return {"best single voter (out-of-fold)": (best, None),
            f"majority vote ({len(vm.voters)} voters)": (majority(vm.p), None),
            f"majority vote ({len(fam.voters)} families)": (majority(fam.p), None),
            "ensemble (equal weights)": both_ways(lambda: Ensemble(route=True), frame, seed),
            "ensemble (accuracy weights, out-of-fold)": fitted["accuracy"],
            "ensemble (logistic weights, out-of-fold)": fitted["logistic"],
            "ensemble_ds": both_ways(lambda: EnsembleDS(route=True), frame, seed)}


def print_table1(table: list[dict]) -> None:
    print("\n## Single judges on LLMBar (419 gold pairs, both orders)\n")
    print("| judge | method | acc (curate parse) | acc (authors) | parse agrees w/ authors | "
          "position consistency | parse failures |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in table:
        print(f"| {r['judge']} | {r['method']} | {g.pct(r['acc'])} | {g.pct(r['authors'])} | {g.pct(r['agree'])} | "
              f"{g.pct(r['consistency'] or 0)} | {g.pct(r['parse_fail'] or 0)} |")


def print_table2(name: str, results: dict, subsets: np.ndarray) -> None:
    groups = {"Natural": subsets == "Natural", "Adversarial": subsets != "Natural", "all": np.ones(len(subsets), bool)}
    print(f"\n## Ensembles vs best single voter: {name}\n")
    print("| method | Natural | Adversarial | all | flipped (all) | dropped or routed (all) |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, (acc, dec) in results.items():
        cells = [g.pct(acc[m].mean()) for m in groups.values()]
        flips = g.pct(np.mean([x == "flip" for x in dec])) if dec else "-"
        held = g.pct(np.mean([x in ("drop", "route") for x in dec])) if dec else "-"
        print(f"| {method} | {' | '.join(cells)} | {flips} | {held} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="shared data folder (default: $CURATE_SHARED_DATA or ../shared/data)")
    ap.add_argument("--judges", nargs="*", default=list(g.JUDGES))
    ap.add_argument("--methods", nargs="*", default=None, help="default: every pairwise method")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_METHODS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=float, default=1.0, help="logistic weights: inverse L2 strength (gold.C's default)")
    args = ap.parse_args(argv)
    data = g.shared_data(args.data)
    if not (data / "llmbar").is_dir():
        sys.exit(f"LLMBar not found under {data}; pass --data or set {g.ENV_DATA}")
    methods = set(args.methods or (QUICK_METHODS if args.quick else ()))
    t0 = time.perf_counter()
    rows = g.load_llmbar(data)
    base = g.pair_frame(g.llmbar_pairs(rows)).with_row_index("_i")
    frame, table = import_votes(base, data, args.judges, methods, g.BENCHDATA / "judges")
    print_table1(table)
    subsets = np.array([r["subset"] for r in rows])
    folds = g.prompt_folds([r["input"] for r in rows], 5, args.seed)
    voters = [r["voter"] for r in table]
    print_table2(f"all {len(voters)} voters", ensembles(frame, voters, folds, args.seed, args.C), subsets)
    vanilla = [r["voter"] for r in table if r["method"] == "Vanilla"]
    if 1 < len(vanilla) < len(voters):
        print_table2(f"one voter per judge (Vanilla, {len(vanilla)} voters)",
                     ensembles(frame, vanilla, folds, args.seed, args.C), subsets)
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
