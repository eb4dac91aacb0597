"""The streaming export: many small batches in, the same export as the in-memory path out."""

from __future__ import annotations

import json

import datasets
import polars as pl
import pytest

from curate.export.layouts import to_layout
from curate.export.split import assign_splits
from curate.export.step import Export
from curate.export.writer import export_dataset, export_stream
from curate.schema import prompt_text_expr
from tests.helpers.export import curated_records

# 600 records (20 copies of 60 with distinct ids, so shared prompts and clusters span many batches)
RECORDS = pl.concat([curated_records(60).with_columns(pl.col("id") + f"-{k}") for k in range(10)])
FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}


def _batches(size: int = 37):
    return lambda: (RECORDS.slice(i, size) for i in range(0, RECORDS.height, size))


def _rows(out, files) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(out / f).with_columns(pl.lit(f.split("/")[1].split("-")[0]).alias("split"))
                      for f in files]).sort("id")


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream")
    info, plan = export_stream(_batches(), out, layout="trl", fractions=FRACTIONS, seed=4, shard_mb=0.004)
    return out, info, plan


def test_same_rows_and_splits_as_the_dataframe_path(streamed, tmp_path):
    out, info, plan = streamed
    whole = export_dataset(RECORDS, tmp_path, layout="trl", fractions=FRACTIONS, seed=4, shard_mb=0.004,
                           arrow=False)
    assert info.splits == whole.splits and info.sources == whole.sources and sum(info.splits.values()) == 600
    assert _rows(out, info.files).equals(_rows(tmp_path, whole.files))
    # the split each record got is the one assign_splits gives the whole frame at once
    want = dict(zip(RECORDS["id"], assign_splits(RECORDS, FRACTIONS, seed=4)))
    assert dict(zip(RECORDS["id"], plan.lookup(RECORDS["id"]))) == want
    assert _rows(out, info.files).select("id", "split").rows() == sorted(want.items())
    assert plan.lookup(pl.Series(["not-an-id"])).to_list() == [None]


def test_several_shards_per_split_named_of_n(streamed):
    out, info, _ = streamed
    assert not list((out / "data").glob(".tmp-*")) and not (out / ".arrow-cache").exists()
    for name in FRACTIONS:
        files = sorted(f for f in info.files if f.startswith(f"data/{name}-"))
        assert len(files) > 1, name
        assert files == [f"data/{name}-{i:05d}-of-{len(files):05d}.parquet" for i in range(len(files))]
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(f.split("/")[1] for f in info.files)
    assert json.loads((out / "export.json").read_text())["files"] == info.files


def test_no_prompt_or_cluster_in_two_splits(streamed):
    out, info, plan = streamed
    d = RECORDS.with_columns(plan.lookup(RECORDS["id"]), prompt_text_expr().str.to_lowercase().alias("ptext"))
    for key in ("ptext", "cluster_id"):
        assert d.drop_nulls(key).group_by(key).agg(pl.col("split").n_unique())["split"].max() == 1, key
    assert info.grouped_by == ["prompt", "cluster_id"]


def test_load_dataset_and_load_from_disk_read_it(streamed):
    out, info, _ = streamed
    (out / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n"
                                   + "".join(f"  - split: {s}\n    path: data/{s}-*\n" for s in info.splits)
                                   + "---\n")
    try:
        want = to_layout(RECORDS, "trl").sort("id").to_dicts()
        for ds in (datasets.load_dataset(str(out)), datasets.load_from_disk(str(out))):
            assert {k: len(v) for k, v in ds.items()} == info.splits
            rows = sorted((r for split in ds.values() for r in split), key=lambda r: r["id"])
            assert [r["chosen"] for r in rows] == [r["chosen"] for r in want]
            assert [r["prompt"] for r in rows] == [r["prompt"] for r in want]
    finally:
        (out / "README.md").unlink()


def test_step_fit_streams_and_labels_batches(tmp_path):
    step = Export({"out": str(tmp_path / "x"), "splits": FRACTIONS, "seed": 4, "shard_mb": 0.01, "arrow": False})
    step.fit(_batches(50))
    assert step.stats.figures["split_records"] == json.loads((tmp_path / "x" / "export.json").read_text())["splits"]
    labelled = pl.concat([step.process(b) for b in _batches(50)()])
    assert labelled["split"].to_list() == assign_splits(RECORDS, FRACTIONS, seed=4).to_list()
