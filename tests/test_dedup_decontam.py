"""decontaminate: n-gram and embedding matches against benchmark files of each type, and the report."""

import json

import polars as pl
import pytest

from curate import Pipeline
from curate.dedup.benchsets import load_benchmark
from curate.dedup.decontam import Decontaminate
from curate.dedup.ngrams import NgramIndex
from curate.errors import ConfigError, InputError
from curate.io.writers import read_records
from curate.schema import frame, make_pair

LONG = "Explain step by step how the immune system recognises a virus it has never seen before"


@pytest.fixture
def bench(tmp_path):
    (tmp_path / "rb.jsonl").write_text(json.dumps({"prompt": LONG, "subset": "x"}) + "\n"
                                       + json.dumps({"prompt": "hi"}) + "\n")
    (tmp_path / "rm.txt").write_text("What are three good names for a golden retriever puppy\n")
    pl.DataFrame({"question": ["Summarise the plot of Hamlet in two sentences for a child"]}).write_parquet(
        tmp_path / "q.parquet")
    return [str(tmp_path / n) for n in ("rb.jsonl", "rm.txt", "q.parquet")]


def records():
    return frame([
        make_pair("Please " + LONG.lower() + ", thanks!", "ok", "no"),                   # 13-gram overlap
        make_pair("what are three good names for a golden retriever puppy?", "Sunny", "Dog"),  # whole short item
        make_pair("Summarize the plot of Hamlet in 2 sentences for a kid", "...", "?"),   # paraphrase: embedding
        make_pair("How tall is Mount Everest?", "8,849 m", "tall"),                       # clean
    ])


def test_ngram_index_whole_short_items_and_skips_tiny():
    idx = NgramIndex(n=13, min_tokens=4)
    idx.add([LONG, "a b", "golden retriever puppy names"])
    assert idx.skipped == 1
    assert idx.match("so: " + LONG + "?")[0] == 0
    assert idx.match("good golden retriever puppy names here")[0] == 2
    assert idx.match("the immune system recognises a virus") is None


def test_loaders_pick_the_prompt_field(bench):
    items = [it for p in bench for it in load_benchmark(p)]
    assert [it.text[:9] for it in items] == ["Explain s", "hi", "What are ", "Summarise"]
    with pytest.raises(InputError, match="no field 'nope'"):
        load_benchmark(bench[0], field="nope")


def test_ngram_and_embedding_matches_with_report(bench, tmp_path):
    src = tmp_path / "in.parquet"
    records().write_parquet(src)
    step = Decontaminate(benchmarks=bench, embedder={"backend": "fake"}, embedding_threshold=0.6)
    Pipeline(input={"path": str(src)}, steps=[step], output={"dir": str(tmp_path / "out")}).run()
    assert read_records(tmp_path / "out")["prompt"].list.first().struct.field("content").to_list() == [
        "How tall is Mount Everest?"]
    assert step.stats.dropped == {"contaminated_ngram": 2, "contaminated_embedding": 1}
    report = json.loads((tmp_path / "out" / "decontamination" / "decontaminate.json").read_text())
    assert report["by_benchmark"] == {"rb.jsonl": 1, "rm.txt": 1, "q.parquet": 1}
    emb = [m for m in report["matches"] if m["reason"] == "contaminated_embedding"]
    assert emb[0]["benchmark_text"].startswith("Summarise") and emb[0]["evidence"].startswith("cosine")
    rejected = pl.read_parquet(next((tmp_path / "out" / "rejected").glob("*.parquet")))
    assert rejected["contam_benchmark"].null_count() == 0 and rejected["contam_evidence"].null_count() == 0


def test_both_tests_off_is_a_config_error(bench):
    with pytest.raises(ConfigError, match="enable one"):
        Decontaminate(benchmarks=bench, ngram=None, embedding_threshold=None)
