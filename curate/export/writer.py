"""Write an export folder: Parquet shards per split, a `datasets` save_to_disk copy, a manifest.

    OUT/
      README.md                         the data card (curate.card), with the Hub `configs:` block
      data/train-00000-of-00002.parquet Parquet shards of about `shard_mb` MB each, per split
      data/test-00000-of-00001.parquet
      dataset_dict.json, train/, test/  the same rows as `datasets.DatasetDict.save_to_disk` (arrow)
      export.json                       layout, split sizes, seed, fractions, source run digest
      plots/*.png                       the card's figures

`datasets.load_dataset(OUT)` reads the Parquet shards (the card's `configs:` names them, so the arrow
copy beside them is not picked up); `datasets.load_from_disk(OUT)` reads the arrow copy, which is
written batch by batch beside the Parquet shards (curate.export.arrow_copy). The Hub push uploads the
card, Parquet shards, plots and manifest, not the arrow copy.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from curate.errors import ConfigError
from curate.export.arrow_copy import TMP as ARROW_TMP
from curate.export.arrow_copy import ArrowCopy
from curate.export.layouts import check_layout, to_layout
from curate.export.select import ROUTED_SPLIT, Routed, UniqueIds, unresolved
from curate.export.split import SplitPlan, check_fractions, plan_splits
from curate.id_hash import id_hashes
from curate.io.writers import write_json
from curate.step import Batches


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
    routed: dict = field(default_factory=dict)  # mode, unresolved (unanswered routed pairs), excluded
    renamed_ids: int = 0  # rows whose repeated id got a '#n' suffix (curate.export.select)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class _ShardSink:
    """One split's rows → Parquet files of about `limit` bytes (in-memory size as the estimate).

    Files get temporary names while written (``data/.tmp-train-00000.parquet``, hidden from `datasets`);
    ``finish`` renames them to ``data/train-00000-of-00003.parquet`` once the count is known. Every
    table written is also handed to `copy` (the split's arrow copy) when one is given."""

    def __init__(self, data: Path, split: str, schema, limit: float, copy: ArrowCopy | None = None):
        self.data, self.split, self.schema, self.limit, self.copy = data, split, schema, limit, copy
        self.tmp: list[Path] = []
        self._writer = None
        self._size = 0.0

    def _open(self):
        import pyarrow.parquet as pq

        path = self.data / f".tmp-{self.split}-{len(self.tmp):05d}.parquet"
        self.tmp.append(path)
        self._size = 0.0
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        return self._writer

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write(self, df: pl.DataFrame) -> None:
        """Append `df`, cutting it where the current file reaches the limit (so one big frame still shards)."""
        per_row = df.estimated_size() / df.height if df.height else 0.0
        while df.height:
            take = min(df.height, max(1, math.ceil((self.limit - self._size) / per_row))) if per_row else df.height
            table = df.slice(0, take).to_arrow()
            table = table if table.schema == self.schema else table.cast(self.schema)
            (self._writer or self._open()).write_table(table)
            if self.copy is not None:
                self.copy.write(self.split, table)
            self._size += take * per_row
            df = df.slice(take)
            if self._size >= self.limit:
                self._close()

    def finish(self) -> list[str]:
        """Close the last file and give every file its final ``-of-`` name; returns them relative to OUT."""
        self._close()
        if not self.tmp:  # an empty split still gets one (empty) shard, so every split has a file
            self._open().close()
            self._writer = None
        names = []
        for i, path in enumerate(self.tmp):
            rel = f"data/{self.split}-{i:05d}-of-{len(self.tmp):05d}.parquet"
            os.replace(path, self.data.parent / rel)
            names.append(rel)
        return names


def _clear(out: Path) -> None:
    """Remove what an earlier export wrote here (only our own parts, never unknown files)."""
    for p in ("data", "plots", ARROW_TMP):
        shutil.rmtree(out / p, ignore_errors=True)
    if (out / "dataset_dict.json").exists():
        for name in json.loads((out / "dataset_dict.json").read_text()).get("splits", []):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / "dataset_dict.json").unlink()
    for f in ("README.md", "export.json"):
        (out / f).unlink(missing_ok=True)


