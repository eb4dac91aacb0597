"""Precision and recall of duplicate detection on the shared HH sample with injected duplicates,
using the real bundled MiniLM model and a real FAISS index."""

import random

import polars as pl
import pytest

from curate.dedup.semantic import SemanticDedup
from curate.io.reader import Reader
from curate.schema import frame, make_pair

pytestmark = pytest.mark.slow

SWAPS = [("can you", "could you"), ("what is", "what's"), ("how do i", "how can i"), ("i want", "i'd like"),
         ("do you", "would you"), ("tell me", "let me know"), ("should i", "ought i to")]
PREFIXES = ["", "Hey, ", "Quick question: ", "Please help. ", "So "]


def paraphrase(text: str, k: int) -> str:
    """A deterministic light rewrite: a lead-in, a phrase swap, case and end punctuation changes."""
    t = text.strip()
    low = t.lower()
    for a, b in SWAPS:
        if a in low:
            low = low.replace(a, b, 1)
            break
    t = low if k % 2 else low[:1].upper() + low[1:]
    t = t.rstrip("?.!") + ("" if k % 3 == 0 else "?")
    return PREFIXES[k % len(PREFIXES)] + t


@pytest.fixture(scope="module")
def embedder():
    from curate.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


def _step(embedder):
    step = SemanticDedup(fields=["prompt"], prompt_view="first_user", threshold=0.9, keep_by=[])
    step.embedder = embedder
    return step


def test_injected_duplicates_precision_recall(hh_path, embedder):
    pool = pl.concat([b.frame for b in Reader(str(hh_path), format="hh", limit=300, batch_size=300).batches()])
    pool = pool.unique("id", keep="first", maintain_order=True)
    clean = _step(embedder)  # the sample has its own near-duplicates; the pool keeps one of each
    pool = clean(pool)
    rng = random.Random(7)
    picks = rng.sample(range(pool.height), 80)
    injected, truth, exact = [], set(), set()
    for j, i in enumerate(picks):
        row = pool.row(i, named=True)
        if j < 40:  # exact: the same prompt again, with new responses (a resampled pair)
            prompt = row["prompt"]
        else:  # paraphrase of the first user turn, rest of the conversation unchanged
            prompt = [dict(m) for m in row["prompt"]]
            prompt[0]["content"] = paraphrase(prompt[0]["content"], j)
        new = make_pair(prompt, row["chosen"] + " ", row["rejected"] + " (v2)", source="injected")
        injected.append(new)
        truth.add(frozenset((row["id"], new["id"])))
        if j < 40:
            exact.add(frozenset((row["id"], new["id"])))
    data = pl.concat([pool.select(frame(injected).columns), frame(injected)]).sample(fraction=1.0, shuffle=True,
                                                                                     seed=11)
    step = _step(embedder)
    for k in range(0, data.height, 100):  # streamed in batches: later batches search the index so far
        step(data.slice(k, 100))
    gone = pl.concat(step.take_dropped())
    found = {frozenset((r, k)) for r, k in zip(gone["id"], gone["kept_id"])}
    precision = len(found & truth) / len(found)
    recall = len(found & truth) / len(truth)
    print(f"\nHH injected duplicates: precision {precision:.3f} recall {recall:.3f} "
          f"(removed {gone.height}, injected {len(truth)}, pool {pool.height})")
    assert len(found & exact) == len(exact)  # every exact prompt copy is caught
    assert precision >= 0.9 and recall >= 0.9
