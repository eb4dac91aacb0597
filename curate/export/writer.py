"""Write an export folder: Parquet shards per split, a `datasets` save_to_disk copy, a manifest.

    OUT/
      README.md                         the data card (curate.card), with the Hub `configs:` block
      data/train-00000-of-00002.parquet Parquet shards of about `shard_mb` MB each, per split
      data/test-00000-of-00001.parquet
      dataset_dict.json, train/, test/  the same rows as `datasets.DatasetDict.save_to_disk` (arrow)
      export.json                       layout, split sizes, seed, fractions, source run digest
      plots/*.png                       the card's figures

`datasets.load_dataset(OUT)` reads the Parquet shards (the card's `configs:` names them, so the arrow
copy beside them is not picked up); `datasets.load_from_disk(OUT)` reads the arrow copy. The Hub
push uploads the card, Parquet shards, plots and manifest, not the arrow copy.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.errors import ConfigError
from curate.export.layouts import check_layout, to_layout
from curate.export.split import assign_splits, check_fractions
from curate.io.writers import write_frame, write_json



@dataclass
class ExportInfo:
    """What an export wrote; saved as export.json and read by the card."""

    layout: str
    splits: dict[str, int]
    fractions: dict[str, float]
    seed: int
    files: list[str] = field(default_factory=list)
    stratify: str | None = "source"
    grouped_by: list[str] = field(default_factory=list)
    source_digest: str | None = None
    sources: dict[str, dict[str, int]] = field(default_factory=dict)  # split → source → rows

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _shards(df: pl.DataFrame, shard_mb: float) -> list[pl.DataFrame]:
    """Cut `df` into about-equal row ranges of roughly `shard_mb` MB (in-memory size as the estimate)."""
    n = max(1, math.ceil(df.estimated_size("mb") / shard_mb)) if df.height else 1
    n = min(n, max(df.height, 1))
    step = math.ceil(df.height / n) if df.height else 0
    return [df.slice(i * step, step) for i in range(n)]


def _clear(out: Path) -> None:
    """Remove what an earlier export wrote here (only our own parts, never unknown files)."""
    for p in ("data", "plots"):
        shutil.rmtree(out / p, ignore_errors=True)
    if (out / "dataset_dict.json").exists():
        for name in json.loads((out / "dataset_dict.json").read_text()).get("splits", []):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / "dataset_dict.json").unlink()
    for f in ("README.md", "export.json"):
        (out / f).unlink(missing_ok=True)


def export_dataset(records: pl.DataFrame, out: str | Path, layout: str = "trl",
                   fractions: dict[str, float] | None = None, seed: int = 0, shard_mb: float = 256.0,
                   stratify: str | None = "source", by_cluster: bool = True, arrow: bool = True,
                   overwrite: bool = False, source_digest: str | None = None) -> ExportInfo:
    """Split `records` (curate's pair schema), convert them to `layout` and write the folder above."""
    check_layout(layout)
    fractions = check_fractions(fractions or {"train": 0.9, "test": 0.1})
    if shard_mb <= 0:
        raise ConfigError(f"shard_mb must be positive, got {shard_mb}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"{out} is not empty; pass --overwrite (overwrite=True) to replace the export")
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    split = assign_splits(records, fractions, seed=seed, stratify=stratify, by_cluster=by_cluster)
    rows = to_layout(records, layout).with_columns(split)
    info = ExportInfo(layout=layout, splits={}, fractions=fractions, seed=seed, stratify=stratify,
                      grouped_by=["prompt"] + (["cluster_id"] if by_cluster and "cluster_id" in records.columns
                                               else []),
                      source_digest=source_digest)
    frames = {}
    for name in fractions:
        part = rows.filter(pl.col("split") == name).drop("split")
        frames[name] = part
        info.splits[name] = part.height
        if "source" in part.columns:
            info.sources[name] = dict(part.group_by("source").len().sort("source").iter_rows())
        shards = _shards(part, shard_mb)
        for i, shard in enumerate(shards):
            rel = f"data/{name}-{i:05d}-of-{len(shards):05d}.parquet"
            write_frame(shard, out / rel)
            info.files.append(rel)
    if arrow:
        _save_arrow(frames, out)
    write_json(info.to_dict(), out / "export.json")
    return info


def _save_arrow(frames: dict[str, pl.DataFrame], out: Path) -> None:
    import datasets
    from datasets import Dataset, DatasetDict

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per split per export is noise in a pipeline's output
    try:
        DatasetDict({k: Dataset(v.to_arrow()) for k, v in frames.items()}).save_to_disk(str(out))
    finally:
        if bars:
            datasets.enable_progress_bars()
