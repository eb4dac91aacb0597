"""How many CORRECT labels the clean-preferences pipeline's voting and decision steps flip or drop.

    python benchmarks/false_positives.py [--data DIR] [--gold FILE] [--pipeline YAML] [--quick]
                                         [--calibrate K] [--gold-noise 0.2]

1. Gold pairs: LLMBar's 419 (chosen = the gold output), or ``--gold FILE`` (JSONL / JSON array with
   prompt, chosen, rejected and an optional ``gold`` subset column; chosen is taken as correct).
2. The pipeline's voters (steps that write ``votes``) and deciders (steps that write ``decision``)
   are taken from its YAML with their options as configured there, nothing hard-coded, and run
   through ``curate run`` (the real runner) on two inputs: the gold pairs mixed into the HH sample
   (the voters train out-of-fold on whatever they see, so a realistic mix matters) and gold alone.
3. On the gold pairs only: the share kept, flipped, routed and dropped, per subset. Every flip and
   drop of a correct label is a false positive; a route costs a human a look.
4. ``--calibrate K``: the same with gold calibration, cross-fitted. The gold pairs are split into K
   prompt-grouped folds; for fold f the deciders get ``gold: {path: <the other folds>,
   target_precision: 0.9}`` and only fold f's pairs are counted, so no evaluated pair is in the gold
   the thresholds were fitted on. In the run, ``--gold-noise`` of the other folds' pairs carry the
   wrong label (a verified slice of real data has wrong labels too; with every gold label right there
   is nothing to calibrate a flip on and the figure would be 0% by construction).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gold as g  # noqa: E402
import polars as pl  # noqa: E402
import yaml  # noqa: E402


def gold_pairs(data: Path, gold_file: str | None) -> list[dict]:
    if not gold_file:
        return g.llmbar_pairs(g.load_llmbar(data))
    from curate.judge.stored import read_outputs

    out = []
    for r in read_outputs(gold_file):
        prompt = r["prompt"] if isinstance(r["prompt"], list) else [{"role": "user", "content": r["prompt"]}]
        out.append({"prompt": prompt, "chosen": r["chosen"], "rejected": r["rejected"],
                    "gold": str(r.get("gold") or r.get("subset") or "gold")})
    return out


def hh_pairs(data: Path, limit: int | None) -> list[dict]:
    from curate.io.reader import Reader

    path = data / "hh-rlhf-harmless-base-test.jsonl.gz"
    df = pl.concat([b.frame for b in Reader(str(path), format="hh", batch_size=5000, limit=limit).batches()])
    return [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"], "gold": ""}
            for r in df.select("prompt", "chosen", "rejected").to_dicts()]


def pipeline_file(pairs_path: Path, run_dir: Path, source: Path, decider_options: dict | None = None) -> Path:
    """A pipeline YAML: the pairs file as input, then the source pipeline's voting part as configured
    (`decider_options` merged into the steps that write `decision`)."""
    from curate.registry import STEPS

    cfg = yaml.safe_load(source.read_text())
    steps = [{"step": name, **opts, **(decider_options or {} if "decision" in STEPS.get(name).outputs else {})}
             for name, opts in g.voting_steps(source)]
    out = {"name": "false-positives", "input": {"path": str(pairs_path), "format": "mapping",
           "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}},
           "batch_size": cfg.get("batch_size", 1000), "seed": cfg.get("seed", 0), "steps": steps,
           "output": {"dir": str(run_dir), "format": "parquet"}}
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(out, sort_keys=False))
    return path


def run_curate(cfg: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(g.ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "curate.cli.main", "run", str(cfg), "--overwrite", "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"curate run failed:\n{done.stderr[-3000:]}")


def outcomes(run_dir: Path) -> pl.DataFrame:
    """One row per gold pair in the run's output or rejected/: subset and outcome."""
    frames = [pl.read_parquet(f).select("metadata", "decision", "flipped")
              for f in sorted((run_dir / "data").glob("*.parquet"))]
    gone = [pl.read_parquet(f).select("metadata", "_reason").with_columns(pl.lit("drop").alias("decision"))
            for f in sorted((run_dir / "rejected").glob("*.parquet"))]
    df = pl.concat(frames + [d.drop("_reason") for d in gone], how="diagonal")
    df = df.with_columns(pl.col("metadata").map_elements(lambda m: json.loads(m).get("gold", ""),
                                                         return_dtype=pl.Utf8).alias("subset"))
    return df.filter(pl.col("subset") != "")


