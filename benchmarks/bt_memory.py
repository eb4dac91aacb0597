"""Memory of embed_bt_voter's full pass at growing N: peak RSS must not grow with N beyond a few
bytes per pair (the vectors live in float16 files under the run dir; see curate/vote/bt_stream.py).

Each size runs the step's ``fit`` (embed, store, out-of-fold fits) and ``process`` in a fresh
subprocess over the scale benchmark's data (benchmarks/scale.py writes it), and prints peak RSS
and its growth per added pair between the smallest and the largest size.

    python benchmarks/bt_memory.py                                   # 50k, 200k, 800k; hashing embedder (256-d)
    python benchmarks/bt_memory.py --sizes 100000 400000 --memory-mb 0 --embedder hashing

``--memory-mb`` is the step's ``memory_mb`` (float32 chunks kept across passes, a fixed cap):
0 shows the bare streaming cost. The hashing embedder is the scale benchmark's (256-d); `fake` is a slower Python loop,
kept for machines without scikit-learn. Figures are RSS, never timed assertions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def child(n: int, embedder: str, memory_mb: int) -> None:

    from scale import generate

    from curate.context import RunContext
    from curate.io.reader import Reader
    from curate.vote.embed_bt import EmbedBTVoter

    emb = {"backend": "fake"} if embedder == "fake" else {"backend": "hashing", "cache": False, "options": {"dim": 256}}
    step = EmbedBTVoter(embedder=emb, feature_maps=["resp"], seeds=[0], memory_mb=memory_mb)
    run = Path(tempfile.mkdtemp(prefix="bt-mem-"))
    step.setup(RunContext.for_dir(run))
    path = str(generate(max(n, 1_000_000)))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def batches():
        for b in Reader(path, format="hh", limit=n, batch_size=5000).batches():
            yield b.frame

    start = time.perf_counter()
    step.fit(batches)
    voted = sum(step.process(b).height for b in batches())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"pairs": voted, "seconds": time.perf_counter() - start, "peak_rss_mb": peak,
                      "before_mb": base}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 800_000])
    ap.add_argument("--embedder", choices=["fake", "hashing"], default="hashing")
    ap.add_argument("--memory-mb", type=int, default=1024)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.embedder, a.memory_mb)
    rows = []
    for n in a.sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--embedder", a.embedder,
                               "--memory-mb", str(a.memory_mb)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{n:>9,}: failed: {proc.stderr.strip()[-600:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{r['pairs']:>9,} pairs: peak RSS {r['peak_rss_mb']:7.0f} MB (before the step {r['before_mb']:.0f} MB)"
              f"  {r['seconds']:7.1f} s", flush=True)
    if len(rows) > 1:
        lo, hi = rows[0], rows[-1]
        per = (hi["peak_rss_mb"] - lo["peak_rss_mb"]) * 2**20 / (hi["pairs"] - lo["pairs"])
        print(f"growth: {per:.0f} bytes of peak RSS per added pair (memory_mb={a.memory_mb})")


if __name__ == "__main__":
    main()
