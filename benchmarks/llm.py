"""LLM generation benchmarks: step overhead, throughput vs concurrency, warm-cache rerun speed-up.

    python benchmarks/llm.py                 # defaults sized for a 2-core laptop (~1-2 min)
    python benchmarks/llm.py --prompts 400 --delay 0.05

1. Overhead: ``generate_responses`` (request building, cache, provenance, DataFrame assembly) vs
   calling the same backend directly with the same requests. Backend: the openai client against
   the local test server (FakeLLM with a fixed per-call delay standing in for model time), cache
   on a fresh file. Goal: <= 10 %.
2. Throughput vs concurrency against the local server (calls/s at 1, 2, 4, 8, 16, 32 in flight).
3. Warm cache: the same step again on the warm cache vs the cold run. Goal: >= 50x. Measured
   against the test server and against the embedded llama.cpp model (``--llamacpp N`` prompts).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from curate.context import RunContext  # noqa: E402
from curate.llm.base import ChatRequest, GenParams  # noqa: E402
from curate.llm.openai import OpenAILLM  # noqa: E402
from curate.schema import frame, make_candidate  # noqa: E402
from curate.synth.generate import GenerateResponses  # noqa: E402
from curate.testing import FakeLLM  # noqa: E402
from curate.testing.llm_server import TestServer  # noqa: E402


def reply(req: ChatRequest) -> str:
    return f"answer to {req.messages[-1]['content']} with seed {req.params.seed}"


def batch(n: int):
    return frame([make_candidate(f"prompt {i}: explain thing {i}") for i in range(n)], "candidate")


def step_for(url: str, conc: int) -> GenerateResponses:
    llm = {"backend": "openai", "model": "bench", "base_url": url, "concurrency": conc}
    return GenerateResponses(generators=[{"llm": llm, "n": 1, "seed": 0, "temperature": 0.7, "max_tokens": 64}])


def direct(url: str, n: int, conc: int) -> float:
    llm = OpenAILLM("bench", base_url=url, concurrency=conc)
    reqs = [ChatRequest([{"role": "user", "content": f"prompt {i}: explain thing {i}"}],
                        GenParams(temperature=0.7, max_tokens=64, seed=0)) for i in range(n)]
    t = time.perf_counter()
    out = llm.generate(reqs)
    assert all(c.ok for c in out)
    return time.perf_counter() - t


def via_step(url: str, n: int, conc: int, cache: Path) -> tuple[float, GenerateResponses]:
    step = step_for(url, conc)
    step.setup(RunContext.for_dir(cache.parent / "run", cache_dir=cache))
    df = batch(n)
    t = time.perf_counter()
    out = step(df)
    elapsed = time.perf_counter() - t
    assert out["responses"].list.len().sum() == n
    return elapsed, step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.1, help="server-side seconds per call (model time)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--llamacpp", type=int, default=8, help="prompts for the llama.cpp cache figure (0: skip)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="curate-bench-llm-"))
    with TestServer(FakeLLM(responses=reply), delay_s=a.delay) as srv:
        direct(srv.base_url, 20, a.concurrency)  # warm up the server and the client imports
        print(f"# {a.prompts} prompts, server delay {a.delay * 1000:.0f} ms/call, concurrency {a.concurrency}")

        # 1. overhead: alternate direct and step runs (fresh cache each) and take the medians
        d_times, s_times = [], []
        for r in range(3):
            d_times.append(direct(srv.base_url, a.prompts, a.concurrency))
            s_times.append(via_step(srv.base_url, a.prompts, a.concurrency, tmp / f"cold{r}")[0])
        d, s = sorted(d_times)[1], sorted(s_times)[1]
        print(f"direct backend:        {d:7.3f} s  ({a.prompts / d:7.1f} calls/s)")
        print(f"generate_responses:    {s:7.3f} s  ({a.prompts / s:7.1f} calls/s)")
        print(f"step overhead:         {100 * (s - d) / d:+6.1f} %   (goal <= 10 %)")

        # 3. warm cache: the last cold cache again
        warm, step = via_step(srv.base_url, a.prompts, a.concurrency, tmp / "cold2")
        hits = step.stats.counts["cache_hits"]
        print(f"warm-cache rerun:      {warm:7.3f} s  ({hits}/{a.prompts} hits) → {s / warm:6.0f}x faster"
              " (goal >= 50x)")

        # 2. throughput vs concurrency
        print("throughput vs concurrency (direct openai client → local server):")
        for conc in (1, 2, 4, 8, 16, 32):
            n = max(20, min(a.prompts, int(conc * 10)))
            t = direct(srv.base_url, n, conc)
            print(f"  concurrency {conc:>3}: {n / t:8.1f} calls/s  ({n} calls in {t:.2f} s)")
    if a.llamacpp:
        llamacpp_cache(a.llamacpp, tmp / "llamacpp")


def llamacpp_cache(n: int, cache: Path) -> None:
    """Cold vs warm run of the step on the embedded SmolLM2-135M (llama.cpp, CPU)."""
    gen = {"llm": {"backend": "llamacpp"}, "n": 1, "seed": 0, "temperature": 0.7, "max_tokens": 32}
    times = []
    for _ in range(2):
        step = GenerateResponses(generators=[gen])
        step.setup(RunContext.for_dir(cache / "run", cache_dir=cache))
        step.llms[0].generate([ChatRequest([{"role": "user", "content": "warm up"}], GenParams(max_tokens=1))])
        t = time.perf_counter()
        step(batch(n))
        times.append(time.perf_counter() - t)
        step.llms[0].close()
    print(f"llamacpp (SmolLM2-135M, {n} prompts, 32 tokens): cold {times[0]:.2f} s, warm {times[1]:.4f} s "
          f"→ {times[0] / times[1]:.0f}x faster")


if __name__ == "__main__":
    main()
