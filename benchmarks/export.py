"""Export throughput: split + layout + Parquet shards + arrow copy + card, on the HH sample repeated.

    python benchmarks/export.py --copies 20        # ~46k pairs

    python benchmarks/export.py --memory 2,8        # peak RSS: streamed vs in-memory, at 2 and 8 copies

    python benchmarks/export.py --scale 100000 300000 1000000   # µs/pair per part of the streamed export

    python benchmarks/export.py --pass1 1000000     # the split plan alone: seconds, bytes/pair held, peak RSS

Prints seconds and pairs/s per stage and the peak RSS; no assertions. ``--memory`` writes the records
as 5,000-pair shards (a run's data/), then exports them in a fresh process per size and mode: the
streaming path (``export_stream`` over ``iter_shards``) and the in-memory one (``export_dataset`` of
``read_records``), printing each process's peak RSS.

``--scale N ...`` exports N synthetic pairs (HH's texts, so HH's lengths; a unique id per row, two
sources, a p_chosen, a cluster_id over two copies, every prompt shared by 4 rows) streamed in
5,000-row batches built on the fly (nothing held), each size in a fresh process. It prints the
seconds and µs per pair of pass 1 (split keys, split assignment, opening the writers), pass 2
(layout, unique ids, Parquet + arrow shards), the finish (closing and renaming; the whole arrow copy
before it was written in pass 2), the export step's ``process`` lookups, all without the time spent
building batches; the process's peak RSS; and each part's µs/pair ratio to the first size.

``--pass1 N ...`` runs only pass 1 (``plan_splits``) over the same synthetic batches, each size in a
fresh process: its seconds without building batches, the bytes per pair of what it keeps (the
``SplitKeys`` frame) and of the ``SplitPlan``, and the growth of the process's peak RSS over the
export's start (one batch built) per pair, which adds the grouping's transient arrays and the
allocator's slack.
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


def _scale_batches(n: int, batch: int = 5000):
    """`n` synthetic pairs in `batch`-row frames, rebuilt from HH's records on every call (see --scale)."""
    base = pl.concat([b.frame for b in Reader(str(HH), format="hh", batch_size=5000).batches()])

    def tagged(rows: pl.DataFrame, copy: int) -> pl.DataFrame:
        # 4 consecutive copies of the base rows share each prompt text, so groups span batches
        content = pl.element().struct.field("content") + f" #{copy // 4}"
        return rows.with_columns(pl.col("prompt").list.eval(pl.struct(pl.element().struct.field("role"),
                                                                       content.alias("content"))))

    def batches():
        for start in range(0, n, batch):
            parts, k = [], start
            while k < min(n, start + batch):  # runs of one copy of the base rows
                take = min(base.height - k % base.height, min(n, start + batch) - k)
                parts.append(tagged(base.slice(k % base.height, take), k // base.height))
                k += take
            i = pl.int_range(start, k, eager=True)
            yield pl.concat(parts).with_columns(
                pl.col("id") + "-" + i.cast(pl.Utf8),
                pl.when(i % 3 == 0).then(pl.lit("hh-b")).otherwise(pl.lit("hh-a")).alias("source"),
                ((i * 7919) % 1000 / 1000).alias("p_chosen"),
                # a dedup cluster: the same base row in two consecutive copies (near-duplicates, one prompt)
                pl.format("c{}-{}", i // (2 * base.height), i % base.height).alias("cluster_id"))
    return batches


class _Clock:
    """Wraps a batches() callable: the seconds spent building batches (not the export's), and when each
    call began and its batches ran out."""

    def __init__(self, batches):
        self.batches, self.making, self.calls = batches, 0.0, []

    def __call__(self):
        self.calls.append({"start": time.perf_counter(), "made": self.making})
        it = self.batches()
        while True:
            t = time.perf_counter()
            b = next(it, None)
            self.making += time.perf_counter() - t
            if b is None:
                self.calls[-1]["end"] = time.perf_counter()
                return
            yield b

    def between(self, t0: float, t1: float, made0: float, made1: float) -> float:
        return t1 - t0 - (made1 - made0)


def _scale_child(n: int, out: str) -> None:
    """One --scale size in this (fresh) process; prints a JSON line of seconds per part and the peak RSS."""
    import json

    from curate.export.step import Export
    from curate.export.writer import export_stream

    clock = _Clock(_scale_batches(n))
    t = time.perf_counter()
    info, plan = export_stream(clock, out, layout="trl", shard_mb=64)
    end = time.perf_counter()
    two = clock.calls[1]
    # pass 1 runs until pass 2 asks for batches (so it includes assigning the splits and opening the
    # writers); pass 2 until its batches run out; the finish is the rest (closing, renaming, metadata)
    parts = {"pass 1 (split plan)": clock.between(t, two["start"], 0.0, two["made"]),
             "pass 2 (write)": clock.between(two["start"], two["end"], two["made"], clock.making),
             "finish": end - two["end"]}
    step = Export(out=out, card=False)
    step._split_of = plan
    lookups = _Clock(_scale_batches(n))
    for b in lookups():
        step.process(b)
    parts["step process()"] = lookups.between(lookups.calls[0]["start"], lookups.calls[0]["end"], 0.0,
                                              lookups.making)
    parts["export total"] = end - t - clock.making
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": sum(info.splits.values()), "parts": parts, "rss_mb": rss}))


def _pass1_child(n: int) -> None:
    """One --pass1 size in this (fresh) process; prints one line."""
    import curate.export.split as split

    clock = _Clock(_scale_batches(n))
    next(iter(clock()))  # imports, HH read, one batch built: the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    held = {}
    assign = split.assign_keys

    def spy(keys, *a, **kw):
        held["keys"] = keys.frame().estimated_size()
        return assign(keys, *a, **kw)

    split.assign_keys = spy
    clock.making = 0.0
    t = time.perf_counter()
    plan = split.plan_splits(clock, {"train": 0.9, "test": 0.1}, seed=0)
    sec = time.perf_counter() - t - clock.making
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{n:>10,} pairs  pass 1 {sec:6.2f}s {sec / n * 1e6:5.1f} µs/pair  keys {held['keys'] / n:5.1f} B/pair  "
          f"plan {(plan._hash.nbytes + plan._code.nbytes) / n:4.1f} B/pair  "
          f"peak RSS +{(peak - base) / n:4.0f} B/pair ({peak / 2**20:,.0f} MB)")


def scale(sizes: list[int]) -> None:
    import json

    runs = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, __file__, "--scale-child", str(n), str(Path(tmp) / "x")],
                                 check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        r = runs[-1]
        print(f"{r['n']:>10,} pairs  peak RSS {r['rss_mb']:6.0f} MB")
        for part, sec in r["parts"].items():
            ratio = (sec / r["n"]) / (runs[0]["parts"][part] / runs[0]["n"])
            print(f"    {part:<22} {sec:8.2f}s  {sec / r['n'] * 1e6:8.1f} µs/pair  ×{ratio:4.2f} vs first size")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--memory", help="comma-separated copy counts: peak RSS of each export mode per size")
    ap.add_argument("--scale", type=int, nargs="+", help="pair counts: µs/pair of each part of a streamed export")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--pass1", type=int, nargs="+", help="pair counts: pass 1 (split plan) alone, time and memory")
    ap.add_argument("--scale-child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--pass1-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)
    if args.scale_child:
        return _scale_child(int(args.scale_child[0]), args.scale_child[1])
    if args.scale:
        return scale(args.scale)
    if args.pass1_child:
        return _pass1_child(args.pass1_child)
    if args.pass1:
        for n in args.pass1:
            subprocess.run([sys.executable, __file__, "--pass1-child", str(n)], check=True)
        return None
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
