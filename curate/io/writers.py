"""Shard writers. Every write is atomic (temp file + rename), so a crash leaves either the old
shard or the new one, never half of one; that is what makes resume exact."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from curate.errors import InputError


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


# zstd level 2, not polars' default 3: a 20k-pair HH shard wrote in 71 ms against 84 and came out 5%
# bigger (5.44 against 5.18 MB; level 1: 69 ms, 7.40 MB), and every stage writes its shards
# (benchmarks/README.md, "Ingest, 2026-12-07e")
ZSTD_LEVEL = 2


def write_frame(df: pl.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or ("jsonl" if path.suffix in (".jsonl", ".json") else "parquet")
    tmp = _tmp(path)
    if fmt == "parquet":
        df.write_parquet(tmp, compression="zstd", compression_level=ZSTD_LEVEL, statistics=True)
    elif fmt == "jsonl":
        df.write_ndjson(tmp)
    else:
        raise ValueError(f"unknown shard format {fmt}")
    os.replace(tmp, path)
    return path


def write_jsonl(rows: Iterable[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)
    return path


def write_json(obj: object, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


class ShardWriter:
    """Writes batch `i` to ``dir/part-{i:05d}.{ext}``; rewriting a shard replaces it."""

    def __init__(self, directory: str | Path, fmt: str = "parquet"):
        self.dir = Path(directory)
        self.fmt = fmt
        self.ext = "parquet" if fmt == "parquet" else "jsonl"

    def path(self, index: int) -> Path:
        return self.dir / f"part-{index:05d}.{self.ext}"

    def write(self, index: int, df: pl.DataFrame) -> Path:
        return write_frame(df, self.path(index), self.fmt)

    def shards(self) -> list[Path]:
        return sorted(self.dir.glob(f"part-*.{self.ext}"))


def shard_files(path: str | Path) -> list[Path]:
    p = Path(path)
    if p.is_file():
        return [p]
    if (p / "data").is_dir():  # a run directory: its output lives in data/
        p = p / "data"
    files = sorted([*p.glob("*.parquet"), *p.glob("*.jsonl")])
    if not files:
        raise InputError(f"no parquet or jsonl shards in {p}")
    return files


def read_shard(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    from curate.schema import conform

    return conform(pl.read_ndjson(path)) if path.stat().st_size else pl.DataFrame()


def iter_shards(path: str | Path) -> Iterator[pl.DataFrame]:
    for f in shard_files(path):
        yield read_shard(f)


def read_records(path: str | Path) -> pl.DataFrame:
    """All records of a run directory, shard folder or single file, in shard order."""
    frames = [df for df in iter_shards(path) if df.width]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
