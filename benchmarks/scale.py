"""Scale benchmark: the clean-preferences pipeline at growing sizes; µs per pair per stage, peak RSS.

Data: the shared HH-RLHF sample resampled with perturbations (a random tag and a shuffled word
pair per copy, so copies are near-duplicates but not exact ones) to N pairs, written once to
``.benchdata/`` (about 1.5 GB per million pairs). Each size runs in a fresh subprocess; peak RSS
is sampled over that process and all its descendants (on Ray: the raylet, workers and object
store processes of the local cluster too), every 0.2 s, and on the local engine also given per
stage (which steps hold the memory).

    python benchmarks/scale.py                                  # 100k, 1M, 3M, 10M, hashing embedder
    python benchmarks/scale.py --sizes 100000 1000000 --engine local ray
    python benchmarks/scale.py --sizes 100000 --embedder minilm # the bundled MiniLM (slow on CPU)
    python benchmarks/scale.py --sizes 10000 --set embedder=fake   # engine cost without a model

``--embedder hashing`` (default) sets ``embedder={backend: hashing, cache: false, options: {dim:
256}}``, ``seeds=[0]``, ``feature_maps=[resp]`` and ``batch_size=5000``, as the README's figures;
``--embedder minilm`` keeps the pipeline's own (MiniLM). ``--set KEY=VALUE`` overrides that option
in every step that has it (after the embedder's). Stages print µs per input pair: each step's own
seconds, and ``read+write`` = wall − Σ steps (reading, shards, checkpoints, engine overhead).
"""

from __future__ import annotations

import argparse
import contextlib
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
from _gold import shared_data  # ../shared/data, $CURATE_SHARED_DATA, or a worktree's

ROOT = Path(__file__).resolve().parents[1]
HH = shared_data() / "hh-rlhf-harmless-base-test.jsonl.gz"
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


HASHING = ["embedder={backend: hashing, cache: false, options: {dim: 256}}", "seeds=[0]", "feature_maps=[resp]",
           "batch_size=5000"]


class TreeRSS:
    """Peak of the summed RSS of this process and its descendants, sampled in a thread."""

    def __init__(self, every: float = 0.2):
        import threading

        self.peak, self._stop = 0, threading.Event()
        self.stage, self.stage_peaks = "setup", {}  # the runner's current stage (child sets it) -> peak
        self._t = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:  # a worker that just exited
                    pass
            self.peak = max(self.peak, total)
            self.stage_peaks[self.stage] = max(self.stage_peaks.get(self.stage, 0), total)
            self._stop.wait(every)

    def __enter__(self) -> TreeRSS:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def child(pipeline: str, data: str, out: str, engine: str, sets: list[str]) -> None:
    from curate.config import load_pipeline
    from curate.pipeline import Pipeline

    cfg = load_pipeline(pipeline)
    cfg.input.path, cfg.input.limit, cfg.output.dir = data, None, out
    cfg.steps = [s for s in cfg.steps if f"skip:{s.step}" not in sets]
    for kv in sets:
        if kv.startswith("skip:"):
            continue
        key, _, value = kv.partition("=")
        if key == "batch_size":
            cfg.batch_size = int(value)
        for s in cfg.steps:
            if key in s.options or key in _option_names(s.step):
                s.options[key] = _coerce(value)
    start = time.perf_counter()
    with TreeRSS() as tree, _stage_names(tree):
        stats = Pipeline.from_config(cfg).run(overwrite=True, engine=engine)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "peak_rss_mb": peak, "tree_rss_mb": tree.peak / 2**20,
                      "stage_rss_mb": {k: v / 2**20 for k, v in tree.stage_peaks.items()},
                      "records_out": stats["output"]["records"],
                      "read": stats["read"]["records_in"],
                      "steps": [(s["name"], s["seconds"], s["records_in"], s["records_out"]) for s in stats["steps"]]}))


