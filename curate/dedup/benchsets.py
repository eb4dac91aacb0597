"""Benchmark prompt sets for decontamination, read from files the user supplies.

Accepted: ``.txt`` (one prompt per line), ``.jsonl`` / ``.json`` (a list of objects or one per
line) and ``.parquet``; ``.gz`` works for the text formats. In tabular files the prompt is the
``field`` column, or the first of prompt / question / instruction / input / text that exists;
a prompt given as chat messages counts its user turns.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import InputError

FIELDS = ("prompt", "question", "instruction", "input", "text")


@dataclass(frozen=True)
class BenchItem:
    file: str
    index: int
    text: str


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _as_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, list):  # chat messages
        parts = [m.get("content", "") for m in v if isinstance(m, dict) and m.get("role", "user") == "user"]
        return "\n\n".join(p for p in parts if isinstance(p, str)) or None
    return None


def _pick(obj: dict, field: str | None, where: str) -> str | None:
    if field:
        if field not in obj:
            raise InputError(f"{where}: no field '{field}' (fields: {', '.join(obj)}); set decontaminate's `field`")
        return _as_text(obj[field])
    for f in FIELDS:
        if f in obj:
            return _as_text(obj[f])
    raise InputError(f"{where}: none of the fields {FIELDS} found (fields: {', '.join(obj)}); set `field`")


def load_benchmark(path: str | Path, field: str | None = None) -> list[BenchItem]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"benchmark prompt file {p} does not exist; give a .txt/.jsonl/.json/.parquet path")
    name = p.name.removesuffix(".gz")
    rows: list[Any]
    if name.endswith(".parquet"):
        import polars as pl

        rows = pl.read_parquet(p).to_dicts()
    elif name.endswith(".txt"):
        with _open(p) as fh:
            rows = [line.rstrip("\n") for line in fh]
    elif name.endswith(".json"):
        with _open(p) as fh:
            rows = json.load(fh)
    elif name.endswith(".jsonl"):
        with _open(p) as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    else:
        raise InputError(f"benchmark prompt file {p}: unknown type; use .txt, .jsonl, .json or .parquet")
    out = []
    for i, r in enumerate(rows):
        text = r if isinstance(r, str) else _pick(r, field, f"{p}:{i + 1}")
        if text and text.strip():
            out.append(BenchItem(str(p), i, text))
    return out
