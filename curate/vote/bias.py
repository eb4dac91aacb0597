"""Bias diagnostics of the labels (``bias_report``, stats only) and a length-balancing filter
(``balance_length``).

Reward models learn shortcuts the labels allow. The report counts, per pair:

* length: chars of chosen vs rejected; pairs are bucketed by longer/shorter ratio and each bucket
  counts how often the longer response is the chosen one ("does longer win?");
* truncation: pairs whose responses are identical, or near-identical (token-set Jaccard ≥
  ``near_jaccard``), after keeping the first ``token_budget`` whitespace tokens (or tokenizer tokens)
  — what an RM trained with that max length would actually see;
* markdown: list items, headers, code fences and bold spans in chosen vs rejected, and how often the
  more-formatted side wins.

All counts are integers in ``self.stats`` (they add up across batches and resumes); the rates are
derived in ``summary()``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from curate.registry import STEPS
from curate.step import Options, Step

# ratio longer/shorter (chars); the last bucket is open
BUCKETS = (1.0, 1.25, 2.0, 4.0)
_MD = re.compile(r"(?m)^\s*(?:[-*+]\s|\d+[.)]\s|#{1,6}\s|```)|\*\*[^*\n]+\*\*")


def bucket_names() -> list[str]:
    edges = list(BUCKETS) + [float("inf")]
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])]


def markdown_count(text: str) -> int:
    return len(_MD.findall(text))


class BiasOptions(Options):
    token_budget: int = Field(512, ge=1, description="tokens an RM would see per response")
    tokenizer: str | None = Field(None, description="HF tokenizer name/path for the budget; default whitespace tokens")
    near_jaccard: float = Field(0.9, gt=0, le=1,
                                description="token-set Jaccard at which truncated responses count as near-identical")


@STEPS.register()
class BiasReport(Step):
    """Count length, truncation and markdown biases of chosen vs rejected; rows pass unchanged.

    Reads: chosen, rejected. Writes no column; stats counts ``len.*``, ``trunc.*``, ``md.*`` and
    ``summary()`` derives the longer-wins rate overall and per length bucket, the mean length ratio,
    the truncated identical / near-identical share and markdown density per 1k chars of each side.
    """

    name = "bias_report"
    inputs = ("chosen", "rejected")
    Options = BiasOptions

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self._tok = None

    def tokens(self, texts: list[str]) -> list[list]:
        o = self.options
        if o.tokenizer is None:
            return [t.split()[: o.token_budget] for t in texts]
        if self._tok is None:
            from curate.errors import require

            transformers = require("transformers", "models", "bias_report's tokenizer")
            self._tok = transformers.AutoTokenizer.from_pretrained(o.tokenizer)
        return [ids[: o.token_budget] for ids in self._tok(texts, add_special_tokens=False)["input_ids"]]

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        c, r = batch["chosen"].to_list(), batch["rejected"].to_list()
        self._lengths(np.array([len(t) for t in c]), np.array([len(t) for t in r]))
        self._truncation(self.tokens(c), self.tokens(r))
        self._markdown(c, r)
        return batch

    def _lengths(self, lc: np.ndarray, lr: np.ndarray) -> None:
        s = self.stats
        s.count("len.chosen_chars", int(lc.sum()))
        s.count("len.rejected_chars", int(lr.sum()))
        s.count("len.chosen_longer", int((lc > lr).sum()))
        s.count("len.equal", int((lc == lr).sum()))
        # log-ratio summed in milli-units keeps the stats integer (exact across resumes)
        s.count("len.log_ratio_milli_sum", int(np.round(1000 * np.log(np.maximum(lc, 1) / np.maximum(lr, 1))).sum()))
        ratio = np.maximum(lc, lr) / np.maximum(np.minimum(lc, lr), 1)
        idx = np.searchsorted(np.array(BUCKETS[1:]), ratio, side="right")
        for b, name in enumerate(bucket_names()):
            inb = (idx == b) & (lc != lr)
            s.count(f"len.bucket.{name}.pairs", int(inb.sum()))
            s.count(f"len.bucket.{name}.longer_wins", int((inb & (lc > lr)).sum()))

    def _truncation(self, tc: list[list], tr: list[list]) -> None:
        same = near = 0
        for a, b in zip(tc, tr):
            if a == b:
                same += 1
                continue
            sa, sb = set(a), set(b)
            if sa and sb and len(sa & sb) / len(sa | sb) >= self.options.near_jaccard:
                near += 1
        self.stats.count("trunc.identical", same)
        self.stats.count("trunc.near_identical", near)

    def _markdown(self, c: list[str], r: list[str]) -> None:
        mc = np.array([markdown_count(t) for t in c])
        mr = np.array([markdown_count(t) for t in r])
        s = self.stats
        s.count("md.chosen_marks", int(mc.sum()))
        s.count("md.rejected_marks", int(mr.sum()))
        s.count("md.differs", int((mc != mr).sum()))
        s.count("md.more_formatted_wins", int((mc > mr).sum()))

    def summary(self) -> dict[str, Any]:
        c, n = self.stats.counts, max(self.stats.records_in, 1)
        unequal = max(n - c["len.equal"], 1)
        buckets = {}
        for name in bucket_names():
            k = c[f"len.bucket.{name}.pairs"]
            longer_wins = round(c[f"len.bucket.{name}.longer_wins"] / k, 4) if k else None
            buckets[name] = {"pairs": k, "longer_wins_rate": longer_wins}
        per_k = lambda marks, chars: round(1000 * marks / max(chars, 1), 3)  # noqa: E731
        return {
            "longer_wins_rate": round(c["len.chosen_longer"] / unequal, 4),
            "length_ratio_geomean": round(float(np.exp(c["len.log_ratio_milli_sum"] / 1000 / n)), 4),
            "mean_chosen_chars": round(c["len.chosen_chars"] / n, 1),
            "mean_rejected_chars": round(c["len.rejected_chars"] / n, 1),
            "longer_wins_by_ratio": buckets,
            "truncated_identical_rate": round(c["trunc.identical"] / n, 4),
            "truncated_near_identical_rate": round(c["trunc.near_identical"] / n, 4),
            "markdown_per_1k_chars": {"chosen": per_k(c["md.chosen_marks"], c["len.chosen_chars"]),
                                      "rejected": per_k(c["md.rejected_marks"], c["len.rejected_chars"])},
            "more_formatted_wins_rate": (round(c["md.more_formatted_wins"] / c["md.differs"], 4)
                                         if c["md.differs"] else None),
        }


class BalanceOptions(Options):
    target: float = Field(0.5, gt=0, lt=1, description="wanted share of longer-wins among unequal-length pairs")
    min_ratio: float = Field(1.25, ge=1.0, description="pairs with longer/shorter below this always pass")
    seed: int = Field(0, description="seed of the per-pair keep draw")


def _length_sides(batch: pl.DataFrame, min_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the pairs that count: longer-wins and shorter-wins, both with ratio ≥ min_ratio."""
    lc = batch["chosen"].str.len_chars().to_numpy()
    lr = batch["rejected"].str.len_chars().to_numpy()
    far = np.maximum(lc, lr) / np.maximum(np.minimum(lc, lr), 1) >= min_ratio
    return far & (lc > lr), far & (lc < lr)


