"""A dataset whose split assignment is pinned (tests/test_export_split.py): several pairs per prompt,
dedup clusters, three sources (plus an empty one and two that sort by code point), and ids built to
stress string order: content hashes, a long shared prefix, ids that are prefixes of others, non-ASCII,
a NUL byte, and repeated ids (variants of one pair)."""

from __future__ import annotations

import hashlib
import random

import polars as pl

from curate.schema import frame, make_pair

SOURCES = ["hh", "uf", "synth"]


def _id(i: int, kind: int, h: str) -> str:
    return [h, f"shared/prefix/longer/than/three/words/{i}", str(i), f"é{i % 97}ü{i}", f"{h}-{i}",
            f"{h[:3]}\x00{i}"][kind]


def pinned_records(n: int = 2400, seed: int = 2024) -> pl.DataFrame:
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        p = rng.randrange(n // 5)  # about five pairs per prompt; case and spacing vary
        text = f"Question {p}:  how does thing {p} work?" if i % 2 else f"question {p}: how does THING {p} work?"
        source = rng.choice(SOURCES) if i % 50 else rng.choice(["", "Übersetzung", "Web"])
        recs.append(make_pair(text, f"good {i}", f"bad {i}", source=source))
    df = frame(recs)
    ids = [_id(i, rng.randrange(6), hashlib.sha256(str(i).encode()).hexdigest()[:16]) for i in range(n)]
    df = df.with_columns(pl.Series("id", ids),
                         pl.Series("cluster_id", [f"k{rng.randrange(n // 4)}" if rng.random() < 0.12 else None
                                                  for _ in range(n)]),
                         pl.Series("source", [None if i % 97 == 5 else s for i, s in enumerate(df["source"])]))
    # variants of one pair: the same id (and prompt) again, with another source
    twins = df.slice(0, n // 40).with_columns(pl.lit("uf").alias("source"))
    return pl.concat([df, twins])


def digest(ids: pl.Series, split: pl.Series) -> str:
    """A short digest of which split every id went to, in row order."""
    text = "\n".join(f"{i}\t{s}" for i, s in zip(ids.to_list(), split.to_list()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
