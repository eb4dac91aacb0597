"""The save_to_disk copy written during the export's second pass reads back like datasets' own."""

from __future__ import annotations

import json

import datasets
import polars as pl
import pytest
from datasets import Dataset, DatasetDict

from curate.export.writer import export_dataset, export_stream
from tests.helpers.export import curated_records

RECORDS = pl.concat([curated_records(60).with_columns(pl.col("id") + f"-{k}") for k in range(10)])
# a routed pair waiting for humans gives a 'routed' split of one row; 'validation' at 0.001 of 600
# records gets no group at all, so an empty split is covered too
ROUTED = RECORDS.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("route")).otherwise(pl.lit("keep"))
                              .alias("decision"))
FRACTIONS = {"train": 0.799, "validation": 0.001, "test": 0.2}


def _save_to_disk_of_parquet(out, info, dest):
    """The old path: each split's Parquet shards through Dataset.from_parquet, then DatasetDict.save_to_disk.

    Non-empty splits only: save_to_disk writes no data file for an empty Dataset (datasets 5.2), and
    load_from_disk then fails on it (IndexError), so the old path's empty splits never loaded."""
    parts = {name: Dataset.from_parquet([str(out / f) for f in info.files if f.startswith(f"data/{name}-")],
                                        cache_dir=str(dest / "cache"))
             for name, n in info.splits.items() if n}
    DatasetDict(parts).save_to_disk(str(dest / "ref"))
    return datasets.load_from_disk(str(dest / "ref"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("arrow")
    batches = lambda: (ROUTED.slice(i, 41) for i in range(0, ROUTED.height, 41))  # noqa: E731
    info, _ = export_stream(batches, out, layout="trl", fractions=FRACTIONS, seed=4, shard_mb=0.004)
    return out, info


def test_load_from_disk_gives_the_old_paths_rows_and_features(exported, tmp_path):
    out, info = exported
    assert info.splits["validation"] == 0 and info.splits["routed"] == 1 and len(info.files) > 4
    got, want = datasets.load_from_disk(str(out)), _save_to_disk_of_parquet(out, info, tmp_path)
    assert list(got) == list(info.splits) and list(want) == ["train", "test", "routed"]
    for name in got:
        assert got[name].features == want["train"].features, name
        assert got[name].to_list() == (want[name].to_list() if name in want else []), name
        assert got[name].split == name and got[name].info.splits[name].num_examples == info.splits[name]
    assert not (out / ".arrow-cache").exists()


def test_metadata_has_the_keys_save_to_disk_writes(exported, tmp_path):
    """state.json is written by hand (datasets has no public writer for it): same keys as the installed
    datasets writes; dataset_info.json (DatasetInfo.write_to_directory) holds at least its keys."""
    out, _ = exported
    DatasetDict({"train": Dataset.from_dict({"id": ["a"]})}).save_to_disk(str(tmp_path))
    state, info = (json.loads((tmp_path / "train" / n).read_text()) for n in ("state.json", "dataset_info.json"))
    for split in json.loads((out / "dataset_dict.json").read_text())["splits"]:
        assert json.loads((out / split / "state.json").read_text()).keys() == state.keys(), split
        assert json.loads((out / split / "dataset_info.json").read_text()).keys() >= info.keys(), split


def test_copy_shards_at_datasets_limit_and_keeps_row_order(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "MAX_SHARD_SIZE", "20KB")
    info = export_dataset(RECORDS, tmp_path, layout="dpo", fractions={"train": 0.9, "test": 0.1}, seed=1)
    files = sorted(p.name for p in (tmp_path / "train").glob("*.arrow"))
    assert len(files) > 2 and files == [f"data-{i:05d}-of-{len(files):05d}.arrow" for i in range(len(files))]
    parquet = pl.concat([pl.read_parquet(tmp_path / f) for f in info.files if f.startswith("data/train-")])
    assert datasets.load_from_disk(str(tmp_path))["train"]["id"] == parquet["id"].to_list()


def test_no_arrow_copy_when_off_and_reexport_replaces_it(tmp_path):
    export_dataset(RECORDS, tmp_path, fractions={"train": 0.5, "dev": 0.5})
    assert (tmp_path / "dev" / "state.json").exists()
    export_dataset(RECORDS, tmp_path, arrow=False, overwrite=True)
    assert not (tmp_path / "dataset_dict.json").exists() and not (tmp_path / "dev").exists()
    assert not (tmp_path / "train").exists() and not (tmp_path / ".arrow-cache").exists()
