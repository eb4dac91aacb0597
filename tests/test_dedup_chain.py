"""Dedup steps in a row: one dup_count, kept_id chains resolved, prompt-dedup default and warning,
and the global pass as a module of its own (no import circle)."""

import ast
import logging
from pathlib import Path

import polars as pl

from curate import Pipeline
from curate.dedup.exact import ExactDedup
from curate.dedup.resolve import final_representatives
from curate.dedup.semantic import SemanticDedup
from curate.io.writers import read_records
from curate.schema import frame, make_pair

FAKE = {"backend": "fake", "cache": False}


def three() -> pl.DataFrame:
    """Av is A up to case and spaces (exact dup of A); A2 paraphrases A (semantic dup)."""
    rows = [make_pair("How do I bake bread at home?", "Use flour, water and yeast.", "No."),           # A  0.5
            make_pair("how do I  bake bread at home?", "Use flour, water and yeast.", "No."),          # Av
            make_pair("How can I bake bread at home?", "Mix flour, water, yeast; knead; bake.", "Buy it."),  # A2
            make_pair("Name a prime number.", "7", "8")]                                              # P
    return frame(rows)


def _run(tmp_path, df, mode="streaming", batch_size=10):
    src = tmp_path / "in.parquet"
    df.write_parquet(src)
    p = Pipeline(input={"path": str(src)}, batch_size=batch_size, output={"dir": str(tmp_path / "out")},
                 steps=[ExactDedup(), SemanticDedup(embedder=FAKE, threshold=0.8, fields=["prompt"], mode=mode)])
    p.run()
    rejected = pl.concat([pl.read_parquet(f) for f in sorted((tmp_path / "out" / "rejected").glob("*.parquet"))],
                         how="diagonal_relaxed")
    return read_records(tmp_path / "out"), rejected


def test_exact_then_streaming_semantic_sums_dup_count_and_resolves_kept_id(tmp_path):
    df = three()
    a, av, a2, p = df["id"].to_list()
    out, rejected = _run(tmp_path, df)
    assert "dup_count_right" not in out.columns
    counts = dict(zip(out["id"], out["dup_count"]))
    assert counts == {a2: 2, p: 0}  # A (semantic) and Av (exact, folded into A first)
    got = {r["_step"]: (r["id"], r["kept_id"], r["cluster_id"]) for r in rejected.iter_rows(named=True)}
    # the reader keeps only schema columns, so ties go by id: exact_dedup keeps Av ('46c7…') over A
    # and points A at it; semantic_dedup then removes Av for A2. A must now point at A2, not at Av.
    assert got == {"exact_dedup": (a, a2, a2), "semantic_dedup": (av, a2, a2)}


def test_global_mode_sums_dup_count_across_batches(tmp_path):
    df = three()
    a, av, a2, p = df["id"].to_list()
    out, rejected = _run(tmp_path, df, mode="global", batch_size=2)
    assert dict(zip(out["id"], out["dup_count"])) == {a2: 2, p: 0}
    assert set(rejected["kept_id"]) == {a2}


def test_chains_follow_to_the_end():
    assert final_representatives({"b": "a", "a": "c", "d": "c", "e": "b"}) == {"b": "c", "e": "c"}
    assert final_representatives({"x": "y", "y": "x"}) == {"x": "x"}  # a cycle ends, it does not loop


def test_default_keeps_several_pairs_per_prompt():
    rows = [make_pair("Same prompt", f"answer {i}", f"worse {i}") for i in range(5)]
    assert ExactDedup()(frame(rows)).height == 5


def test_prompt_dedup_that_removes_a_large_share_warns(caplog):
    rows = [make_pair("Same prompt", f"answer {i}", f"worse {i}") for i in range(5)]
    step = ExactDedup(fields=["pair", "prompt"])
    with caplog.at_level(logging.WARNING, logger="curate.dedup.exact"):
        assert step(frame(rows)).height == 1
        step(frame([make_pair("Same prompt", "answer 9", "worse 9")]))
    assert len([r for r in caplog.records if "prompt dedup removed" in r.getMessage()]) == 1  # once
    s = step.summary()
    assert s["prompt_dup_rate"] == round(5 / 6, 4) and "fields: [pair]" in s["warning"]
    quiet = ExactDedup(fields=["pair", "prompt"], prompt_warn_share=0.9)
    quiet(frame(rows))
    assert "warning" not in quiet.summary()


def test_semantic_and_global_pass_do_not_import_each_other():
    src = Path(__file__).parents[1] / "curate" / "dedup" / "semantic_global.py"
    names = {n.module for n in ast.walk(ast.parse(src.read_text())) if isinstance(n, ast.ImportFrom)}
    assert "curate.dedup.semantic" not in names
