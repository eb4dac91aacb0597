"""semantic_dedup: a hand-worked 6-pair case, the never-both-dropped rule, resume, the runner."""

import json

import numpy as np
import polars as pl
import pytest

from curate import Pipeline
from curate.dedup.cluster import assign_chunk, greedy_graph
from curate.dedup.semantic import SemanticDedup
from curate.embed.cache import CachedEmbedder
from curate.index.base import build_index
from curate.io.writers import read_records
from curate.schema import frame, make_pair
from curate.testing import FakeEmbedder

POEM = "Soft rain on the roof, / puddles hold the grey sky still, / the gutters hum low."
FAKE = {"backend": "fake", "cache": False}


def six_pairs() -> pl.DataFrame:
    """Read it: A/A2 paraphrase prompts, D/D2 differ by '!', E/F share both responses, C is alone."""
    rows = [
        make_pair("How do I bake bread at home?", "Use flour, water and yeast.", "No."),           # A  0.2
        make_pair("How can I bake bread at home?", "Mix flour, water, yeast; knead; bake.", "Buy it."),  # A2 0.9
        make_pair("What is the capital of France?", "Paris.", "London."),                           # C  0.5
        make_pair("Tell me a joke about cats", "Why did the cat sit on the computer? To watch the mouse.",
                  "No jokes."),                                                                     # D  0.1
        make_pair("Tell me a joke about cats!", "Why did the cat sit on the computer? To watch the mouse.",
                  "No jokes."),                                                                     # D2 0.3
        make_pair("Write a haiku about rain", POEM, "Rain is wet."),                                # E  0.4
    ]
    rows.append(make_pair("Compose a short poem on rainfall", POEM, "Rain is wet."))                # F  0.6
    return frame(rows).with_columns(pl.Series("strength", [0.2, 0.9, 0.5, 0.1, 0.3, 0.4, 0.6]))


@pytest.mark.parametrize("mode", ["streaming", "global"])
def test_hand_worked_clusters_and_kept_records(mode):
    df = six_pairs()
    a, a2, c, d, d2, e, f = df["id"].to_list()
    step = SemanticDedup(embedder=FAKE, threshold=0.8, mode=mode)
    if mode == "global":
        step.fit(lambda: iter([df.slice(0, 4), df.slice(4)]))
        out = pl.concat([step(df.slice(0, 4)), step(df.slice(4))])
    else:
        out = step(df)
    # the stronger member of each cluster is kept; C is alone
    assert out["id"].to_list() == [a2, c, d2, f]
    assert out["cluster_id"].to_list() == [a2, c, d2, f] and out["dup_count"].to_list() == [1, 0, 1, 1]
    gone = pl.concat(step.take_dropped())
    got = {r["id"]: (r["_reason"], r["kept_id"], r["cluster_id"]) for r in gone.iter_rows(named=True)}
    assert got == {a: ("semantic_prompt_dup", a2, a2), d: ("semantic_prompt_dup", d2, d2),
                   e: ("semantic_response_dup", f, f)}
    assert gone["dup_similarity"].min() >= 0.8
    assert step.summary()["clusters"] == 3 and step.stats.dropped["semantic_prompt_dup"] == 2
    assert step.stats.figures["examples"][0]["kept_id"] in {a2, d2, f}


def _angle(deg):
    r = np.deg2rad(deg)
    return np.array([[np.cos(r), np.sin(r)]], dtype=np.float32)


def test_chain_keeps_both_ends_never_both_members():
    # A~B and B~C (20° apart), A≁C (40°): A kept, B -> A, C kept (its only neighbour B was removed)
    vecs = np.concatenate([_angle(0), _angle(20), _angle(40)])
    t = float(np.cos(np.deg2rad(25)))
    r = assign_chunk([vecs], [build_index("numpy", 2)], [t])
    assert r.leader.tolist() == [True, False, True] and r.match[1] == -1
    a, b, s = np.array([0, 1]), np.array([1, 2]), np.array([0.94, 0.94], np.float32)
    rep, field, _ = greedy_graph(3, np.arange(3), [(a, b, s)])
    assert rep.tolist() == [0, 0, 2] and field.tolist() == [-1, 0, -1]
    rep, _, _ = greedy_graph(3, np.array([1, 0, 2]), [(a, b, s)])  # B ranked best: B keeps both A and C
    assert rep.tolist() == [1, 1, 1]


