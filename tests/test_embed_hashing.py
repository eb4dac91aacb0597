"""The hashing embedder: deterministic, lexical similarity, usable wherever an embedder is."""

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from sklearn.utils import murmurhash3_32

from curate.embed.config import EmbedConfig, build_embedder
from curate.embed.hashing import HashingEmbedder, _needs_python
from curate.embed.murmur import murmur3_32


def test_hashing_vectors_reflect_word_overlap():
    emb = build_embedder(EmbedConfig(backend="hashing", cache=False))
    v = emb.embed(["how do I bake bread at home", "how do I bake bread at home?", "tax law in France"])
    assert v.shape == (3, 512) and v.dtype == np.float32
    sims = v @ v.T
    assert sims[0, 1] > 0.95 and abs(sims[0, 2]) < 0.3
    assert np.allclose(emb.embed(["tax law in France"]), v[2:])


# characters on which polars' regex / lowercasing and Python's differ (combining marks, superscripts,
# connector punctuation, zero-width joiner, circled letters, title case, dotted I) next to the ones
# where they agree (curly quotes, dashes, bullets, emoji): each text must come out as scikit-learn's
UNICODE = ["’Tis “quoted” — a dash… • bullet 👍🏾 ok", "x\u203fy under\u203ftie", "zw\u200dj joined",
           "Ⓐ circled", "ǅ title case", "İstanbul ISTANBUL", "e\u0301te\u0301 marks", "x² y³ ¼ cup",
           "naïve café ΑΒΓ δέλτα 漢字 テスト", "", "a", "I", "tab\tsep\nnew line", "under_score __x__ 12 345",
           "it's don't can't", "A" * 3000, "word " * 500]


def _random_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabet = list("abc XYZ_-.,!?0123\n\t’“”é²\u0301👍")
    return ["".join(rng.choice(alphabet, size=int(rng.integers(0, 60)))) for _ in range(n)]


@pytest.mark.parametrize("dim,ngrams", [(512, 2), (256, 1), (64, 3)])
def test_native_path_gives_scikit_learns_vectors_bit_for_bit(dim, ngrams):
    emb = HashingEmbedder(dim=dim, ngrams=ngrams)
    texts = UNICODE + _random_texts(2000, seed=dim) + [
        "Human: how do I bake bread?\n\nAssistant: Mix flour, water, salt and yeast; knead, rest, bake."]
    ours = emb._embed(texts)
    theirs = emb._v.transform(texts).toarray()
    assert ours.dtype == np.float32 and np.array_equal(ours, theirs)


def test_murmur3_matches_scikit_learns_on_sliced_and_unicode_strings():
    texts = UNICODE + _random_texts(3000, seed=1)
    for seed in (0, 7, 2 ** 32 - 1):
        want = np.array([murmurhash3_32(t, seed=seed) for t in texts], dtype=np.int32)
        assert np.array_equal(murmur3_32(pa.array(texts), seed), want)
    sliced = pa.array(texts).slice(5, 100)  # an Arrow slice: offsets start mid-buffer
    assert np.array_equal(murmur3_32(sliced), np.array([murmurhash3_32(t) for t in texts[5:105]], np.int32))
    with pytest.raises(ValueError, match="null"):
        murmur3_32(pa.array(["a", None]))


def test_only_texts_with_disputed_characters_take_the_python_path():
    pattern = _needs_python()
    flags = pl.Series(["’Tis “quoted” — ok 👍", "plain ascii", "x² squared", "e\u0301", "Ⓐ"]).str.contains(pattern)
    assert flags.to_list() == [False, False, True, True, True]
