"""Export throughput: split + layout + Parquet shards + arrow copy + card, on the HH sample repeated.

    python benchmarks/export.py --copies 20        # ~46k pairs

    python benchmarks/export.py --memory 2,8        # peak RSS: streamed vs in-memory, at 2 and 8 copies

Prints seconds and pairs/s per stage and the peak RSS; no assertions. ``--memory`` writes the records
as 5,000-pair shards (a run's data/), then exports them in a fresh process per size and mode: the
streaming path (``export_stream`` over ``iter_shards``) and the in-memory one (``export_dataset`` of
``read_records``), printing each process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from _gold import shared_data  # ../shared/data, $CURATE_SHARED_DATA, or a worktree's

from curate.export.layouts import LAYOUTS, to_layout
from curate.export.split import assign_splits
from curate.export.writer import export_dataset
from curate.io.reader import Reader

# ../shared/data beside a CI clone; CURATE_SHARED_DATA elsewhere (e.g. a worktree)
HH = shared_data() / "hh-rlhf-harmless-base-test.jsonl.gz"


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


def _child(mode: str, shards: str, out: str) -> None:
    """One export in this (fresh) process; prints its peak RSS."""
    from curate.export.writer import export_stream
    from curate.io.writers import iter_shards, read_records

    t = time.perf_counter()
    if mode == "stream":
        info, _ = export_stream(lambda: iter_shards(shards), out, layout="trl", shard_mb=64)
    else:
        info = export_dataset(read_records(shards), out, layout="trl", shard_mb=64)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{mode:<9} {sum(info.splits.values()):>9,} pairs  {time.perf_counter() - t:7.2f}s  peak RSS {rss:6.0f} MB")


def memory(sizes: list[int]) -> None:
    from curate.io.writers import ShardWriter

    for copies in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            df = records(copies)
            for i in range(0, df.height, 5000):
                ShardWriter(Path(tmp) / "data").write(i // 5000, df.slice(i, 5000))
            del df
            for mode in ("stream", "in-memory"):
                subprocess.run([sys.executable, __file__, "--child", mode, tmp, str(Path(tmp) / mode)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--memory", help="comma-separated copy counts: peak RSS of each export mode per size")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)
    if args.memory:
        return memory([int(x) for x in args.memory.split(",")])
    df = records(args.copies)
    print(f"{df.height:,} pairs")
    timed("split (group+stratify)", df.height, lambda: assign_splits(df, {"train": 0.9, "test": 0.1}))
    for layout in LAYOUTS:
        timed(f"layout {layout}", df.height, lambda layout=layout: to_layout(df, layout))
    with tempfile.TemporaryDirectory() as tmp:
        timed("export trl (parquet+arrow)", df.height,
              lambda: export_dataset(df, Path(tmp) / "x", layout="trl", shard_mb=64))
        size = sum(p.stat().st_size for p in (Path(tmp) / "x" / "data").glob("*.parquet"))
        print(f"parquet: {size / 1e6:.1f} MB")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
