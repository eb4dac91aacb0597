"""Semantic dedup benchmark: curate vs raw sentence-transformers encode vs distilabel, and memory.

    python benchmarks/dedup.py --n 2000            # throughput on HH first-user prompts
    python benchmarks/dedup.py --mem-sizes 10000,100000 --skip-throughput

(a) raw ``SentenceTransformer.encode`` of the texts; (b) curate's semantic_dedup over the same
texts in batches (embedding cache on, cold); (c) distilabel EmbeddingGeneration +
FaissNearestNeighbour + EmbeddingDedup, run with .benchvenv-distilabel/bin/python when that venv
exists; (d) peak RSS of semantic_dedup at each size, in a fresh process per size.

``--per-prompt K`` (K ≥ 2) times the shape real preference sets have instead: K responses per
prompt (each HH pair's two, then style variants of them) and every one of the K(K-1)/2 pairs, as
UltraFeedback-style "all pairs" binarisation gives. The step compares prompts and responses
(``fields: [prompt, response]``); raw encode gets every pair's prompt and both responses, the
texts the step is asked about, and ``raw_distinct_s`` is the model alone on the distinct texts
(the floor any caller can reach).

    python benchmarks/dedup.py --n 3000 --per-prompt 4 --mem-sizes ""
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _gold import shared_data  # ../shared/data, $CURATE_SHARED_DATA, or a worktree's

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# ../shared/data beside a CI clone; CURATE_SHARED_DATA elsewhere (e.g. a worktree)
HH = shared_data() / "hh-rlhf-harmless-base-test.jsonl.gz"
DISTILABEL = ROOT / ".benchvenv-distilabel" / "bin" / "python"


def hh_pairs(n: int):
    """n pairs: the HH sample, then variants of it (a numbered suffix on the first user turn and responses)."""
    import polars as pl

    from curate.io.reader import Reader

    base = pl.concat([b.frame for b in Reader(str(HH), format="hh", batch_size=5000).batches()])
    parts, k = [], 0
    while sum(p.height for p in parts) < n:
        part = base if k == 0 else base.with_columns(
            pl.col("prompt").list.eval(pl.element().struct.with_fields(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(pl.field("content") + pl.lit(f" (variant {k})")).otherwise(pl.field("content"))
                .alias("content"))),
            *[(pl.col(c) + pl.lit(f" (v{k})")).alias(c) for c in ("chosen", "rejected")],
            (pl.col("id") + pl.lit(f"-{k}")).alias("id"))
        parts.append(part)
        k += 1
    return pl.concat(parts).head(n)


# style variants of a response, so a prompt has more than HH's two answers (a lead-in, a sign-off)
def _styles():
    import polars as pl

    return [lambda c: c, lambda c: pl.lit("Sure. ") + c.str.strip_chars_start(),
            lambda c: c.str.strip_chars_end() + pl.lit("\n\nI hope this helps.")]


def shaped_pairs(n: int, k: int):
    """n pairs, k responses per prompt and every pair of them: HH's chosen and rejected, then style
    variants (_styles) of both, so prompts repeat k(k-1)/2 times and each response k-1 times."""
    import itertools

    import polars as pl

    from curate.io.reader import Reader

    styles = _styles()
    if k > 2 * len(styles):
        raise SystemExit(f"--per-prompt {k}: at most {2 * len(styles)} responses per prompt here")
    base = pl.concat([b.frame for b in Reader(str(HH), format="hh", batch_size=5000).batches()])
    cols = ["chosen", "rejected"]
    resp = [styles[i // 2](pl.col(cols[i % 2])) for i in range(k)]
    frames = [base.with_columns(resp[i].alias("_a"), resp[j].alias("_b"), (pl.col("id") + f"-{i}{j}").alias("id"))
              for i, j in itertools.combinations(range(k), 2)]
    per_prompt = pl.concat([f.with_row_index("_prompt") for f in frames]).sort("_prompt", maintain_order=True)
    pairs = per_prompt.with_columns(pl.col("_a").alias("chosen"), pl.col("_b").alias("rejected"))
    return pairs.drop("_a", "_b", "_prompt").head(n)


def throughput_pairs(n: int, k: int, batch: int, threshold: float) -> dict:
    """The step on k responses per prompt (shaped_pairs) against raw encode of every pair's texts."""
    from curate.dedup.text import prompt_view

    pairs = shaped_pairs(n, k)
    texts = pairs.select(prompt_view("conversation")).to_series().to_list() + \
        pairs["chosen"].to_list() + pairs["rejected"].to_list()
    distinct = list(dict.fromkeys(texts))
    out = _timed_step(pairs, texts, batch, dict(fields=["prompt", "response"], threshold=threshold))
    model = out.pop("_model")
    t0 = time.perf_counter()
    model._m.encode(distinct, batch_size=64, convert_to_numpy=True)
    out.update(per_prompt=k, texts=len(texts), distinct_texts=len(distinct),
               raw_distinct_s=round(time.perf_counter() - t0, 2))
    out["curate_vs_raw_distinct"] = round(out["raw_distinct_s"] / out["curate_step_s"], 3)
    return out


