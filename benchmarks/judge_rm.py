"""Throughput of the labelers on the HH sample:

1. ``llm_judge`` overhead (templating, parsing, position swap, votes) with the fake backend;
2. ``llm_judge`` with the real SmolLM2-135M through llama.cpp on a few pairs (pairs/s, parse
   failures, position consistency: the model is tiny, the verdicts are noise);
3. ``rm_score`` with a locally built random Llama RM, batch size 1 vs 16 (no Hub download).

    HF_HUB_OFFLINE=1 python benchmarks/judge_rm.py --pairs 2312 --real 8 --rm-pairs 256
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import polars as pl

from curate.context import RunContext
from curate.io.reader import Reader
from curate.judge.pairwise import PairwiseJudge
from curate.llm.config import LLMConfig
from curate.llm.fake import FakeLLM

HH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"


def load(n: int) -> pl.DataFrame:
    frames = [b.frame for b in Reader(str(HH), batch_size=1000, limit=n).batches()]
    return pl.concat(frames)


def bench_fake(pairs: pl.DataFrame, tmp: Path) -> None:
    cfg = LLMConfig(backend="fake", cache=False)
    ctx = RunContext.for_dir(tmp / "fake")
    ctx.resource(cfg.key(), lambda: FakeLLM(responses=['{"verdict": "A"}', "Answer: B", "[[A]]", "garbage"]))
    step = PairwiseJudge(llm=cfg)
    step.setup(ctx)
    t0 = time.perf_counter()
    for i in range(0, pairs.height, 1000):
        step(pairs.slice(i, 1000))
    s = time.perf_counter() - t0
    print(f"llm_judge/fake   pairs={pairs.height} seconds={s:.2f} pairs_per_s={pairs.height / s:.0f} "
          f"summary={step.summary()}")


def bench_real(pairs: pl.DataFrame, tmp: Path) -> None:
    cfg = LLMConfig(backend="llamacpp", cache=False, options={"n_ctx": 2048})
    step = PairwiseJudge(llm=cfg, max_tokens=64)
    ctx = RunContext.for_dir(tmp / "real")
    step.setup(ctx)
    step(pairs.head(1))  # load the model outside the timing
    t0 = time.perf_counter()
    step(pairs.slice(1, pairs.height - 1))
    s = time.perf_counter() - t0
    n = pairs.height - 1
    print(f"llm_judge/llamacpp SmolLM2-135M pairs={n} seconds={s:.1f} pairs_per_s={n / s:.2f} "
          f"summary={step.summary()} counts={dict(step.stats.counts)}")
    ctx.close()


def bench_rm(pairs: pl.DataFrame, tmp: Path) -> None:
    from curate.rm.model import RewardModel
    from curate.testing.tiny_rm import build_tiny_rm

    corpus = pairs["chosen"].to_list() + pairs["rejected"].to_list()
    path = build_tiny_rm(tmp / "rm", corpus, hidden=256, layers=4, vocab_size=20000)
    prompts = pairs["prompt"].to_list() * 2  # chosen then rejected, as rm_score sends them
    convs = [p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, corpus)]
    for bs in (1, 16):
        rm = RewardModel(path, device="cpu", batch_size=bs, max_length=1024)
        t0 = time.perf_counter()
        rm.score(convs)
        s = time.perf_counter() - t0
        print(f"rm_score/tiny-llama(h256,l4) conversations={len(convs)} batch_size={bs} seconds={s:.2f} "
              f"conv_per_s={len(convs) / s:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2312)
    ap.add_argument("--real", type=int, default=8, help="pairs for the real-model judge (0 = skip)")
    ap.add_argument("--rm-pairs", type=int, default=256, help="pairs for the RM scorer (0 = skip)")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pairs = load(a.pairs)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_fake(pairs, tmp)
        if a.rm_pairs:
            bench_rm(pairs.head(a.rm_pairs), tmp)
        if a.real:
            bench_real(pairs.head(a.real + 1), tmp)


if __name__ == "__main__":
    main()
