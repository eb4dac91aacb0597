"""Regression tests for inputs that used to misread or abort a run (issues 12 and 14), each built
from the failing input."""

import gzip
import json

import polars as pl
import pytest

from curate.errors import ConfigError, InputError
from curate.io.reader import Reader
from tests.helpers.data import need_shared_data as shared_data

TRL = {"prompt": "what is 2+2?", "chosen": "4", "rejected": "5"}
HH = {"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}


def _read(path, **kw):
    batches = list(Reader(path if isinstance(path, list) else str(path), **kw).batches())
    df = pl.concat([b.frame for b in batches], how="diagonal_relaxed")
    return df, [q for b in batches for q in b.quarantined]


# ------------------------------------------------------------------ JSON arrays


@pytest.mark.parametrize("gz", [False, True])
def test_json_array_is_read_as_records_with_array_index_as_line(tmp_path, gz):
    rows = [dict(TRL, chosen=f"4 ({i})") for i in range(5)] + [{"prompt": "x", "chosen": "", "rejected": "y"}, 7]
    text = json.dumps(rows, indent=2).encode()
    path = tmp_path / ("d.json.gz" if gz else "d.json")
    path.write_bytes(gzip.compress(text) if gz else text)
    df, bad = _read(path, batch_size=2)
    assert df.height == 5 and df["chosen"].to_list()[0] == "4 (0)"
    assert [(q["line"], q["reason"]) for q in bad] == [(6, "empty_response"), (7, "not_an_object")]


def test_json_file_holding_jsonl_still_reads(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("".join(json.dumps(dict(TRL, chosen=f"c{i}")) + "\n" for i in range(3)))
    df, bad = _read(path)
    assert df.height == 3 and not bad


def test_broken_json_array_is_one_quarantined_row(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": ')
    df, bad = _read(path, format="trl")
    assert df.height == 0 and [q["reason"] for q in bad] == ["invalid_json"] and "d.json" in bad[0]["detail"]


def test_limit_counts_json_array_rows(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([dict(TRL, chosen=f"c{i}") for i in range(10)]))
    df, _ = _read(path, limit=4, batch_size=3)
    assert df.height == 4


# ------------------------------------------------------------------ LLMBar (real rows)

LLMBAR = {"columns": {"prompt": "input", "response_a": "output_1", "response_b": "output_2", "winner": "label"},
          "format_options": {"winner_values": {1: "response_a", 2: "response_b"}}}


def test_llmbar_dataset_reads_with_a_winner_column():
    path = shared_data("llmbar/Natural/dataset.json.gz")
    gold = json.loads(gzip.decompress(path.read_bytes()))
    df, bad = _read(path, format="mapping", **LLMBAR)
    assert df.height == len(gold) == 100 and not bad
    for rec, row in zip(df.iter_rows(named=True), gold):
        win, lose = ("output_1", "output_2") if row["label"] == 1 else ("output_2", "output_1")
        assert rec["prompt"] == [{"role": "user", "content": row["input"]}]
        assert (rec["chosen"], rec["rejected"]) == (row[win], row[lose])
        assert rec["source"] == "dataset.json.gz"


def test_llmbar_judge_results_read_too():
    path = shared_data("llmbar/Natural/evaluators/GPT-4/Vanilla/result.json.gz")
    df, bad = _read(path, format="mapping", **LLMBAR)
    assert df.height == 100 and not bad
    assert "results" in json.loads(df["metadata"][0])


def test_winner_ties_and_unknown_values_are_quarantined(tmp_path):
    rows = [{"q": "a?", "x": "1", "y": "2", "w": 1}, {"q": "b?", "x": "1", "y": "2", "w": 0},
            {"q": "c?", "x": "1", "y": "2", "w": 9}, {"q": "d?", "x": "1", "y": "2", "w": "2"}]
    path = tmp_path / "w.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cols = {"prompt": "q", "response_a": "x", "response_b": "y", "winner": "w"}
    df, bad = _read(path, format="mapping", columns=cols,
                    format_options={"winner_values": {1: "response_a", 2: "response_b", 0: "tie"}})
    assert list(zip(df["chosen"], df["rejected"])) == [("1", "2"), ("2", "1")]
    assert [(q["line"], q["reason"]) for q in bad] == [(2, "tie"), (3, "unknown_winner")]


# ------------------------------------------------------------------ lists of response variants

VARIANTS = {"prompt": "p?", "chosen": ["c0", "c1", "c2"], "rejected": ["r0", "r1", "r2"], "id": "x1"}


@pytest.mark.parametrize("mode,expect", [
    ("cross", [(i, j) for i in range(3) for j in range(3)]),
    ("matched", [(0, 0), (1, 1), (2, 2)]),
    ("first", [(0, 0)])])
def test_expand_variants_into_pairs(tmp_path, mode, expect):
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps(VARIANTS) + "\n")
    df, bad = _read(path, format="mapping", columns={"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
                    format_options={"expand": mode})
    meta = [json.loads(m) for m in df["metadata"]]
    assert [(m["chosen_index"], m["rejected_index"]) for m in meta] == expect and not bad
    assert df["chosen"].to_list() == [f"c{i}" for i, _ in expect]
    assert df["rejected"].to_list() == [f"r{j}" for _, j in expect]
    assert df["id"].n_unique() == df.height and meta[0]["id"] == "x1"


def test_matched_expand_with_unequal_lists_is_quarantined(tmp_path):
    path = tmp_path / "v.jsonl"
    path.write_text(json.dumps(dict(VARIANTS, rejected=["r0"])) + "\n")
    _, bad = _read(path, format="mapping", columns={"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
                   format_options={"expand": "matched"})
    assert [q["reason"] for q in bad] == ["variant_count_mismatch"]


# ------------------------------------------------------------------ inputs that aborted a run


def test_deeply_nested_row_is_quarantined(tmp_path):
    deep = "[" * 1000 + "]" * 1000
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(TRL) + "\n" + '{"prompt": "x", "chosen": "a", "rejected": "b", "m": ' + deep + "}\n")
    df, bad = _read(path, format="trl")
    assert df.height == 1 and [(q["line"], q["reason"]) for q in bad] == [(2, "too_deep")]


def test_corrupt_deflate_data_keeps_the_lines_before_it(tmp_path):
    # a second gzip member whose first deflate block has the invalid type 0b11: gzip raised zlib.error
    good = gzip.compress(b"".join(json.dumps(dict(TRL, chosen=f"a{i}")).encode() + b"\n" for i in range(3000)))
    bad = bytearray(gzip.compress(json.dumps(TRL).encode() * 10))
    bad[10] = 0x07
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(good + bytes(bad))
    df, bad_rows = _read(path, batch_size=500)
    assert df.height == 3000 and [q["reason"] for q in bad_rows] == ["corrupt_file"]
    assert "bad.jsonl.gz" in bad_rows[0]["detail"] and "invalid block type" in bad_rows[0]["detail"]


def test_truncated_gzip_quarantines_its_half_read_line(tmp_path):
    blob = gzip.compress(b"".join(json.dumps(dict(TRL, chosen=f"a{i}")).encode() + b"\n" for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    df, bad = _read(path, batch_size=500)
    by_reason = {q["reason"]: q for q in bad}
    assert set(by_reason) == {"truncated_input", "corrupt_file"}
    assert by_reason["truncated_input"]["line"] == df.height + 1  # the line after the last one read
    assert by_reason["truncated_input"]["raw"].startswith('{"prompt"')


def test_truncated_parquet_is_one_line_input_error(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame([TRL] * 50).write_parquet(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="t.parquet.*not a readable Parquet file"):
        _read(path)


# ------------------------------------------------------------------ several files, mixed layouts, CSV


def test_each_record_names_its_own_file(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(dict(TRL, chosen=f"from {name}")) + "\n")
        (tmp_path / f"h{name}.jsonl").write_text(json.dumps(HH) + "\n")
    df, _ = _read([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    assert df["source"].to_list() == ["a.jsonl", "b.jsonl"]
    df, _ = _read([str(tmp_path / "ha.jsonl"), str(tmp_path / "hb.jsonl")], format="hh")  # fast path too
    assert df["source"].to_list() == ["ha.jsonl", "hb.jsonl"]


@pytest.mark.parametrize("order", ["hh_first", "trl_first"])
def test_auto_format_detects_each_row_of_a_mixed_file(tmp_path, order):
    hh = [dict(HH, chosen=HH["chosen"] + f" {i}") for i in range(3)]
    trl = [dict(TRL, chosen=f"4 ({i})") for i in range(3)]
    rows = hh + trl if order == "hh_first" else trl + hh
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    df, bad = _read(path, batch_size=2)
    assert not bad and df.height == 6
    prompts = {r["prompt"][0]["content"] for r in df.iter_rows(named=True)}
    assert prompts == {"hi", "what is 2+2?"}


def test_auto_format_quarantines_a_row_of_another_kind(tmp_path):
    path = tmp_path / "mixed.jsonl"
    other = {"instruction": "i", "completions": [{"response": "r"}]}
    path.write_text(json.dumps(TRL) + "\n" + json.dumps(other) + "\n")
    df, bad = _read(path)
    assert df.height == 1 and [q["reason"] for q in bad] == ["mixed_layout"]


def test_csv_decodes_only_the_columns_the_format_expects(tmp_path):
    path = tmp_path / "d.csv"
    pl.DataFrame([{"prompt": "first primes?", "chosen": "[2, 3, 5]", "rejected": "[1, 2, 3]", "tags": "[7]"},
                  {"prompt": json.dumps([{"role": "user", "content": "hi"}]), "chosen": "yo", "rejected": "go",
                   "tags": "{}"}]).write_csv(path)
    df, bad = _read(path, format="trl")
    assert not bad and df["chosen"].to_list() == ["[2, 3, 5]", "yo"]
    assert df["prompt"][1].to_list() == [{"role": "user", "content": "hi"}]
    assert json.loads(df["metadata"][0]) == {"tags": "[7]"}


# ------------------------------------------------------------------ export folders


def test_export_folder_reads_every_split_with_its_name(tmp_path):
    from curate.export.layouts import to_layout
    from curate.schema import frame, make_pair

    recs = [make_pair(f"q{i}?", f"good {i}", f"bad {i}", "src") for i in range(5)]
    out = tmp_path / "exp"
    (out / "data").mkdir(parents=True)
    (out / "export.json").write_text("{}")
    (out / "dataset_dict.json").write_text('{"splits": ["train", "test"]}')  # the arrow copy beside it
    layout = to_layout(frame(recs), "trl")
    layout.head(3).write_parquet(out / "data" / "train-00000-of-00001.parquet")
    layout.tail(2).write_parquet(out / "data" / "test-00000-of-00001.parquet")
    df, bad = _read(out)
    assert not bad and df.height == 5
    splits = [json.loads(m)["split"] for m in df["metadata"]]
    assert sorted(splits) == ["test", "test", "train", "train", "train"]


# ------------------------------------------------------------------ options


def test_format_option_typo_names_format_key_and_allowed(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(TRL) + "\n")
    with pytest.raises(ConfigError, match=r"input format 'ultrafeedback': unknown option 'scor' "
                                          r"\(did you mean 'score'\?\).*Allowed options: score"):
        Reader(str(path), format="ultrafeedback", format_options={"scor": "overall_score"})
    with pytest.raises(ConfigError, match=r"input format 'hh': unknown option 'columns'.*Allowed options: \(none\)"):
        Reader(str(path), format="hh", columns={"prompt": "q"})
    with pytest.raises(ConfigError, match=r"unknown input.columns key.*'chosn'"):
        Reader(str(path), format="mapping", columns={"prompt": "q", "chosn": "a", "chosen": "a", "rejected": "b"})


def test_input_type_is_checked_against_the_source_registry():
    from curate.config import InputConfig
    from curate.io.sources import SOURCES

    assert {"jsonl", "json", "parquet", "csv", "text", "export", "hf"} <= set(SOURCES)
    assert InputConfig(path="x", type="json").type == "json"
    with pytest.raises(ValueError, match="unknown input type 'jsnl'"):
        InputConfig(path="x", type="jsnl")


def test_inspect_counts_the_records_of_a_json_array(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "d.json"
    path.write_text(json.dumps([dict(TRL, chosen=f"c{i}") for i in range(4)], indent=1))
    out = subprocess.run([sys.executable, "-m", "curate.cli.main", "inspect", str(path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["records"] == 4
