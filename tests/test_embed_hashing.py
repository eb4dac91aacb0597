"""The hashing embedder: deterministic, lexical similarity, usable wherever an embedder is."""

import numpy as np

from curate.embed.config import EmbedConfig, build_embedder


def test_hashing_vectors_reflect_word_overlap():
    emb = build_embedder(EmbedConfig(backend="hashing", cache=False))
    v = emb.embed(["how do I bake bread at home", "how do I bake bread at home?", "tax law in France"])
    assert v.shape == (3, 512) and v.dtype == np.float32
    sims = v @ v.T
    assert sims[0, 1] > 0.95 and abs(sims[0, 2]) < 0.3
    assert np.allclose(emb.embed(["tax law in France"]), v[2:])
