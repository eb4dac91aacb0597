"""Scale benchmark: the clean-preferences pipeline at growing sizes; wall time, peak RSS, time per stage.

Data: the shared HH-RLHF sample resampled with perturbations (a random tag and a shuffled word
pair per copy, so copies are near-duplicates but not exact ones) to N pairs.
Each size runs in a fresh subprocess so its peak RSS is its own.

    python benchmarks/scale.py --sizes 10000 100000 1000000
    python benchmarks/scale.py --sizes 10000 --pipeline pipelines/clean_preferences.yaml
    python benchmarks/scale.py --sizes 10000 100000 --set embedder=fake   # engine cost without the model

``--set KEY=VALUE`` overrides that option in every step that has it (e.g. embedder, batch_size).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HH = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"
DATA = ROOT / ".benchdata"


def generate(n: int) -> Path:
    path = DATA / f"hh-scale-{n}.jsonl"
    if path.exists():
        return path
    DATA.mkdir(exist_ok=True)
    rows = [json.loads(x) for x in gzip.open(HH, "rt", encoding="utf-8")]
    rng = random.Random(n)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for k in range(n):
            r = rows[k % len(rows)]
            if k >= len(rows):  # copies get a perturbed final turn so they are not exact duplicates
                tag = f" ({k // len(rows)}.{rng.randrange(1000)})"
                r = {"chosen": _swap(r["chosen"], rng) + tag, "rejected": _swap(r["rejected"], rng) + tag}
            fh.write(json.dumps(r) + "\n")
    os.replace(tmp, path)
    return path


def _swap(text: str, rng: random.Random) -> str:
    head, sep, last = text.rpartition("\n\nAssistant:")
    words = last.split(" ")
    if len(words) > 3:
        i = rng.randrange(1, len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return head + sep + " ".join(words)


def _coerce(v: str):
    try:
        return yaml.safe_load(v)
    except yaml.YAMLError:
        return v


def child(pipeline: str, data: str, out: str, sets: list[str]) -> None:
    from curate.config import load_pipeline
    from curate.pipeline import Pipeline

    cfg = load_pipeline(pipeline)
    cfg.input.path, cfg.input.limit, cfg.output.dir = data, None, out
    for kv in sets:
        key, _, value = kv.partition("=")
        if key == "batch_size":
            cfg.batch_size = int(value)
        for s in cfg.steps:
            if key in s.options or key in _option_names(s.step):
                s.options[key] = _coerce(value)
    start = time.perf_counter()
    stats = Pipeline.from_config(cfg).run(overwrite=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "peak_rss_mb": peak, "records_out": stats["output"]["records"],
                      "read": stats["read"]["records_in"],
                      "steps": [(s["name"], s["seconds"], s["records_in"], s["records_out"]) for s in stats["steps"]]}))


def _option_names(step: str) -> set[str]:
    from curate.registry import STEPS

    return set(STEPS.get(step).Options.model_fields)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--pipeline", default=str(ROOT / "pipelines" / "clean_preferences.yaml"))
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child, a.sets)
    results = []
    for n in a.sizes:
        data = generate(n)
        out = DATA / f"scale-out-{n}"
        cmd = [sys.executable, __file__, "--child", a.pipeline, str(data), str(out)] + \
              [x for kv in a.sets for x in ("--set", kv)]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1"))
        if proc.returncode != 0:
            print(f"{n:>9,} pairs: failed: {proc.stderr.strip()[-800:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append((n, r))
        per = r["wall"] / n * 1e6
        print(f"{n:>9,} pairs: {r['wall']:8.1f} s  {per:7.1f} µs/pair  peak RSS {r['peak_rss_mb']:7.0f} MB  "
              f"→ {r['records_out']:,} kept", flush=True)
        for name, secs, rin, rout in r["steps"]:
            print(f"    {name:<24} {secs:8.2f} s  {rin:>9,} → {rout:,}")
    if len(results) > 1:
        (n0, r0), (n1, r1) = results[0], results[-1]
        print(f"growth: {n1 / n0:.0f}x data → {r1['wall'] / r0['wall']:.1f}x time, "
              f"{r1['peak_rss_mb'] / r0['peak_rss_mb']:.2f}x peak RSS")


if __name__ == "__main__":
    main()