def throughput(n: int, batch: int, threshold: float) -> dict:
    from curate.dedup.text import prompt_view

    pairs = hh_pairs(n)
    texts = pairs.select(prompt_view("first_user")).to_series().to_list()
    out = _timed_step(pairs, texts, batch, dict(fields=["prompt"], prompt_view="first_user", threshold=threshold))
    out.pop("_model")
    out["distilabel"] = distilabel(texts, threshold, batch)
    if isinstance(out["distilabel"], dict):
        out["curate_vs_distilabel_speed"] = round(out["distilabel"]["total_s"] / out["curate_step_s"], 2)
    return out


RAW_BATCHES = (64, 32, 16)


def _timed_step(pairs, texts: list[str], batch: int, step_options: dict) -> dict:
    """Raw encode of ``texts`` against semantic_dedup (cold cache) over ``pairs`` in batches."""
    from curate.context import RunContext
    from curate.dedup.semantic import SemanticDedup
    from curate.embed.sentence_transformers import SentenceTransformerEmbedder

    n = pairs.height
    model = SentenceTransformerEmbedder()
    model._m.encode(texts[:64], batch_size=64)  # warm-up: first call pays one-off setup
    raws = {}
    for bs in RAW_BATCHES:  # 64 is the comparison; ST's default 32 and 16 (faster on CPU) for honesty
        t0 = time.perf_counter()
        model._m.encode(texts, batch_size=bs, convert_to_numpy=True)
        raws[bs] = time.perf_counter() - t0
    raw = raws[64]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext.for_dir(tmp, cache_dir=Path(tmp) / "cache")
        ctx.resource(SemanticDedup().options.embedder.key(), lambda: _cached(model, Path(tmp)))
        step = SemanticDedup(**step_options)
        step.setup(ctx)
        spent = [0.0]
        embed = step.embedder.embed

        def timed(texts):  # splits the step's time into embedding and everything else
            t = time.perf_counter()
            try:
                return embed(texts)
            finally:
                spent[0] += time.perf_counter() - t

        step.embedder.embed = timed
        t0 = time.perf_counter()
        kept = sum(step(pairs.slice(i, batch)).height for i in range(0, n, batch))
        ours = time.perf_counter() - t0
    return {"n": n, "raw_encode_s": round(raw, 2), "curate_step_s": round(ours, 2),
            "curate_vs_raw_throughput": round(raw / ours, 3), "curate_removed": n - kept,
            "raw_encode_s_by_batch": {bs: round(t, 2) for bs, t in raws.items()},
            "curate_vs_best_raw": round(min(raws.values()) / ours, 3),
            "curate_embed_s": round(spent[0], 2), "curate_index_and_bookkeeping_s": round(ours - spent[0], 2),
            "texts_embedded": step.stats.counts["texts_embedded"], "texts_reused": step.stats.counts["texts_reused"],
            "raw_texts_per_s": round(len(texts) / raw, 1), "curate_texts_per_s": round(len(texts) / ours, 1),
            "_model": model}


