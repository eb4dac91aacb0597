"""A lexical embedder for very large runs: the hashing trick on word 1-2-grams, no model, ~100x
faster than MiniLM on CPU.

Feature hashing is itself a random projection of the bag of n-grams, so cosine similarity between
these vectors approximates the n-gram overlap of the texts: good for near-duplicate detection at
scale, weak for meaning (paraphrases are missed). Use it where MiniLM would take hours.

The vectors are scikit-learn's ``HashingVectorizer`` (lowercase, ``\\b\\w\\w+\\b`` tokens, signed
MurmurHash3 buckets), bit for bit, but computed natively: polars tokenizes and builds the n-grams,
each distinct n-gram is hashed once (curate.embed.murmur) and the counts are a single bincount.
scikit-learn's own path tokenizes in Python and was 60% of ``semantic_dedup``'s time at 100k pairs.
polars' regex and lowercasing differ from Python's on some Unicode (``\\w`` takes combining marks
but not ``²``, and case rules differ in places): a text goes the native way only when every character
is ASCII or one both engines agree is a non-word character that lowercases to itself (curly quotes,
dashes, bullets, emoji: checked by asking both engines, once); the others go through scikit-learn.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from curate.embed.base import Embedder
from curate.embed.murmur import murmur3_32
from curate.errors import require
from curate.registry import EMBEDDERS

_TOKEN = r"\b\w\w+\b"  # scikit-learn's default token_pattern (two or more word characters)


# the blocks searched for safe characters (curly quotes, dashes, symbols, emoji); any character outside
# them sends its text to scikit-learn
_CANDIDATES = ((0x80, 0xD800), (0xE000, 0x10000), (0x1F000, 0x1FB00))


@cache
def _needs_python() -> str:
    """A polars regex matching a character on which polars and Python may tokenize or lowercase apart."""
    chars = pl.Series([chr(c) for lo, hi in _CANDIDATES for c in range(lo, hi)], dtype=pl.Utf8)
    chars = chars.filter(~chars.str.contains(r"\w") & (chars.str.to_lowercase() == chars)).to_list()
    safe = [ord(c) for c in chars if c.lower() == c and re.match(r"\w", c) is None]  # and Python agrees
    ranges, start = [], None
    for i, c in enumerate(safe):  # compact into ranges: the class stays a few hundred items long
        start = c if start is None else start
        if i + 1 == len(safe) or safe[i + 1] != c + 1:
            ranges.append(f"\\x{{{start:X}}}-\\x{{{c:X}}}")
            start = None
    return "[^\\x00-\\x7F" + "".join(ranges) + "]"


class HashingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dim: int = Field(512, ge=1, description="hash buckets (vector size)")
    ngrams: int = Field(2, ge=1, description="word n-grams 1..ngrams are hashed")


def ngram_table(texts: pl.Series, ngrams: int) -> pl.DataFrame:
    """(row, gram) for every word 1..`ngrams`-gram of every text, in scikit-learn's tokenization."""
    toks = (pl.DataFrame({"gram": texts.str.to_lowercase().str.extract_all(_TOKEN)})
            .with_row_index("row").explode("gram").drop_nulls("gram"))
    parts = [toks]
    for n in range(2, ngrams + 1):  # an n-gram: n consecutive tokens of one text, joined by a space
        same_row = pl.all_horizontal([pl.col("row").shift(-k) == pl.col("row") for k in range(1, n)])
        gram = pl.concat_str([pl.col("gram").shift(-k) for k in range(n)], separator=" ")
        parts.append(toks.select("row", pl.when(same_row).then(gram).alias("gram")).drop_nulls("gram"))
    return pl.concat(parts)


@EMBEDDERS.register("hashing")
class HashingEmbedder(Embedder):
    backend = "hashing"
    Options = HashingOptions

    def __init__(self, model: str = "hashing", batch_size: int = 4096, dim: int = 512, ngrams: int = 2):
        super().__init__(model, batch_size)
        text = require("sklearn.feature_extraction.text", "models", "the hashing embedder")
        self.dim, self.ngrams = dim, ngrams
        self._v = text.HashingVectorizer(n_features=dim, ngram_range=(1, ngrams), alternate_sign=True,
                                         norm=None, lowercase=True, dtype=np.float32)

    def signature(self) -> str:
        return f"{super().signature()}:{self._v.ngram_range[1]}"

    def _embed(self, texts: list[str]) -> np.ndarray:
        series = pl.Series(texts, dtype=pl.Utf8)
        other = series.str.contains(_needs_python()).fill_null(False).to_numpy()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ascii_rows = np.flatnonzero(~other)
        if len(ascii_rows):
            out[ascii_rows] = self._counts(series.gather(ascii_rows))
        if other.any():
            rows = np.flatnonzero(other)
            out[rows] = self._v.transform([texts[i] for i in rows]).toarray()
        return out

    def _counts(self, texts: pl.Series) -> np.ndarray:
        """Signed bucket counts, as FeatureHasher: bucket |h| mod dim, sign of h (see _hashing_fast.pyx)."""
        grams = ngram_table(texts, self.ngrams)
        # hashing every occurrence is cheaper than finding the distinct n-grams and joining them back
        h = murmur3_32(grams.get_column("gram").to_arrow()).astype(np.int64)
        bucket = np.where(h == -(2 ** 31), (2 ** 31 - 1 - (self.dim - 1)) % self.dim, np.abs(h) % self.dim)
        flat = grams.get_column("row").to_numpy().astype(np.int64) * self.dim + bucket
        counts = np.bincount(flat, weights=np.where(h >= 0, 1.0, -1.0), minlength=len(texts) * self.dim)
        return counts.reshape(len(texts), self.dim).astype(np.float32)
