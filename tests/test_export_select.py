"""What the export writes: unique stable ids, unanswered routed pairs kept out of train, every
column of the run carried into every layout, and a TRL-style margin."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from curate.export import LAYOUTS, export_dataset, from_layout, to_layout
from curate.export.layouts import MARGIN_CLIP
from curate.schema import add_votes, frame, make_pair


def variants() -> pl.DataFrame:
    """Three pairs, the first in three variants (same content, other metadata): ids a, a, a, b, c."""
    rows = [make_pair("Fix my bike?", "Check the chain.", "No.", metadata={"variant": v}) for v in ("x", "y", "z")]
    rows += [make_pair("Name a colour.", "Blue.", "Seven."), make_pair("Say hi.", "Hi!", "...")]
    df = frame(rows)
    return df.with_columns(pl.Series("p_chosen", [0.9, 0.6, 1.0, 0.5, None]),
                           pl.Series("flipped", [False, True, False, False, False]),
                           pl.Series("decision", ["keep", "flip", "keep", "keep", "route"]))


def _rows(out, info) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(out / f) for f in info.files], how="diagonal_relaxed")


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_repeated_pairs_get_unique_stable_ids_and_keep_their_columns(layout, tmp_path):
    df = variants()
    a = df["id"][0]
    assert df["id"].n_unique() == 3  # the failing input: five rows, three ids
    info = export_dataset(df, tmp_path / "one", layout=layout, routed="include", arrow=False)
    rows = _rows(tmp_path / "one", info)
    assert rows.height == 5 and rows["id"].n_unique() == 5 and info.renamed_ids == 2
    assert set(rows["id"]) == {a, f"{a}#1", f"{a}#2", *df["id"][3:]}
    again = _rows(tmp_path / "two", export_dataset(df, tmp_path / "two", layout=layout, routed="include", arrow=False))
    key = ["metadata"]
    assert again.sort(key)["id"].to_list() == rows.sort(key)["id"].to_list()  # stable
    # the user's metadata and curate's own columns survive every layout; the inverse still holds
    assert {"metadata", "source", "p_chosen", "flipped", "decision", "margin"} <= set(rows.columns)
    assert sorted(json.loads(m)["variant"] for m in rows["metadata"] if json.loads(m)) == ["x", "y", "z"]
    assert "votes" not in rows.columns
    for row in rows.iter_rows(named=True):
        back = from_layout(row, layout)
        assert (back["chosen"], back["rejected"]) in {(c, r) for c, r in zip(df["chosen"], df["rejected"])}


def test_margin_is_the_clipped_logit_of_p_chosen_or_the_runs_own():
    m = to_layout(variants(), "trl")["margin"].to_list()
    assert m[0] == pytest.approx(math.log(9)) and m[1] == pytest.approx(math.log(1.5))
    assert m[2] == MARGIN_CLIP and m[3] == 0.0 and m[4] == 0.0  # p = 1 clipped; p = 0.5 and null: no margin
    own = to_layout(variants().with_columns(pl.lit(0.25).alias("margin")), "openrlhf")
    assert own["margin"].to_list() == [0.25] * 5 and own.schema["margin"] == pl.Float64
    assert "margin" not in to_layout(variants().drop("p_chosen"), "dpo").columns


def routed_records() -> pl.DataFrame:
    rows = [make_pair(f"Question {i}?", f"good {i}", f"bad {i}") for i in range(12)]
    decision = ["route"] * 4 + ["keep"] * 8
    df = frame(rows).with_columns(pl.Series("decision", decision),
                                  # 1: answered (human vote), 2: human_status done, 0 and 3: waiting
                                  pl.Series("human_status", [None, None, "done", "routed"] + [None] * 8))
    return add_votes(df, "ann", "human", [None, 0.9] + [None] * 10)


@pytest.mark.parametrize("mode, train_test, routed", [("own_split", 10, 2), ("exclude", 10, 0), ("include", 12, 0)])
def test_unanswered_routed_pairs_stay_out_of_train(mode, train_test, routed, tmp_path):
    df = routed_records()
    waiting = {df["id"][0], df["id"][3]}
    info = export_dataset(df, tmp_path, routed=mode, fractions={"train": 0.5, "test": 0.5})
    assert info.splits["train"] + info.splits["test"] == train_test
    assert info.splits.get("routed", 0) == routed
    assert info.routed == {"mode": mode, "unresolved": 2, "excluded": 2 if mode == "exclude" else 0}
    train = pl.read_parquet([tmp_path / f for f in info.files if "/train-" in f])
    assert (waiting & set(train["id"])) == set() or mode == "include"
    if mode == "own_split":
        got = pl.read_parquet([tmp_path / f for f in info.files if "/routed-" in f])
        assert set(got["id"]) == waiting


def test_no_routed_split_when_nothing_waits(tmp_path):
    info = export_dataset(routed_records().drop("decision"), tmp_path)
    assert set(info.splits) == {"train", "test"} and info.routed["unresolved"] == 0


@pytest.mark.parametrize("mode, want", [("own_split", "routed"), ("exclude", None)])
def test_export_step_marks_the_split_of_waiting_pairs(mode, want, tmp_path):
    from curate.export.step import Export

    df = routed_records()
    step = Export(out=str(tmp_path / mode), routed=mode, card=False, arrow=False)
    step.fit(lambda: iter([df]))
    split = step.process(df)["split"].to_list()
    assert split[0] == want and split[3] == want and split[1] in ("train", "test")
    assert step.stats.figures["unanswered_routed"]["unresolved"] == 2


def test_unique_ids_count_repeats_across_batches_and_ignore_hash_collisions():
    from curate.export.select import UniqueIds
    from curate.id_hash import id_hashes

    batches = [["a", "b", "a"], ["c", "a", "b"], ["d"]]  # pass 1 and pass 2 read the same ids
    unique = UniqueIds([id_hashes(pl.Series(b)) for b in batches])
    # a repeated hash equal to c's and d's stands for collisions: c and d must still come through unrenamed
    cd_hash = pl.Series(["c", "d"]).hash(seed=0).to_numpy()
    unique._hashes = np.sort(np.concatenate([unique._hashes, cd_hash]))
    got = [unique.apply(pl.Series(batch)).to_list() for batch in batches]
    assert got == [["a", "b", "a#1"], ["c", "a#2", "b#1"], ["d"]] and unique.renamed == 3