def _uniform(ids: list[str], seed: int) -> np.ndarray:
    """A reproducible draw in [0, 1) per pair id, independent of batch order and size."""
    import hashlib

    return np.array([int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "little")
                     / 2.0**64 for i in ids])


@STEPS.register()
class BalanceLength(Step):
    """Drop pairs on the over-represented side so "longer wins" holds for about `target` of pairs.

    Full pass: counts longer-wins (L) and shorter-wins (S) pairs over the whole stage, then keeps each
    pair of the larger side with probability chosen so the kept share is `target` (a draw seeded by
    the pair id, so the result does not depend on batch order). Pairs of similar length
    (ratio < min_ratio) pass. Reads: chosen, rejected. Drops with reason ``length_balance_longer`` /
    ``length_balance_shorter``; figures hold L, S and the keep probabilities.
    """

    name = "balance_length"
    inputs = ("chosen", "rejected")
    Options = BalanceOptions
    needs_full_pass = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.keep = {"longer": 1.0, "shorter": 1.0}

    def fit(self, batches) -> None:
        n_long = n_short = 0
        for b in batches():
            lo, sh = _length_sides(b, self.options.min_ratio)
            n_long, n_short = n_long + int(lo.sum()), n_short + int(sh.sum())
        t = self.options.target
        # keep L' = S·t/(1−t) longer-wins pairs when they are too many, else S' = L·(1−t)/t shorter-wins
        self.keep = {"longer": min(1.0, n_short * t / (1 - t) / n_long) if n_long else 1.0,
                     "shorter": min(1.0, n_long * (1 - t) / t / n_short) if n_short else 1.0}
        self.stats.figures.update(longer_wins=n_long, shorter_wins=n_short, keep_probability=self.keep)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        lo, sh = _length_sides(batch, self.options.min_ratio)
        u = _uniform(batch["id"].to_list(), self.options.seed)
        drop_long, drop_short = lo & (u >= self.keep["longer"]), sh & (u >= self.keep["shorter"])
        batch = self.drop(batch, pl.Series(drop_long), "length_balance_longer")
        return self.drop(batch, pl.Series(drop_short[~drop_long]), "length_balance_shorter")
