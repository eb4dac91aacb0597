"""The curation report: every figure the card shows, as one JSON-able dict.

Two sources, both read defensively (any key may be missing; stages are being added all the time):

* the run's ``stats.json``: records in/out per stage, drops by reason, each step's counts and
  figures (its ``summary()``), versions, and ``pipeline.yaml`` for provenance;
* the records themselves: lengths of chosen vs rejected (length bias), preference strength,
  decisions, votes (per-voter agreement with the majority), dedup clusters, sources.

Figures named by the steps are gathered into *topics* (judge position consistency, voter
reliability, flips, routing, ...) by key words, so a new step's figures reach the card without a
change here; everything else is still listed per step.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from curate.errors import InputError

if TYPE_CHECKING:
    from curate.card.data_figures import CardTally

# topic → key fragments (lower case) that put a step's count or figure under it
TOPICS: dict[str, tuple[str, ...]] = {
    "Dedup clusters": ("cluster", "duplicate"),
    "Judge position consistency": ("position", "consisten", "swap"),
    "Voter agreement": ("agreement", "agree"),
    "Voter reliability": ("reliab", "accuracy"),
    "Flips": ("flip",),
    "Human routing": ("rout", "human", "review"),
    "Annotator agreement": ("annotator", "kappa", "alpha", "iaa"),
    "Length bias": ("length", "longer"),
    "Parse failures": ("parse", "invalid", "error"),
}

# keys in a pipeline config whose values name models
MODEL_KEYS = ("model", "model_id", "model_name", "embedder", "checkpoint", "gguf", "repo_id")


def load_stats(run_dir: Path) -> dict:
    p = run_dir / "stats.json"
    if not p.exists():
        raise InputError(f"{run_dir} has no stats.json: is it a finished run directory? "
                         f"Run the pipeline first: curate run PIPELINE --out {run_dir}")
    return json.loads(p.read_text(encoding="utf-8"))


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → {'a.b': scalar}; lists of scalars are kept only when short."""
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, (list, tuple)):
        if len(d) <= 8 and all(isinstance(x, (int, float, str, bool)) or x is None for x in d):
            out[prefix] = list(d)
    elif isinstance(d, (int, float, str, bool)) or d is None:
        out[prefix] = d
    return out


def funnel(stats: dict) -> list[dict]:
    read = stats.get("read") or {}
    rows = [{"stage": "read", "step": "read", "records_in": read.get("records_in", 0),
             "records_out": read.get("records_out", 0), "dropped": read.get("dropped") or {}}]
    for s in stats.get("steps") or []:
        rows.append({"stage": s.get("name", "?"), "step": s.get("step", s.get("name", "?")),
                     "records_in": s.get("records_in", 0), "records_out": s.get("records_out", 0),
                     "dropped": s.get("dropped") or {}})
    return rows


def drops(stats: dict) -> list[dict]:
    rows = []
    for f in funnel(stats):
        for reason, n in sorted(f["dropped"].items(), key=lambda x: -x[1]):
            rows.append({"stage": f["stage"], "reason": reason, "count": int(n),
                         "kind": "quarantined" if f["stage"] == "read" else "rejected"})
    return rows


def step_figures(stats: dict) -> list[dict]:
    """Per step: its counts (``counts.X``) and figures, flattened; a count its summary repeats under the
    same name (dedup's ``clusters``) is listed once, as the figure."""
    out = []
    for s in stats.get("steps") or []:
        figures = flatten(s.get("figures") or {})
        flat = {**{f"counts.{k}": v for k, v in (s.get("counts") or {}).items() if k not in figures}, **figures}
        if flat:
            out.append({"stage": s.get("name", "?"), "figures": flat})
    return out


def label(key: str) -> str:
    """A flattened key → words a person reads: 'counts.outcome:position_flip' → 'outcome: position flip (count)'."""
    count = key.startswith("counts.")
    # a dot between digits is a number ("1.25"), not a level of the flattened key
    words = re.sub(r"(?<!\d)\.|\.(?!\d)", " › ", key.removeprefix("counts.").replace("_", " ").replace(":", ": "))
    return " ".join(words.split()) + (" (count)" if count else "")