def test_every_removed_record_points_at_a_kept_one():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((40, 16)).astype(np.float32)
    vecs = np.concatenate([base, base + 0.3 * rng.standard_normal((40, 16)).astype(np.float32)])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = build_index("faiss", 16)
    r = assign_chunk([vecs], [index], [0.9])
    kept = np.flatnonzero(r.leader)
    for m in r.match[~r.leader]:
        assert -(m + 1) in kept  # in-chunk leader


def test_streaming_state_resume_gives_the_same_answer(tmp_path):
    df = six_pairs()
    whole = SemanticDedup(embedder=FAKE, threshold=0.8, keep_by=[])
    expected = pl.concat([whole(df.slice(0, 3)), whole(df.slice(3))])
    first = SemanticDedup(embedder=FAKE, threshold=0.8, keep_by=[])
    first(df.slice(0, 3))
    first.save_state(tmp_path)
    second = SemanticDedup(embedder=FAKE, threshold=0.8, keep_by=[])
    second.load_state(tmp_path)
    got = pl.concat([expected.slice(0, 0), second(df.slice(3))])
    assert got["id"].to_list() == expected.slice(expected.height - got.height)["id"].to_list()
    assert second.rep_ids.to_list()[:len(first.rep_ids)] == first.rep_ids.to_list()


def test_cache_serves_repeats(tmp_path):
    inner = FakeEmbedder()
    emb = CachedEmbedder(inner, tmp_path / "e.sqlite")
    v1 = emb.embed(["a b c", "d e f", "a b c"])
    assert inner.calls == 1 and emb.misses == 2 and emb.hits == 0  # repeat inside one call embedded once
    again = CachedEmbedder(FakeEmbedder(), tmp_path / "e.sqlite")
    v2 = again.embed(["d e f", "a b c"])
    assert again.inner.calls == 0 and again.hits == 2
    assert np.allclose(v1[[1, 0]], v2)
    assert v1.dtype == np.float32 and np.allclose(np.linalg.norm(v1, axis=1), 1)


def test_pipeline_exact_then_global_semantic(tmp_path):
    df = six_pairs()
    src = tmp_path / "in.parquet"
    pl.concat([df, df.slice(0, 2)]).write_parquet(src)  # + two exact copies
    p = Pipeline(input={"path": str(src)}, batch_size=3, output={"dir": str(tmp_path / "out")},
                 steps=[_exact(), SemanticDedup(embedder={"backend": "fake"}, threshold=0.8, mode="global")])
    stats = p.run()
    out = read_records(tmp_path / "out")
    assert out.height == 4 and set(out["cluster_id"]) == set(out["id"])
    rejected = pl.concat([pl.read_parquet(f) for f in sorted((tmp_path / "out" / "rejected").glob("*.parquet"))],
                         how="diagonal_relaxed")
    assert rejected.height == 5 and rejected["kept_id"].null_count() == 0
    exact_kept = set(rejected.filter(pl.col("_step") == "exact_dedup")["kept_id"])
    assert set(rejected["kept_id"]) <= set(out["id"]) | exact_kept
    sem = next(s for s in stats["steps"] if s["step"] == "semantic_dedup")
    assert sem["figures"]["removed"] == 3 and json.dumps(sem)  # JSON-able for the data card


def _exact():
    from curate.dedup.exact import ExactDedup

    return ExactDedup(fields=["pair"])


def test_index_kind_reaches_the_faiss_index():
    # `index: {kind: hnsw}` in YAML must build an HNSW index once past ivf_threshold, and dedup the same
    df = six_pairs()
    a, a2, c, d, d2, e, f = df["id"].to_list()
    step = SemanticDedup(embedder=FAKE, threshold=0.8, index={"kind": "hnsw", "ivf_threshold": 1})
    out = step(df)
    assert out["id"].to_list() == [a2, c, d2, f]
    assert {ix.kind for ix in step.indexes} == {"hnsw"}
