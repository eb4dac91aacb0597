"""Round trips: curate records → each layout → written → loaded back by `datasets` → same content."""

from __future__ import annotations

import json

import datasets
import polars as pl
import pytest

from curate.errors import ConfigError
from curate.export import LAYOUTS, export_dataset, from_layout, to_layout
from tests.helpers.export import curated_records

RECORDS = curated_records(60)
BY_ID = {r["id"]: r for r in RECORDS.iter_rows(named=True)}


def _same_content(rows, layout: str) -> None:
    assert len(rows) == RECORDS.height
    for row in rows:
        want = BY_ID[row["id"]]
        got = from_layout(row, layout)
        assert got["prompt"] == want["prompt"], (layout, row["id"])
        assert (got["chosen"], got["rejected"]) == (want["chosen"], want["rejected"])
        assert row["source"] == want["source"] and row["strength"] == pytest.approx(want["strength"])


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_round_trip_through_load_dataset_and_load_from_disk(layout, tmp_path):
    info = export_dataset(RECORDS, tmp_path, layout=layout, fractions={"train": 0.75, "test": 0.25})
    (tmp_path / "README.md").write_text(  # the configs block the card writes; tested in test_card_*
        "---\nconfigs:\n- config_name: default\n  data_files:\n"
        + "".join(f"  - split: {s}\n    path: data/{s}-*\n" for s in info.splits) + "---\n")
    hub_style = datasets.load_dataset(str(tmp_path))
    on_disk = datasets.load_from_disk(str(tmp_path))
    for ds in (hub_style, on_disk):
        assert {k: len(v) for k, v in ds.items()} == info.splits
        _same_content([r for split in ds.values() for r in split], layout)
    assert json.loads((tmp_path / "export.json").read_text())["layout"] == layout


def test_trl_layouts_pass_trls_own_checks():
    trl = pytest.importorskip("trl.data_utils")
    conv = to_layout(RECORDS, "trl").to_dicts()
    assert all(trl.is_conversational(r) for r in conv)
    # TRL's extract_prompt recovers the prompt from OpenRLHF's whole conversations: they share it exactly
    for r in to_layout(RECORDS, "openrlhf").to_dicts():
        ex = trl.extract_prompt({"chosen": r["chosen"], "rejected": r["rejected"]})
        assert ex["prompt"] == BY_ID[r["id"]]["prompt"]
        assert ex["chosen"] == [{"role": "assistant", "content": BY_ID[r["id"]]["chosen"]}]
    text = to_layout(RECORDS, "trl_text").to_dicts()
    assert not any(trl.is_conversational(r) for r in text)
    # standard form: prompt + chosen is one transcript ending in the chosen response
    r = text[0]
    assert (r["prompt"] + r["chosen"]).endswith("\n\nAssistant: " + BY_ID[r["id"]]["chosen"])


def test_openrlhf_documented_keys_and_margin():
    rows = to_layout(RECORDS, "openrlhf")
    assert {"chosen", "rejected", "margin"} <= set(rows.columns) and "prompt" not in rows.columns
    first = rows.row(0, named=True)
    assert first["chosen"][-1]["role"] == "assistant" and first["chosen"][:-1] == first["rejected"][:-1]


def test_parquet_shards_follow_the_size_and_keep_every_row(tmp_path):
    big = pl.concat([RECORDS] * 20).with_columns(
        pl.concat_str(pl.col("id"), pl.int_range(pl.len()).cast(pl.Utf8)).alias("id"))
    info = export_dataset(big, tmp_path, layout="dpo", shard_mb=0.05, arrow=False)
    train = [f for f in info.files if f.startswith("data/train-")]
    assert len(train) > 1 and all(f.endswith(f"-of-{len(train):05d}.parquet") for f in train)
    assert sum(pl.read_parquet(tmp_path / f).height for f in info.files) == big.height


def test_refuses_a_non_empty_folder_and_unknown_layout(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        export_dataset(RECORDS, tmp_path)
    with pytest.raises(ConfigError, match="unknown export layout"):
        export_dataset(RECORDS, tmp_path / "new", layout="alpaca")
    with pytest.raises(ConfigError, match="sum to 1"):
        export_dataset(RECORDS, tmp_path / "new", fractions={"train": 0.9, "test": 0.2})
