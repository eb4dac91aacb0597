"""semantic_dedup's decisions with its default index vs the exact (flat) index, on the scale data.

    python benchmarks/dedup_recall.py                  # 100k pairs
    python benchmarks/dedup_recall.py --pairs 300000 --set 'index={kind: compressed, refine: 32}'

Runs the clean-preferences pipeline up to and including semantic_dedup (hashing embedder, as
benchmarks/scale.py) twice over the same generated pairs: once with the step's default index, once
with ``index: {kind: flat}`` (exact search). Prints how many of the exact run's semantic removals
the default run also makes (the recall the issue asks ≥ 98% of), how many removals it makes that
the exact run does not, and each run's seconds in the step.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import scale

LATER = ["embed_bt_voter", "ensemble", "bias_report", "export"]  # the steps after semantic_dedup


def run(data: Path, out: Path, sets: list[str]) -> tuple[set[str], float]:
    cmd = [sys.executable, scale.__file__, "--child", scale.ROOT / "pipelines" / "clean_preferences.yaml", data, out,
           "local"] + [x for kv in scale.HASHING + sets + [f"skip:{s}" for s in LATER] for x in ("--set", kv)]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          env={**scale.os.environ, "PYTHONPATH": str(scale.ROOT), "HF_HUB_OFFLINE": "1"})
    if proc.returncode:
        raise SystemExit(f"run failed: {proc.stderr[-800:]}")
    steps = {name: secs for name, secs, _, _ in json.loads(proc.stdout.strip().splitlines()[-1])["steps"]}
    rejected = pl.read_parquet(out / "rejected" / "*.parquet", columns=["id", "_reason"])
    removed = set(rejected.filter(pl.col("_reason").str.starts_with("semantic"))["id"].to_list())
    return removed, steps["semantic_dedup"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="options of the run under test (the exact run gets index={kind: flat})")
    a = ap.parse_args()
    data = scale.generate(a.pairs)
    got, t_got = run(data, scale.DATA / f"dedup-recall-{a.pairs}-default", a.sets)
    exact, t_exact = run(data, scale.DATA / f"dedup-recall-{a.pairs}-exact", ["index={kind: flat}"])
    both = len(got & exact)
    print(f"{a.pairs:,} pairs: the exact index removes {len(exact):,}, the default index {len(got):,}; "
          f"recall {both / max(1, len(exact)):.4f} ({both:,} of {len(exact):,}), {len(got - exact):,} removed "
          f"that the exact run keeps; semantic_dedup {t_got:.1f} s vs exact {t_exact:.1f} s")


if __name__ == "__main__":
    main()
