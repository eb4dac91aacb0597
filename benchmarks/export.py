"""Export throughput: split + layout + Parquet shards + arrow copy + card, on the HH sample repeated.

    python benchmarks/export.py --copies 20        # ~46k pairs

Prints seconds and pairs/s per stage and the peak RSS; no assertions.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import polars as pl

from curate.export.layouts import LAYOUTS, to_layout
from curate.export.split import assign_splits
from curate.export.writer import export_dataset
from curate.io.reader import Reader

HH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"


def records(copies: int) -> pl.DataFrame:
    base = pl.concat([b.frame for b in Reader(str(HH), format="hh", batch_size=5000).batches()])
    # distinct prompts per copy, so the grouping has real work to do
    return pl.concat([base.with_columns(pl.col("id") + f"-{k}",
                                        pl.col("prompt").list.eval(pl.struct(
                                            pl.element().struct.field("role"),
                                            pl.element().struct.field("content") + f" #{k}")))
                      for k in range(copies)])


def timed(label: str, n: int, fn):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    print(f"{label:<28} {dt:7.2f}s  {n / dt:>10,.0f} pairs/s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=20)
    args = ap.parse_args()
    df = records(args.copies)
    print(f"{df.height:,} pairs")
    timed("split (group+stratify)", df.height, lambda: assign_splits(df, {"train": 0.9, "test": 0.1}))
    for layout in LAYOUTS:
        timed(f"layout {layout}", df.height, lambda: to_layout(df, layout))
    with tempfile.TemporaryDirectory() as tmp:
        timed("export trl (parquet+arrow)", df.height,
              lambda: export_dataset(df, Path(tmp) / "x", layout="trl", shard_mb=64))
        size = sum(p.stat().st_size for p in (Path(tmp) / "x" / "data").glob("*.parquet"))
        print(f"parquet: {size / 1e6:.1f} MB")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
