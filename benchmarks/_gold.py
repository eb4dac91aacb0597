"""Shared helpers of the gold benchmarks (judges.py, false_positives.py, curation_effect.py).

Everything LLMBar-specific lives here: where the data is, its subsets, turning its gold rows into
pairs (``llmbar_pairs``, the one conversion to swap for the ``io`` reader's ``winner`` mapping
later), and reading its stored judge completions into the generic file layout of curate's
``stored_judge`` step (``ab`` = the reply when chosen was shown first, ``ba`` = rejected first).
Also: the pipeline's voter and ensemble steps as configured in its YAML, folds grouped by prompt,
and the benchmark embedding cache under ``.benchdata/``.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCHDATA = ROOT / ".benchdata"
PIPELINE = ROOT / "pipelines" / "clean_preferences.yaml"
SUBSETS = ("Natural", "Adversarial/Neighbor", "Adversarial/GPTInst", "Adversarial/GPTOut", "Adversarial/Manual")
JUDGES = ("GPT-4", "ChatGPT", "ChatGPT-0301", "PaLM2", "LLaMA2", "Falcon")
ENV_DATA = "CURATE_SHARED_DATA"


def shared_data(arg: str | Path | None = None) -> Path:
    """The shared data folder: `arg`, else $CURATE_SHARED_DATA, else the first `shared/data` beside
    the repo root or one of its parents (a CI clone has `../shared/data`; a worktree sits deeper)."""
    if arg or os.environ.get(ENV_DATA):
        return Path(arg or os.environ[ENV_DATA])
    for parent in ROOT.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return ROOT.parent / "shared" / "data"


def use_bench_cache() -> Path:
    """Point curate's caches (embeddings) at .benchdata/cache, so reruns reuse the vectors."""
    cache = BENCHDATA / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CURATE_CACHE_DIR", str(cache))
    return Path(os.environ["CURATE_CACHE_DIR"])


def _read_json_gz(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- gold pairs


def load_llmbar(data: Path, subsets: tuple[str, ...] | None = None) -> list[dict]:
    """Gold rows in dataset order, each with its subset and position in that subset."""
    rows = []
    for sub in subsets or SUBSETS:
        for i, r in enumerate(_read_json_gz(data / "llmbar" / sub / "dataset.json.gz")):
            rows.append({**r, "label": int(r["label"]), "subset": sub, "index": i})
    return rows


def llmbar_pairs(rows: list[dict]) -> list[dict]:
    """LLMBar rows → pairs (chosen = the labelled output). The one place this conversion happens."""
    out = []
    for r in rows:
        good, bad = (r["output_1"], r["output_2"]) if r["label"] == 1 else (r["output_2"], r["output_1"])
        out.append({"prompt": [{"role": "user", "content": r["input"]}], "chosen": good, "rejected": bad,
                    "gold": r["subset"]})
    return out


def write_jsonl(rows: list[dict], path: Path) -> Path:
    """JSONL with prompt/chosen/rejected (+ extra columns): the `mapping` format reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def pair_frame(pairs: list[dict]):
    """Pairs (prompt/chosen/rejected/gold) → a curate pair frame; `gold` goes to metadata."""
    from curate.schema import frame, make_pair

    return frame([make_pair(p["prompt"], p["chosen"], p["rejected"], "gold", {"gold": p.get("gold", "")})
                  for p in pairs])


# ---------------------------------------------------------------- stored judge outputs


def verdict_methods(data: Path, judge: str) -> list[str]:
    """A judge's pairwise methods (the Rating* methods score each output alone: no reply per order)."""
    folder = data / "llmbar" / "Natural" / "evaluators" / judge
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("Rating"))


def final_orders(results: Any) -> dict:
    """The last {'swap = False': ..., 'swap = True': ...} entry of a `results` value (a list, or a
    string holding a Python-literal list). Metrics/Reference methods put their generated rubric or
    reference first; Swap methods add a second "debate" round whose verdict is the final one."""
    items = ast.literal_eval(results) if isinstance(results, str) else results
    return next(x for x in reversed(items) if isinstance(x, dict) and "swap = False" in x)


def judge_outputs(data: Path, judge: str, method: str, subsets: tuple[str, ...] | None = None) -> list[dict]:
    """One row per gold pair (same order as load_llmbar): ab/ba replies oriented to the gold pair,
    and the authors' own parse (`author_ab`/`author_ba`: True = chosen won, None = unparsed)."""
    out = []
    for sub in subsets or SUBSETS:
        path = data / "llmbar" / sub / "evaluators" / judge / method / "result.json.gz"
        for r in _read_json_gz(path):
            orders = final_orders(r["results"])
            label = int(r["label"])
            # swap = False shows output_1 as Output (a); the chosen one is output_<label>
            first, second = orders["swap = False"], orders["swap = True"]
            ab, ba = (first, second) if label == 1 else (second, first)
            out.append({"subset": sub, "ab": _text(ab), "ba": _text(ba),
                        "author_ab": _won(ab, label), "author_ba": _won(ba, label)})
    return out


def _text(order: dict) -> str | None:
    c = order.get("completion")
    return c[0] if isinstance(c, list) and c else c if isinstance(c, str) else None


def _won(order: dict, label: int) -> bool | None:
    w = order.get("winner")
    return None if w in (None, "") else int(w) == label


def author_accuracy(data: Path, judge: str, method: str, subsets: tuple[str, ...] | None = None) -> float:
    """The authors' `correct_average` (mean over both orders), weighted by subset size."""
    total = n = 0.0
    for sub in subsets or SUBSETS:
        folder = data / "llmbar" / sub / "evaluators" / judge / method
        stats = _read_json_gz(folder / "statistics.json.gz")
        size = len(_read_json_gz(data / "llmbar" / sub / "dataset.json.gz"))
        total += float(str(stats["correct_average"]).rstrip("%")) / 100 * size
        n += size
    return total / n


# ---------------------------------------------------------------- pipeline and folds


def voting_steps(path: Path = PIPELINE) -> list[tuple[str, dict]]:
    """(step name, options) of the pipeline's voters (steps that write `votes`) and deciders (steps
    that write `decision`), in pipeline order, with the options as configured there."""
    from curate.catalog import load_all
    from curate.config import load_pipeline
    from curate.registry import STEPS

    load_all()
    out = []
    for s in load_pipeline(path).steps:
        cls = STEPS.get(s.step)
        if "votes" in cls.outputs or "decision" in cls.outputs:
            out.append((s.step, dict(s.options)))
    return out


def build_steps(specs: list[tuple[str, dict]], overrides: dict[str, dict] | None = None) -> list:
    """Instantiate steps from (name, options); `overrides[name]` is merged into that step's options."""
    from curate.registry import STEPS

    overrides = overrides or {}
    return [STEPS.get(name)({**opts, **overrides.get(name, {})}) for name, opts in specs]


def prompt_folds(prompts: list[str], k: int, seed: int) -> np.ndarray:
    """Fold id per row; rows with the same prompt text share a fold (no prompt in train and test)."""
    keys = [hashlib.blake2b(f"{seed}\x1f{p.strip().lower()}".encode(), digest_size=8).digest() for p in prompts]
    uniq = sorted(set(keys))
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(uniq, rng.permutation(len(uniq)) % k))
    return np.array([fold_of[x] for x in keys])


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"
