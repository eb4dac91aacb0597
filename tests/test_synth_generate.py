"""generate_responses and the prompts format, end to end with the fake backend."""

from __future__ import annotations

import json

import polars as pl

from curate.context import RunContext
from curate.io.formats.base import detect_format
from curate.pipeline import Pipeline
from curate.schema import frame, make_candidate
from curate.synth.generate import GenerateResponses
from curate.synth.pairs import BuildPairs
from tests.helpers.llm import write_prompts

FAKE = {"backend": "fake", "model": "fake-a", "options": {"responses": ["short", "a much longer reply", "mid reply"]}}


def test_prompts_format_detection_is_strict():
    assert detect_format({"prompt": "hi"}).name == "prompts"
    assert detect_format({"prompt": "hi", "chosen": "a", "rejected": "b"}).name == "trl"
    assert detect_format({"prompt": "hi", "response": "a", "helpfulness": 3}).name != "prompts"


def test_generate_appends_responses_with_provenance(tmp_path):
    step = GenerateResponses(generators=[
        {"llm": FAKE, "n": 2, "seed": 10, "temperature": 0.9},
        {"llm": {**FAKE, "model": "fake-b"}, "name": "b-concise", "system_prompt": "Be brief.", "n": 1},
    ])
    step.setup(RunContext.for_dir(tmp_path, cache_dir=tmp_path / "cache"))
    batch = frame([make_candidate("q1"), make_candidate("q2")], "candidate")
    out = step(batch)
    resp = out["responses"].to_list()
    assert [len(r) for r in resp] == [3, 3]
    prov = [json.loads(r["provenance"]) for r in resp[0]]
    assert [p["seed"] for p in prov] == [10, 11, 0]  # seed+i per sample; pipeline seed 0 for the second
    assert prov[0]["model"] == "fake-a" and prov[0]["backend"] == "fake" and prov[0]["params"]["temperature"] == 0.9
    assert prov[2]["system_prompt"] == "Be brief." and resp[0][2]["model"] == "b-concise"
    assert step.stats.counts["calls"] == 6


def test_failed_calls_are_counted_not_silent(tmp_path):
    from curate.testing import FakeLLM

    step = GenerateResponses(generators=[{"llm": {"backend": "fake", "cache": False}, "n": 2}])
    step.setup(RunContext.for_dir(tmp_path))
    step.llms = [FakeLLM(responses=["ok", RuntimeError("boom")])]
    out = step(frame([make_candidate("q")], "candidate"))
    assert out["responses"].list.len().to_list() == [1]
    assert step.stats.counts["failed:RuntimeError"] == 1 and step.summary()["failure_rate"] == 0.5


def score_by_length(df: pl.DataFrame) -> pl.DataFrame:
    """Stand-in for a rating judge: longer is better."""
    return df.with_columns(pl.col("responses").list.eval(
        pl.element().struct.with_fields(pl.element().struct.field("text").str.len_chars().cast(pl.Float64).alias("score"))))


def test_prompts_to_pairs_pipeline(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 5)
    p = Pipeline(input={"path": str(prompts)},
                 steps=[GenerateResponses(generators=[{"llm": FAKE, "n": 3}]), score_by_length, BuildPairs()],
                 output={"dir": str(tmp_path / "run")}, cache_dir=str(tmp_path / "cache"))
    stats = p.run()
    df = pl.read_parquet(sorted((tmp_path / "run" / "data").glob("*.parquet")))
    assert df.height == 5 and set(df["chosen"]) == {"a much longer reply"} and set(df["rejected"]) == {"short"}
    assert stats["output"]["records"] == 5