def _prepare(out: Path, layout: str, fractions: dict[str, float] | None, shard_mb: float,
             overwrite: bool) -> dict[str, float]:
    check_layout(layout)
    fractions = check_fractions(fractions or {"train": 0.9, "test": 0.1})
    if shard_mb <= 0:
        raise ConfigError(f"shard_mb must be positive, got {shard_mb}")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"{out} is not empty; pass --overwrite (overwrite=True) to replace the export")
        _clear(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    return fractions


def _layout_schema(schemas: set) -> pl.DataFrame:
    """An empty frame with every batch's layout columns, each at its common type (like a relaxed concat)."""
    frames = [pl.DataFrame(schema=dict(s)) for s in schemas]
    return pl.concat(frames, how="diagonal_relaxed").clear() if frames else pl.DataFrame()


def export_stream(batches: Batches, out: str | Path, layout: str = "trl",
                  fractions: dict[str, float] | None = None, seed: int = 0, shard_mb: float = 256.0,
                  stratify: str | None = "source", by_cluster: bool = True, arrow: bool = True,
                  overwrite: bool = False, source_digest: str | None = None,
                  routed: Routed = "own_split") -> tuple[ExportInfo, SplitPlan]:
    """Export the records `batches()` yields (called twice) in two passes, holding one batch at a time.

    Pass 1 keeps only the split keys (curate.export.split.plan_splits), the ids' 64-bit hashes and each
    batch's layout schema; pass 2 converts each batch to `layout`, makes its ids unique and appends its rows to its
    split's Parquet shards and, with `arrow`, to its save_to_disk copy (curate.export.arrow_copy).
    Unanswered routed pairs follow `routed` (curate.export.select). Returns what was written and the
    id → split plan."""
    out = Path(out)
    fractions = _prepare(out, layout, fractions, shard_mb, overwrite)
    routed = check_routed(routed, fractions)
    schemas: set = set()
    ids: list[np.ndarray] = []  # every exported id's hash, for UniqueIds
    held = Counter()  # unanswered routed pairs: {"unresolved": n}

    def keyed():  # pass 1 also notes the layout schema of each batch, so every shard gets the same one
        for b in batches():
            if b.height:  # an empty jsonl shard has no columns at all
                schemas.add(tuple(to_layout(b.clear(), layout).schema.items()))
                held["unresolved"] += int(unresolved(b).sum())
                b = _exported(b, routed)
                ids.append(id_hashes(b.get_column("id")))
            yield b.filter(~unresolved(b)) if routed == "own_split" else b

    plan = plan_splits(keyed, fractions, seed=seed, stratify=stratify, by_cluster=by_cluster)
    own = routed == "own_split" and held["unresolved"] > 0  # no empty 'routed' split when nothing waits
    names = list(fractions) + ([ROUTED_SPLIT] if own else [])
    target = _layout_schema(schemas)
    schema = target.to_arrow().schema
    copy = ArrowCopy(out, names, schema) if arrow else None
    sinks = {name: _ShardSink(out / "data", name, schema, shard_mb * 1024 ** 2, copy) for name in names}
    sources: dict[str, Counter] = {name: Counter() for name in names}
    counts = dict.fromkeys(names, 0)
    unique = UniqueIds(ids)
    ids.clear()  # UniqueIds keeps only the repeated hashes
    for batch in batches():
        if not batch.height:
            continue
        batch = _exported(batch, routed)
        rows = pl.concat([target, to_layout(batch, layout)], how="diagonal_relaxed").select(target.columns)
        rows = rows.with_columns(unique.apply(rows.get_column("id")))
        split = plan.lookup(batch.get_column("id"))
        if own:
            split = pl.when(unresolved(batch)).then(pl.lit(ROUTED_SPLIT)).otherwise(split)
            split = batch.select(split.alias("split")).to_series()
        for name in names:
            part = rows.filter(split == name)
            if part.height:
                sinks[name].write(part)
                counts[name] += part.height
                if "source" in part.columns:
                    sources[name].update(dict(part.group_by("source").len().iter_rows()))
    info = ExportInfo(layout=layout, splits={}, fractions=fractions, seed=seed, stratify=stratify,
                      grouped_by=["prompt"] + (["cluster_id"] if plan.has_cluster else []),
                      source_digest=source_digest, renamed_ids=unique.renamed,
                      routed={"mode": routed, "unresolved": held["unresolved"],
                              "excluded": held["unresolved"] if routed == "exclude" else 0})
    for name, sink in sinks.items():
        info.files += sink.finish()
        info.splits[name] = counts[name]
        if "source" in target.columns:  # nulls first, as polars sorts them
            info.sources[name] = dict(sorted(sources[name].items(), key=lambda kv: (kv[0] is not None, kv[0] or "")))
    if copy is not None:
        copy.finish()
    write_json(info.to_dict(), out / "export.json")
    return info, plan


def _exported(batch: pl.DataFrame, routed: Routed) -> pl.DataFrame:
    """The rows of `batch` the export writes: all but unanswered routed pairs under ``exclude``."""
    return batch.filter(~unresolved(batch)) if routed == "exclude" else batch


def check_routed(routed: str, fractions: dict[str, float]) -> Routed:
    if routed not in ("exclude", "include", "own_split"):
        raise ConfigError(f"routed must be exclude, include or own_split, got {routed!r}")
    if routed == "own_split" and ROUTED_SPLIT in fractions:
        raise ConfigError(f"routed: own_split writes a split named '{ROUTED_SPLIT}'; rename that split in splits")
    return routed  # type: ignore[return-value]


def export_dataset(records: pl.DataFrame, out: str | Path, layout: str = "trl",
                   fractions: dict[str, float] | None = None, seed: int = 0, shard_mb: float = 256.0,
                   stratify: str | None = "source", by_cluster: bool = True, arrow: bool = True,
                   overwrite: bool = False, source_digest: str | None = None,
                   routed: Routed = "own_split") -> ExportInfo:
    """Split `records` (curate's pair schema), convert them to `layout` and write the folder above.

    A thin wrapper over export_stream for a frame already in memory."""
    info, _ = export_stream(lambda: iter([records]), out, layout=layout, fractions=fractions, seed=seed,
                            shard_mb=shard_mb, stratify=stratify, by_cluster=by_cluster, arrow=arrow,
                            overwrite=overwrite, source_digest=source_digest, routed=routed)
    return info