def dedup(stats: dict) -> list[dict]:
    """Per dedup step (a step whose summary has ``clusters`` and ``removed``): records removed, by
    reason, and the clusters they formed, counted when they were removed (the kept records alone
    cannot show them: each cluster keeps one)."""
    rows = []
    for s in stats.get("steps") or []:
        fig = s.get("figures") or {}
        if "clusters" in fig and "removed" in fig:
            rows.append({"stage": s.get("name", "?"), "records_in": s.get("records_in", 0),
                         "removed": fig["removed"], "clusters": fig["clusters"],
                         "duplicate_rate": fig.get("duplicate_rate", 0.0), "by_reason": dict(s.get("dropped") or {})})
    return rows


def topics(stats: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {t: [] for t in TOPICS}
    for sf in step_figures(stats):
        for key, value in sf["figures"].items():
            low = key.lower()
            for topic, words in TOPICS.items():
                if any(w in low for w in words):
                    found[topic].append({"stage": sf["stage"], "key": key, "label": label(key), "value": value})
                    break  # one topic per figure: the first that matches
    return found


def provenance(run_dir: Path, stats: dict) -> dict:
    text = (run_dir / "pipeline.yaml").read_text(encoding="utf-8") if (run_dir / "pipeline.yaml").exists() else ""
    models: set[str] = set()
    if text:
        import yaml

        _collect_models(yaml.safe_load(text), models)
    for s in stats.get("steps") or []:
        _collect_models(s.get("options") or {}, models)
    return {"pipeline": stats.get("pipeline"), "digest": stats.get("digest"),
            "config_sha256": hashlib.sha256(text.encode()).hexdigest() if text else None,
            "pipeline_yaml": text, "models": sorted(models), "versions": _versions(stats),
            "finished_at": stats.get("finished_at")}


def _collect_models(obj: Any, out: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and v and any(m == str(k).lower() or str(k).lower().endswith("_" + m)
                                               for m in MODEL_KEYS):
                out.add(v)
            else:
                _collect_models(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect_models(v, out)


def _versions(stats: dict) -> dict:
    import importlib.metadata as md

    v = dict(stats.get("versions") or {})
    for pkg in ("datasets", "huggingface_hub", "pyarrow"):
        try:
            v.setdefault(pkg, md.version(pkg))
        except md.PackageNotFoundError:
            pass
    return v


def build_report(run_dir: str | Path, records: pl.DataFrame | CardTally | None = None,
                 export_info: dict | None = None) -> dict:
    """Every figure of the card for the run in `run_dir` (records: its output, or their tally; read a
    shard at a time if not given)."""
    from curate.card.data_figures import CardTally, card_tally

    run_dir = Path(run_dir)
    stats = load_stats(run_dir)
    if records is None:
        records = card_tally(run_dir)
    tally = records if isinstance(records, CardTally) else CardTally().add(records)
    out = stats.get("output") or {}
    data = tally.figures()
    found = topics(stats)
    _data_topics(found, data)
    return {
        "overview": {"pipeline": stats.get("pipeline"), "records_read": (stats.get("read") or {}).get("records_in", 0),
                     "quarantined": stats.get("quarantined", 0), "rejected": stats.get("rejected", 0),
                     "records_out": out.get("records", tally.records)},
        "funnel": funnel(stats), "drops": drops(stats), "topics": found, "dedup": dedup(stats),
        "step_figures": step_figures(stats), "data": data,
        "provenance": provenance(run_dir, stats), "export": export_info,
    }


def _data_topics(found: dict[str, list[dict]], data: dict) -> None:
    """Topics the records answer whatever the steps reported (stage 'records' marks them)."""
    if "lengths" in data:
        for key in ("chosen_longer_rate", "chosen_shorter_rate"):
            found["Length bias"].append({"stage": "records", "key": key, "label": label(key),
                                         "value": data["lengths"][key]})
    if "clusters" in data:
        found["Dedup clusters"].append({"stage": "records", "key": "kept_with_duplicates",
                                        "label": "kept records that stand for removed duplicates",
                                        "value": data["clusters"]["kept_with_duplicates"]})
    for v in (data.get("votes") or {}).get("voters", []):
        found["Voter agreement"].append({"stage": "records", "key": f"{v['voter']}.agreement_with_others",
                                         "label": f"{v['voter']}: agreement with the other voters",
                                         "value": v["agreement_with_others"]})
