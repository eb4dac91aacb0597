"""Round trips: records → every readable file type → Reader → the same records; and shard writers."""

import gzip
import json

import pandas as pd
import polars as pl
import pytest

from curate.io.reader import Reader
from curate.io.writers import ShardWriter, read_records
from curate.schema import add_votes, frame, make_pair

PAIRS = [
    make_pair([{"role": "system", "content": "be brief"}, {"role": "user", "content": f"question {i}?"}],
              f"good answer {i} ✓", f"bad answer {i}", "src", {"i": i})
    for i in range(7)
]


def _trl_rows():
    return [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"],
             "i": json.loads(p["metadata"])["i"]} for p in PAIRS]


def _read_all(path, **kw):
    r = Reader(str(path), batch_size=3, **kw)
    batches = list(r.batches())
    assert all(not b.quarantined for b in batches)
    return pl.concat([b.frame for b in batches])


def _same(df):
    assert df.get_column("id").to_list() == [p["id"] for p in PAIRS]
    assert df.get_column("prompt").to_list() == [p["prompt"] for p in PAIRS]
    assert df.get_column("chosen").to_list() == [p["chosen"] for p in PAIRS]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_jsonl(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _trl_rows()).encode()
    path.write_bytes(gzip.compress(text) if suffix.endswith(".gz") else text)
    _same(_read_all(path))


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pl.DataFrame(_trl_rows()).write_parquet(path)
    _same(_read_all(path))


def test_csv_with_message_cells(tmp_path):
    path = tmp_path / "d.csv"
    rows = [dict(r, prompt=json.dumps(r["prompt"], ensure_ascii=False)) for r in _trl_rows()]
    pd.DataFrame(rows).to_csv(path, index=False)
    _same(_read_all(path))


def test_hf_save_to_disk_and_load_dataset(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list(_trl_rows())
    ds.save_to_disk(str(tmp_path / "saved"))
    _same(_read_all(tmp_path / "saved", type="hf"))
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "dd"))
    _same(_read_all(tmp_path / "dd", type="hf", split="train"))
    # a folder of data files read through load_dataset (what a local Hub snapshot looks like)
    (tmp_path / "files").mkdir()
    ds.to_json(str(tmp_path / "files" / "train.jsonl"))
    _same(_read_all(tmp_path / "files", type="hf"))


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_shard_writer_and_native_reader(tmp_path, fmt):
    df = add_votes(frame(PAIRS), "judge", "llm_judge", [0.9] * 7, raw=["A"] * 7)
    w = ShardWriter(tmp_path / "run" / "data", fmt)
    w.write(0, df.head(4))
    w.write(1, df.tail(3))
    back = read_records(tmp_path / "run")
    assert back.select(df.columns).equals(df)
    # a run's output is a valid input: ids, votes and provenance survive
    again = _read_all(w.dir)
    assert again.get_column("id").to_list() == df.get_column("id").to_list()
    assert again.get_column("votes").to_list() == df.get_column("votes").to_list()


def test_limit_and_batching(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _trl_rows()))
    r = Reader(str(path), batch_size=2, limit=5)
    sizes = [b.frame.height for b in r.batches()]
    assert sizes == [2, 2, 1]


def test_text_file_of_prompts_becomes_candidates(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"Write a haiku about rain.\n\n  Explain DNS briefly.  \n" + b"bad \xff byte\n")
    batches = list(Reader(str(path), format="prompts").batches())
    df = batches[0].frame
    assert df.get_column("prompt").to_list() == [[{"role": "user", "content": "Write a haiku about rain."}],
                                                 [{"role": "user", "content": "Explain DNS briefly."}]]
    assert df.get_column("responses").to_list() == [[], []]
    assert [(q["line"], q["reason"]) for q in batches[0].quarantined] == [(4, "non_utf8")]