def print_table(name: str, df: pl.DataFrame) -> None:
    print(f"\n## {name}: outcome of {df.height} correct pairs\n")
    print("| subset | pairs | kept | flipped | routed | dropped | flipped or dropped |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    groups = [(s, df.filter(pl.col("subset") == s)) for s in sorted(df["subset"].unique())]
    adv = df.filter(pl.col("subset").str.starts_with("Adversarial"))
    if adv.height and adv.height < df.height:
        groups.append(("Adversarial (all)", adv))
    groups.append(("all", df))
    for s, d in groups:
        share = {k: (d["decision"] == k).mean() for k in ("keep", "flip", "route", "drop")}
        bad = share["flip"] + share["drop"]
        print(f"| {s} | {d.height} | {g.pct(share['keep'])} | {g.pct(share['flip'])} | {g.pct(share['route'])} | "
              f"{g.pct(share['drop'])} | {g.pct(bad)} |")


def cross_fit_runs(gold: list[dict], hh: list[dict], k: int, noise: float, work: Path, source: Path,
                   seed: int = 0) -> pl.DataFrame:
    """Outcomes of every gold pair from the run in which its fold was held out of the gold file."""
    import numpy as np

    folds = g.prompt_folds([p["prompt"][-1]["content"] for p in gold], k, seed)
    rng = np.random.default_rng(seed)
    parts = []
    for f in range(k):
        held = [p for p, x in zip(gold, folds) if x == f]
        fit = [p for p, x in zip(gold, folds) if x != f]
        gold_file = g.write_jsonl([{**p, "gold": ""} for p in fit], work / f"gold{f}.jsonl")
        wrong = rng.random(len(fit)) < noise
        shown = [{**p, "chosen": p["rejected"], "rejected": p["chosen"], "gold": ""} if w else {**p, "gold": ""}
                 for p, w in zip(fit, wrong)]
        src = g.write_jsonl(held + shown + hh, work / f"cal{f}.jsonl")
        run_dir = work / f"cal{f}"
        opts = {"gold": {"path": str(gold_file), "target_precision": 0.9}}
        run_curate(pipeline_file(src, run_dir, source, opts))
        parts.append(outcomes(run_dir))
    return pl.concat(parts, how="diagonal")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="shared data folder (default: $CURATE_SHARED_DATA or ../shared/data)")
    ap.add_argument("--gold", help="a gold file instead of LLMBar (chosen is correct)")
    ap.add_argument("--pipeline", default=str(g.PIPELINE), help="the pipeline whose voting part is measured")
    ap.add_argument("--quick", action="store_true", help="mix into the first 800 HH pairs only")
    ap.add_argument("--calibrate", type=int, default=0, metavar="K",
                    help="also measure with gold calibration, cross-fitted over K prompt-grouped folds")
    ap.add_argument("--gold-noise", type=float, default=0.2, help="with --calibrate: share of the gold "
                    "folds' pairs shown with the wrong label in the run")
    ap.add_argument("--skip-plain", action="store_true", help="with --calibrate: only the calibrated runs")
    args = ap.parse_args(argv)
    data = g.shared_data(args.data)
    g.use_bench_cache()
    t0 = time.perf_counter()
    gold = gold_pairs(data, args.gold)
    work = g.BENCHDATA / "false_positives"
    print("voting part of", args.pipeline + ":", ", ".join(n for n, _ in g.voting_steps(Path(args.pipeline))))
    hh = hh_pairs(data, 800 if args.quick else None)
    mixes = {"gold mixed into HH": gold + hh, "gold alone": gold}
    for k, (name, pairs) in enumerate(mixes.items()):
        if args.skip_plain:
            break
        src = g.write_jsonl(pairs, work / f"mix{k}.jsonl")
        run_dir = work / f"run{k}"
        run_curate(pipeline_file(src, run_dir, Path(args.pipeline)))
        print_table(f"{name} ({len(pairs)} pairs in the run)", outcomes(run_dir))
    for k, (name, extra) in enumerate({"mixed into HH": hh, "alone": []}.items()):
        if args.calibrate:
            df = cross_fit_runs(gold, extra, args.calibrate, args.gold_noise, work / f"calibrated{k}",
                                Path(args.pipeline))
            print_table(f"gold-calibrated (target 0.9, {args.calibrate}-fold cross-fit, {args.gold_noise:.0%} "
                        f"wrong labels in the gold folds), {name}", df)
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
