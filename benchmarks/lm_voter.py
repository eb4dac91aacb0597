"""Accuracy of the LM-likelihood voter (SmolLM2-135M) on LLMBar's gold pairs and on HH's labels.

    HF_HUB_OFFLINE=1 python benchmarks/lm_voter.py [--llmbar 100] [--hh 100] [--prompt-tokens 128]
                                                   [--response-tokens 64]

1. Pairs: the first N of each LLMBar subset in dataset order (gold = the labelled output), and the first
   N HH pairs (the label, ~right on 60-65% by the other voters' agreement, is the reference).
2. Scores: curate's ``lm_likelihood_voter`` step's ``mean_logprobs`` (length-normalised log p of a
   response given the chat-formatted prompt, both truncated), batched; each (model, caps, prompt,
   response) score is cached in ``.benchdata/lm_voter/scores.json``, so reruns and larger N only score
   what is new. CPU only: about 3-4 ms per token on one free core.
3. Prints vote accuracy (p > ½ right, no vote ½) per subset, the tokens scored and the time taken.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gold as g  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from curate.io.reader import Reader  # noqa: E402
from curate.vote.lm_likelihood import LMLikelihoodVoter  # noqa: E402

CACHE = g.BENCHDATA / "lm_voter" / "scores.json"


def cached_scores(step: LMLikelihoodVoter, prompts: list, responses: list[str], cache: dict) -> np.ndarray:
    """Mean log p per (prompt, response), scoring only pairs the cache lacks."""
    o = step.options
    keys = [hashlib.blake2b(json.dumps([o.gguf_file, o.max_prompt_tokens, o.max_response_tokens, p, r]).encode(),
                            digest_size=12).hexdigest() for p, r in zip(prompts, responses)]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    if todo:
        ids = [step._prompt_ids(prompts[i]) for i in todo]
        for i, s in zip(todo, step.mean_logprobs(ids, [responses[i] for i in todo])):
            cache[keys[i]] = None if np.isnan(s) else float(s)
    return np.array([np.nan if cache[k] is None else cache[k] for k in keys])


def accuracy(sc: np.ndarray, sr: np.ndarray) -> float:
    d = sc - sr
    return float(np.where(np.isnan(d), 0.5, np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="shared data folder (default: $CURATE_SHARED_DATA or ../shared/data)")
    ap.add_argument("--llmbar", type=int, default=20, help="pairs per LLMBar subset (0: none)")
    ap.add_argument("--hh", type=int, default=100, help="HH pairs (0: none)")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--response-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args(argv)
    data = g.shared_data(args.data)
    step = LMLikelihoodVoter(max_prompt_tokens=args.prompt_tokens, max_response_tokens=args.response_tokens,
                             batch_size=args.batch_size)
    step.setup(None)
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    sets: dict[str, pl.DataFrame] = {}
    if args.llmbar:
        for sub in g.SUBSETS:
            sets[f"LLMBar {sub}"] = g.pair_frame(g.llmbar_pairs(g.load_llmbar(data, (sub,))[: args.llmbar]))
    if args.hh:
        hh = data / "hh-rlhf-harmless-base-test.jsonl.gz"
        sets["HH (label)"] = next(Reader(str(hh), batch_size=args.hh, limit=args.hh).batches()).frame
    print(f"| pairs | n | accuracy | caps (prompt / response tokens): {args.prompt_tokens} / {args.response_tokens} |")
    print("|---|---:|---:|---|")
    t0 = time.perf_counter()
    try:
        for name, df in sets.items():
            prompts = df["prompt"].to_list()
            sc = cached_scores(step, prompts, df["chosen"].to_list(), cache)
            sr = cached_scores(step, prompts, df["rejected"].to_list(), cache)
            print(f"| {name} | {df.height} | {g.pct(accuracy(sc, sr))} | |", flush=True)
    finally:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(cache))
    print(f"\n{step.stats.counts['tokens_scored']} tokens scored (the rest cached) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
