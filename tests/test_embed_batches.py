"""The sentence-transformers embedder cuts its forward passes by padded tokens (token_batches):
a worked example of the plan, and the real bundled MiniLM giving encode()'s own vectors through it."""

import numpy as np
import pytest

from curate.embed.sentence_transformers import token_batches


def test_token_batches_worked_example():
    # lengths by position: 300 is over the budget (a batch alone), then 100 100 (2 x 100 = 200 ≤ 250,
    # a third would pad to 300), then 60 50 40 ... at most 250 // 60 = 4 texts, then the rest of 10s
    lengths = np.array([10, 100, 60, 300, 100, 50, 40, 10, 10, 10])
    batches = token_batches(lengths, tokens=250, most=8)
    assert [b.tolist() for b in batches] == [[3], [1, 4], [2, 5, 6, 0], [7, 8, 9]]
    # every position exactly once, and no batch pads past the budget unless it holds one text
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert all(len(b) == 1 or len(b) * lengths[b].max() <= 250 for b in batches)


def test_token_batches_cap_on_texts():
    batches = token_batches(np.full(10, 2), tokens=1000, most=4)
    assert [len(b) for b in batches] == [4, 4, 2]


def test_token_batches_empty():
    assert token_batches(np.array([], dtype=np.int64), tokens=100, most=4) == []


@pytest.mark.slow
def test_minilm_vectors_match_plain_encode():
    """Same vectors as one encode(batch_size=64) call, in the caller's order, for texts of very
    different lengths (some cut at max_seq_length) and a budget small enough to make many batches."""
    from curate.embed.sentence_transformers import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(tokens_per_batch=300)
    words = "the quick brown fox jumps over a lazy dog while curating preference pairs".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(1, 400, size=40)]
    lengths = emb._token_lengths(texts)
    assert lengths.max() == emb._m.max_seq_length and lengths.min() < 10
    assert len(token_batches(lengths, 300, emb.batch_size)) > 10
    ours = emb.embed(texts)
    ref = emb._m.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
