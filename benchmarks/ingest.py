"""Ingest benchmark: JSONL → validated Parquet, curate vs pandas, throughput and peak memory.

Peak RSS is the biggest single process (the reader's worker processes included), CPU seconds are
all processes' user + system time. Generates JSONL files of the requested sizes by resampling the
shared HH-RLHF sample with perturbations (so ids are distinct), then runs, each in a fresh
subprocess so peak RSS is its own:

* curate: the reader (HH transcript parsing, validation, ids, quarantine) + Parquet shards,
  i.e. `curate run` with no steps;
* pandas: `pandas.read_json(lines=True)` + `DataFrame.to_parquet` (no parsing or validation).

    python benchmarks/ingest.py                     # 1 GB and 10 GB for curate, 1 GB for pandas
    python benchmarks/ingest.py --sizes-gb 0.2 2 --pandas-max-gb 0.2
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from _gold import shared_data  # ../shared/data, $CURATE_SHARED_DATA, or a worktree's

ROOT = Path(__file__).resolve().parents[1]
HH = shared_data() / "hh-rlhf-harmless-base-test.jsonl.gz"
DATA = ROOT / ".benchdata"


def generate(size_gb: float) -> Path:
    path = DATA / f"hh-{size_gb:g}gb.jsonl"
    if path.exists():
        return path
    DATA.mkdir(exist_ok=True)
    rows = [json.loads(x) for x in gzip.open(HH, "rt", encoding="utf-8")]
    rng = random.Random(0)
    target = int(size_gb * 1e9)
    tmp = path.with_suffix(".tmp")
    written, k = 0, 0
    with open(tmp, "w", encoding="utf-8") as fh:
        while written < target:
            r = rows[k % len(rows)]
            tag = f" [{k // len(rows)}-{rng.randrange(10**6)}]"
            line = json.dumps({"chosen": r["chosen"] + tag, "rejected": r["rejected"] + tag}) + "\n"
            fh.write(line)
            written += len(line.encode("utf-8"))
            k += 1
    os.replace(tmp, path)
    return path


def child(mode: str, path: str, out: str) -> None:
    start = time.perf_counter()
    if mode.startswith("curate"):
        import curate.io.reader
        from curate import Pipeline

        if mode == "curate-threads":  # the reader's threads only, as before the process pool
            curate.io.reader.PROCESS_MIN_BYTES = 1 << 62
        if mode == "curate-processes":  # the process pool even where the reader would not use it (2 cores)
            curate.io.reader.PROCESS_MIN_CPUS = 1

        stats = Pipeline(input={"path": path, "format": "hh"}, steps=[], output={"dir": out},
                         batch_size=20_000).run(overwrite=True)
        n = stats["output"]["records"]
    else:
        import pandas as pd

        df = pd.read_json(path, lines=True)
        df.to_parquet(Path(out) / "out.parquet")
        n = len(df)
    secs = time.perf_counter() - start
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # the reader's worker processes are this process's children (reaped when the pool closes): the
    # biggest of them counts, and CPU seconds are everyone's (on a loaded machine, steadier than wall time)
    peak = max(me.ru_maxrss, kids.ru_maxrss) / 1024  # KiB → MiB
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"mode": mode, "records": n, "seconds": secs, "cpu_seconds": cpu, "peak_rss_mb": peak}))


def measure(mode: str, path: Path) -> dict:
    out = DATA / f"out-{mode}"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(out)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if proc.returncode != 0:
        return {"mode": mode, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["mb_per_s"] = path.stat().st_size / 1e6 / res["seconds"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-gb", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--pandas-max-gb", type=float, default=1.0, help="pandas holds everything in memory")
    ap.add_argument("--threads", action="store_true",
                    help="also run curate with reader threads only, and with the process pool forced")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    # curate's bytecode first, as an installed package has it: where PYTHONDONTWRITEBYTECODE is set (as
    # on the benchmark machine) the reader and each worker would otherwise compile ~100 modules anew
    compileall.compile_dir(str(ROOT / "curate"), quiet=1)
    print(f"{'size':>8} {'engine':>7} {'records':>10} {'seconds':>8} {'cpu s':>6} {'MB/s':>7} {'peak RSS MB':>11}")
    for size in a.sizes_gb:
        path = generate(size)
        modes = ("curate", "curate-threads", "curate-processes", "pandas") if a.threads else ("curate", "pandas")
        for mode in modes:
            if mode == "pandas" and size > a.pandas_max_gb:
                continue
            r = measure(mode, path)
            if "error" in r:
                print(f"{size:>7g}G {mode:>7} error: {r['error']}")
                continue
            print(f"{size:>7g}G {mode:>7} {r['records']:>10,} {r['seconds']:>8.1f} {r['cpu_seconds']:>6.1f} "
                  f"{r['mb_per_s']:>7.1f} "
                  f"{r['peak_rss_mb']:>11.0f}", flush=True)


if __name__ == "__main__":
    main()