def _cached(model, tmp: Path):
    from curate.embed.cache import CachedEmbedder

    return CachedEmbedder(model, tmp / "cache" / "embeddings.sqlite")


def distilabel(texts: list[str], threshold: float, batch: int) -> dict | str:
    if not DISTILABEL.exists():
        return "not installable here (no .benchvenv-distilabel)"
    from curate.embed.sentence_transformers import bundled_minilm

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        fh.writelines(json.dumps({"text": t}) + "\n" for t in texts)
    r = subprocess.run([str(DISTILABEL), str(ROOT / "benchmarks" / "_distilabel_dedup.py"), fh.name,
                        bundled_minilm(), str(threshold), str(batch)], capture_output=True, text=True)
    os.unlink(fh.name)
    if r.returncode:
        return "failed: " + r.stderr.strip().splitlines()[-1][:300]
    return json.loads(r.stdout.strip().splitlines()[-1])


class HashVectors:
    """384-d unit vectors derived from each text's hash: MiniLM's shape without the model's cost."""

    backend, model, dim, batch_size = "hash", "hash", 384, 64

    def signature(self) -> str:
        return "hash:384"

    def embed(self, texts):
        import hashlib

        import numpy as np

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def close(self) -> None:
        pass


def memory_child(n: int, embedder: str) -> None:
    import resource

    from curate.context import RunContext
    from curate.dedup.semantic import SemanticDedup

    pairs = hh_pairs(n)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext.for_dir(tmp)
        step = SemanticDedup(fields=["prompt", "response"], threshold=0.95)
        if embedder == "hash":  # stands in for the model so the index and bookkeeping are what is measured
            ctx.resource(step.options.embedder.key(), HashVectors)
        step.setup(ctx)
        base = high = _rss_mb()  # data and model loaded; what the step adds is measured from here
        t0 = time.perf_counter()
        for i in range(0, n, 1000):
            step(pairs.slice(i, 1000))
            high = max(high, _rss_mb())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "embedder": embedder, "process_peak_rss_mb": round(peak, 1),
                      "rss_before_dedup_mb": round(base, 1), "dedup_added_rss_mb": round(high - base, 1),
                      "seconds": round(time.perf_counter() - t0, 1),
                      "index": step.summary()["index"], "removed": step.summary()["removed"]}))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="texts for the throughput comparison")
    ap.add_argument("--batch", type=int, default=1000, help="pipeline batch size (the runner's default)")
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--mem-sizes", default="10000,100000")
    ap.add_argument("--mem-embedder", choices=["hash", "sentence_transformers"], default="hash",
                    help="hash: 384-d vectors seeded by the text hash, no model, so the figure is the index and "
                         "bookkeeping; sentence_transformers: the real model (slow on a shared CPU)")
    ap.add_argument("--per-prompt", type=int, default=1, metavar="K",
                    help="K ≥ 2: K responses per prompt, all pairs of them, prompts and responses compared")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return memory_child(a.child, a.mem_embedder)
    if not a.skip_throughput:
        r = throughput_pairs(a.n, a.per_prompt, a.batch, a.threshold) if a.per_prompt > 1 else \
            throughput(a.n, a.batch, a.threshold)
        print(json.dumps({"throughput": r}), flush=True)
    for n in [int(s) for s in a.mem_sizes.split(",") if s]:
        r = subprocess.run([sys.executable, __file__, "--child", str(n), "--mem-embedder", a.mem_embedder],
                           capture_output=True, text=True)
        print(json.dumps({"memory": json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0
                          else r.stderr.strip()[-300:]}), flush=True)


if __name__ == "__main__":
    main()
