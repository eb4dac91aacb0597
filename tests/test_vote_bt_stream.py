"""The full-pass BT voter in bounded memory (vectors on disk, float16, streamed) gives the
in-memory path's answer: the same groups, the same folds, the same out-of-fold margins.

Tolerance, stated: against scikit-learn on the *same float16-rounded* features the margins agree to
1e-4 (measured 5e-7 on HH: the same objective, solver and stopping rule); against the float32
features they agree to 5e-3 (measured 5e-4 with margins up to ~2: float16 rounding only).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.context import RunContext
from curate.id_hash import id_hashes
from curate.io.reader import Reader
from curate.schema import prompt_text_expr
from curate.vote.bt import cross_fit, features
from curate.vote.bt_stream import IdIndex, VectorStore, stream_cross_fit, stream_group_ids
from curate.vote.embed_bt import EmbedBTVoter
from curate.vote.groups import group_ids, normalised_prompt_hash

EMBED = {"backend": "hashing", "options": {"dim": 64}}


@pytest.fixture(scope="module")
def hh(hh_path) -> pl.DataFrame:
    df = pl.concat([b.frame for b in Reader(str(hh_path), format="hh", limit=1200).batches()])
    # a dedup cluster that joins rows of different prompts, so the union-find has work to do
    return df.with_columns(pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.lit("c1"))
                           .when(pl.int_range(pl.len()) % 11 == 0).then(pl.lit("c2")).alias("cluster_id"))


def _keys(df: pl.DataFrame):
    text = df.select(prompt_text_expr().alias("p"))["p"].to_list()
    prompt = np.array([int(normalised_prompt_hash(t or ""), 16) for t in text], dtype=np.uint64)
    cl = df["cluster_id"]
    return prompt, np.ma.masked_array(id_hashes(cl.fill_null("")), mask=cl.is_null().to_numpy())


def test_stream_group_ids_equal_group_ids(hh):
    prompt, cluster = _keys(hh)
    assert np.array_equal(stream_group_ids(prompt, cluster), group_ids(hh))
    assert np.array_equal(stream_group_ids(prompt), group_ids(hh.drop("cluster_id")))
    assert stream_group_ids(prompt, cluster).max() < group_ids(hh.drop("cluster_id")).max()  # clusters joined


def test_stream_cross_fit_equals_in_memory(hh, tmp_path):
    d = features(EmbedBTVoter(embedder=EMBED).vectors(hh), "prompt_resp").astype(np.float32)
    groups, y = group_ids(hh), np.ones(hh.height)
    store = VectorStore(tmp_path / "v")
    for a in range(0, len(d), 250):  # appended in batches, read back in other chunks
        store.append("x", d[a:a + 250])
    assert store.read("x", 10, 20).dtype == np.float32 and (tmp_path / "v" / "x.f16").stat().st_size == d.size * 2
    streamed = stream_cross_fit(store, "x", y, k=5, c=0.1, seed=3, groups=groups, chunk=333)
    same_input = cross_fit(d.astype(np.float16).astype(np.float32), y, k=5, c=0.1, seed=3, groups=groups)
    full = cross_fit(d, y, k=5, c=0.1, seed=3, groups=groups)
    assert np.abs(streamed).max() > 0.5  # real margins, not zeros
    assert np.abs(streamed - same_input).max() < 1e-4
    assert np.abs(streamed - full).max() < 5e-3
    # nothing kept in memory (every pass re-reads the float16 file): the same answer
    uncached = stream_cross_fit(store, "x", y, k=5, c=0.1, seed=3, groups=groups, chunk=333, cache_bytes=0)
    assert np.abs(uncached - streamed).max() < 1e-6


def test_id_index_last_row_wins_and_unknown_is_minus_one():
    idx = IdIndex(id_hashes(pl.Series(["a", "b", "a", "c"])))
    assert idx.lookup(pl.Series(["c", "a", "zz", "b"])).tolist() == [3, 2, -1, 1]


def test_step_votes_equal_in_memory_reference_and_vectors_are_removed(hh, tmp_path):
    step = EmbedBTVoter(embedder=EMBED, folds=4, seeds=[0, 1])
    step.setup(RunContext.for_dir(tmp_path / "run"))
    batches = [hh.slice(a, 300) for a in range(0, hh.height, 300)]
    step.fit(lambda: iter(batches))
    assert not any((tmp_path / "run" / "stages").glob("vectors-*/*.f16"))  # removed after the fit
    voted = pl.concat([step.process(b) for b in batches])
    got = np.array([[v["margin"] for v in vs] for vs in voted["votes"].to_list()])
    d = features(step.vectors(hh), "prompt_resp").astype(np.float16).astype(np.float32)
    want = np.stack([cross_fit(d, np.ones(hh.height), k=4, c=step.options.C, seed=s, groups=group_ids(hh))
                     for s in (0, 1)], axis=1)
    assert np.abs(got - want).max() < 1e-4
    assert step.stats.counts["unseen_pairs"] == 0
