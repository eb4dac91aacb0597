"""Accuracy and speed of the LM-likelihood voter (SmolLM2-135M, or --model gemma3-270m) on LLMBar's
gold pairs and on HH's labels.

    HF_HUB_OFFLINE=1 python benchmarks/lm_voter.py [--model smollm2-135m|gemma3-270m]
                                                   [--backend llamacpp|transformers] [--llmbar N]
                                                   [--hh 400] [--hh-seed 0] [--threads 1]
    HF_HUB_OFFLINE=1 python benchmarks/lm_voter.py --speed 8   # backends side by side, no cache

1. Pairs: the first N of each LLMBar subset in dataset order (default: all 419; gold = the labelled
   output), and a fixed random sample of HH pairs (``--hh`` pairs drawn without replacement with
   numpy's ``default_rng(--hh-seed)`` from the 2,312 pairs of the file, then in file order; the label,
   right on ~60-65% of pairs by the other voters' agreement, is the reference).
2. Scores: curate's ``lm_likelihood_voter`` step's ``mean_logprobs`` (length-normalised log p of each
   response given the chat-formatted prompt, both truncated, the prompt evaluated once per pair on
   llamacpp), or with ``--scoring ab_judge`` the ``lm_ab_judge`` step's ``ab_differences`` (log p(A) −
   log p(B) of the reply's first token, chosen shown first and then second). Each (backend, model,
   caps, prompt, response) score is cached in ``.benchdata/lm_voter/scores.json`` (the judge's, keyed
   by both responses in order, in ``ab_scores.json``), so reruns and larger N only score what is new.
3. Prints vote accuracy (p > ½ right, no vote ½) per set, and the milliseconds per pair scored in this
   run (cached pairs excluded) with the load average, since the figure depends on what else runs.

``--speed N`` instead scores LLMBar Natural pairs 10.. 10+N with each backend in turn, twice, uncached,
and prints the time per pair and the largest score difference between the backends.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gold as g  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from curate.io.reader import Reader  # noqa: E402
from curate.vote.lm_judge import LMABJudge  # noqa: E402
from curate.vote.lm_likelihood import LMLikelihoodVoter  # noqa: E402
from curate.vote.lm_models import MODELS  # noqa: E402

CACHE = g.BENCHDATA / "lm_voter" / "scores.json"
AB_CACHE = g.BENCHDATA / "lm_voter" / "ab_scores.json"  # its own file: both scorings may run at once
CHUNK = 8  # pairs scored between cache writes: Ctrl-C loses at most this many


def _key(step: LMLikelihoodVoter, prompt: list, response: str | list) -> str:
    o = step.options
    raw = [step.backend_used, o.gguf_file, o.max_prompt_tokens, o.max_response_tokens, prompt, response]
    if isinstance(step, LMABJudge):  # a judge score is keyed by both responses in their order
        raw = ["ab", o.question] + raw
    return hashlib.blake2b(json.dumps(raw).encode(), digest_size=12).hexdigest()


def _score(step: LMLikelihoodVoter, prompts: list, ch: list, rj: list) -> np.ndarray:
    """Two columns whose difference is the vote's margin: mean log p of (chosen, rejected), or for the
    judge (d_ab, d_ba), log p(A) − log p(B) with chosen first and then second."""
    if isinstance(step, LMABJudge):
        return step.ab_differences(prompts, ch, rj)
    return step.mean_logprobs(prompts, [list(x) for x in zip(ch, rj)])


def pair_scores(step: LMLikelihoodVoter, df: pl.DataFrame, cache: dict, timing: list) -> np.ndarray:
    """Each pair's two score columns (see `_score`), scoring only pairs the cache lacks; `timing` gets
    (pairs, seconds) of what was scored."""
    prompts, ch, rj = df["prompt"].to_list(), df["chosen"].to_list(), df["rejected"].to_list()
    if isinstance(step, LMABJudge):
        keys = [(_key(step, p, [c, r]), _key(step, p, [r, c])) for p, c, r in zip(prompts, ch, rj)]
    else:
        keys = [(_key(step, p, c), _key(step, p, r)) for p, c, r in zip(prompts, ch, rj)]
    todo = [i for i, (kc, kr) in enumerate(keys) if kc not in cache or kr not in cache]
    for s in range(0, len(todo), CHUNK):
        part = todo[s: s + CHUNK]
        t0 = time.perf_counter()
        sc = _score(step, [prompts[i] for i in part], [ch[i] for i in part], [rj[i] for i in part])
        timing.append((len(part), time.perf_counter() - t0))
        for i, row in zip(part, sc):
            for k, v in zip(keys[i], row):
                cache[k] = None if np.isnan(v) else float(v)
        save(cache, AB_CACHE if isinstance(step, LMABJudge) else CACHE)
    return np.array([[np.nan if cache[k] is None else cache[k] for k in kk] for kk in keys], dtype=float)


def save(cache: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache))
    tmp.replace(path)


def accuracy(s: np.ndarray) -> float:
    d = s[:, 0] - s[:, 1]
    return float(np.where(np.isnan(d), 0.5, np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))).mean())


def pair_sets(data: Path, n_llmbar: int, n_hh: int, seed: int) -> dict[str, pl.DataFrame]:
    sets: dict[str, pl.DataFrame] = {}
    for sub in g.SUBSETS if n_llmbar else ():
        sets[f"LLMBar {sub}"] = g.pair_frame(g.llmbar_pairs(g.load_llmbar(data, (sub,))[:n_llmbar]))
    if n_hh:
        hh = pl.concat([b.frame for b in Reader(str(data / "hh-rlhf-harmless-base-test.jsonl.gz")).batches()])
        pick = np.sort(np.random.default_rng(seed).choice(hh.height, size=min(n_hh, hh.height), replace=False))
        sets[f"HH (label; {len(pick)} of {hh.height}, seed {seed})"] = hh[pick]
    return sets


def bt_votes(data: Path) -> dict[str, float]:
    """The MiniLM BT voters of pipelines/clean_preferences.yaml (feature maps resp + prompt_resp, seeds
    0 and 1), out-of-fold on the whole HH file: pair id -> mean p_chosen. Cached in bt_oof.json."""
    path = g.BENCHDATA / "lm_voter" / "bt_oof.json"
    if path.exists():
        return json.loads(path.read_text())
    from curate.context import RunContext
    from curate.runner.base import default_cache_dir
    from curate.vote.embed_bt import EmbedBTVoter

    hh = pl.concat([b.frame for b in Reader(str(data / "hh-rlhf-harmless-base-test.jsonl.gz")).batches()])
    voter = EmbedBTVoter(feature_maps=["resp", "prompt_resp"], seeds=[0, 1], voter="bt")
    voter.setup(RunContext.for_dir(g.BENCHDATA / "lm_voter" / "bt_run", cache_dir=default_cache_dir()))
    voter.fit(lambda: iter([hh]))
    out = voter(hh)
    p = out["votes"].list.eval(pl.element().struct.field("p_chosen")).list.mean()
    res = dict(zip(out["id"].to_list(), p.to_list()))
    save(res, path)
    return res


def agreement(df: pl.DataFrame, s: np.ndarray, bt: dict[str, float]) -> str:
    """How the LM's votes relate to the BT voters' on the same pairs (ties and missing votes left out)."""
    lm = s[:, 0] - s[:, 1]
    b = np.array([bt[i] for i in df["id"].to_list()]) - 0.5
    ok = ~np.isnan(lm) & (lm != 0) & (b != 0)
    lm_right, bt_right = lm[ok] > 0, b[ok] > 0
    both = (lm_right == bt_right).mean()
    where_bt_wrong = lm_right[~bt_right].mean() if (~bt_right).any() else float("nan")
    return (f"{ok.sum()} pairs with both votes: BT right on {g.pct(bt_right.mean())}, LM and BT agree on "
            f"{g.pct(both)}, LM right where BT is wrong: {g.pct(where_bt_wrong)} of {(~bt_right).sum()}; "
            f"corr(LM margin, BT logit) {np.corrcoef(lm[ok], np.log((0.5 + b[ok]) / (0.5 - b[ok])))[0, 1]:.3f}")


def speed(data: Path, n: int, args: argparse.Namespace) -> int:
    pairs = g.llmbar_pairs(g.load_llmbar(data, ("Natural",))[10: 10 + n])
    prompts, responses = [p["prompt"] for p in pairs], [[p["chosen"], p["rejected"]] for p in pairs]
    steps, scores = {}, {}
    for be in ("llamacpp", "transformers"):
        t0 = time.perf_counter()
        steps[be] = LMLikelihoodVoter(model=args.model, backend=be, max_prompt_tokens=args.prompt_tokens,
                                      max_response_tokens=args.response_tokens, threads=args.threads)
        steps[be].setup(None)
        print(f"{be}: loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    for rep in range(2):  # alternating, so a change of load hits both
        for be, step in steps.items():
            t0 = time.perf_counter()
            scores[be] = step.mean_logprobs(prompts, responses)
            print(f"round {rep + 1} {be}: {1000 * (time.perf_counter() - t0) / n:.0f} ms per pair "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    d = np.abs(scores["llamacpp"] - scores["transformers"])
    print(f"{n} pairs, {steps['llamacpp'].stats.counts['tokens_scored'] / 2 / n:.0f} tokens per pair in scored "
          f"sequences; |llamacpp - transformers| mean log p: median {np.nanmedian(d):.3f}, max {np.nanmax(d):.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="shared data folder (default: $CURATE_SHARED_DATA or ../shared/data)")
    ap.add_argument("--model", default="smollm2-135m", choices=tuple(MODELS), help="the voter's model")
    ap.add_argument("--scoring", default="likelihood", choices=("likelihood", "ab_judge"),
                    help="lm_likelihood_voter, or lm_ab_judge (A-vs-B next-token log-probs, both orders)")
    ap.add_argument("--backend", default="auto", choices=("auto", "llamacpp", "transformers"))
    ap.add_argument("--llmbar", type=int, default=1000, help="pairs per LLMBar subset (default all; 0: none)")
    ap.add_argument("--hh", type=int, default=400, help="HH pairs sampled (0: none)")
    ap.add_argument("--hh-seed", type=int, default=0)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--response-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1: the fastest on a busy machine)")
    ap.add_argument("--speed", type=int, default=0, help="time both backends on N pairs instead (no cache)")
    ap.add_argument("--agreement", action="store_true",
                    help="also compare the HH votes with the MiniLM BT voters' out-of-fold votes")
    args = ap.parse_args(argv)
    if args.speed:
        return speed(g.shared_data(args.data), args.speed, args)
    cls = LMABJudge if args.scoring == "ab_judge" else LMLikelihoodVoter
    step = cls(model=args.model, backend=args.backend, max_prompt_tokens=args.prompt_tokens,
                             max_response_tokens=args.response_tokens, threads=args.threads)
    step.setup(None)
    path = AB_CACHE if args.scoring == "ab_judge" else CACHE
    cache = json.loads(path.read_text()) if path.exists() else {}
    print(f"model {args.model}, scoring {args.scoring}, backend {step.backend_used}, {args.threads} thread(s), "
          f"caps {args.prompt_tokens} prompt / {args.response_tokens} response tokens")
    print("\n| pairs | n | accuracy |\n|---|---:|---:|")
    timing: list[tuple[int, float]] = []
    load0 = os.getloadavg()
    total, notes = [], []
    data = g.shared_data(args.data)
    for name, df in pair_sets(data, args.llmbar, args.hh, args.hh_seed).items():
        s = pair_scores(step, df, cache, timing)
        if name.startswith("LLMBar"):
            total.append(s)
        elif args.agreement:
            notes.append(f"{name} vs the MiniLM BT voters (out of fold): {agreement(df, s, bt_votes(data))}")
        print(f"| {name} | {df.height} | {g.pct(accuracy(s))} |", flush=True)
    if total:
        print(f"| LLMBar (all) | {sum(len(s) for s in total)} | {g.pct(accuracy(np.concatenate(total)))} |")
    print("".join(f"\n{x}" for x in notes))
    n, secs = sum(t[0] for t in timing), sum(t[1] for t in timing)
    print(f"\n{n} pairs scored in this run (the rest cached): {1000 * secs / max(n, 1):.0f} ms per pair, "
          f"{step.stats.counts.get('tokens_scored', 0)} tokens in scored sequences; load average "
          f"{load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