@contextlib.contextmanager
def _stage_names(tree: TreeRSS):
    """Tell the RSS sampler which stage of the local engine runs (its steps' labels), so the peak
    is also given per stage: which part of the pipeline holds the memory."""
    from curate.runner.local import LocalRunner

    run_stage, run = LocalRunner._run_stage, LocalRunner.run

    def named(self, k, stages, ck, prog):
        tree.stage = f"{k + 1}: " + (" → ".join(s.label for s in stages[k]) or "copy")
        return run_stage(self, k, stages, ck, prog)

    finish = "finish (after_run: card, dedup chains)"  # the steps' after_run hooks come after the stages

    def then_after_run(self):
        try:
            return run(self)
        finally:
            tree.stage = finish

    LocalRunner._run_stage, LocalRunner.run = named, then_after_run
    try:
        yield
    finally:
        LocalRunner._run_stage, LocalRunner.run = run_stage, run
        tree.stage = finish


def _option_names(step: str) -> set[str]:
    from curate.registry import STEPS

    return set(STEPS.get(step).Options.model_fields)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--engine", nargs="+", choices=["local", "ray"], default=["local"],
                    help="run each size on these engines, one after the other")
    ap.add_argument("--embedder", choices=["hashing", "minilm"], default="hashing")
    ap.add_argument("--pipeline", default=str(ROOT / "pipelines" / "clean_preferences.yaml"))
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--skip", action="append", default=[], metavar="STEP",
                    help="leave this step out of the pipeline (e.g. semantic_dedup, to time the rest)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child, a.sets)
    sets = (HASHING if a.embedder == "hashing" else []) + a.sets + [f"skip:{s}" for s in a.skip]
    results = []
    for n in a.sizes:
        data = generate(n)
        for engine in a.engine:
            r = _run_one(a.pipeline, data, n, engine, sets)
            if r is not None:
                results.append({"pairs": n, "engine": engine, **r})
                _report(n, engine, r)
    _growth(results)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))


def _run_one(pipeline: str, data: Path, n: int, engine: str, sets: list[str]) -> dict | None:
    out = DATA / f"scale-out-{n}-{engine}"
    cmd = [sys.executable, __file__, "--child", pipeline, str(data), str(out), engine] + \
          [x for kv in sets for x in ("--set", kv)]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        print(f"{n:>10,} pairs ({engine}): failed: {proc.stderr.strip()[-800:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _stages(r: dict) -> dict[str, float]:
    """Seconds per stage: each step's own, and read+write for the rest of the wall time."""
    steps = {name: secs for name, secs, _, _ in r["steps"]}
    return {"read+write": max(0.0, r["wall"] - sum(steps.values())), **steps}


def _report(n: int, engine: str, r: dict) -> None:
    print(f"{n:>10,} pairs ({engine}): {r['wall']:8.1f} s  {r['wall'] / n * 1e6:7.1f} µs/pair  "
          f"peak RSS {r['tree_rss_mb']:7.0f} MB (process tree; this process {r['peak_rss_mb']:.0f} MB)  "
          f"→ {r['records_out']:,} kept", flush=True)
    rows = {name: (rin, rout) for name, _, rin, rout in r["steps"]}
    for name, secs in _stages(r).items():
        rin, rout = rows.get(name, (r["read"], ""))
        print(f"    {name:<24} {secs:8.2f} s  {secs / n * 1e6:8.1f} µs/pair  {rin:>10,} → {rout:,}"
              if rout != "" else f"    {name:<24} {secs:8.2f} s  {secs / n * 1e6:8.1f} µs/pair")
    for stage, mb in (r.get("stage_rss_mb", {}) if engine == "local" else {}).items():  # Ray: not tracked
        print(f"    peak RSS in stage {stage}: {mb:,.0f} MB")


def _growth(results: list[dict]) -> None:
    """µs/pair per stage at the largest size over the smallest (the goal: ≤ 1.3 for every stage)."""
    for engine in {r["engine"] for r in results}:
        rs = sorted((r for r in results if r["engine"] == engine), key=lambda r: r["pairs"])
        if len(rs) < 2:
            continue
        lo, hi = rs[0], rs[-1]
        s_lo, s_hi = _stages(lo), _stages(hi)
        ratios = {k: (s_hi[k] / hi["pairs"]) / (s_lo[k] / lo["pairs"]) for k in s_hi if s_lo.get(k)}
        print(f"{engine}: {hi['pairs'] // lo['pairs']}x data → {hi['wall'] / lo['wall']:.1f}x time, "
              f"{hi['tree_rss_mb'] / lo['tree_rss_mb']:.2f}x peak RSS; µs/pair ratio per stage: "
              + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
