"""The ``votes`` column of a batch as dense matrices, one column per voter.

Aggregators work on numbers, not on list-of-struct columns: ``VoteMatrix.from_frame`` turns a
batch into ``p`` and ``margin`` arrays of shape (rows, voters) with NaN where a voter did not vote.
A voter that voted twice on the same row (a voter step run twice) counts once: its last vote wins.
Margins are logits of the vote oriented to the current chosen side; a vote without a margin gets
``logit(p)`` so every voter speaks the same unit.

``by_family`` folds the voters of one family (same model, same embedding: errors that move together)
into one column: the family's logit is the mean of its members' logits on that row, so four views of
one embedding say what one of them would, not four times as much.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

EPS = 1e-4  # p is clipped to [EPS, 1-EPS] before taking logits: a hard 0/1 vote is ±9.2, not ±inf


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def logit_nan(p: np.ndarray) -> np.ndarray:
    """logit that keeps NaN (no vote) as NaN."""
    p = np.asarray(p, dtype=np.float64)
    return np.where(np.isnan(p), np.nan, logit(np.nan_to_num(p, nan=0.5)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass
class VoteMatrix:
    voters: list[str]
    kinds: list[str]  # kind of each voter (from its latest vote)
    p: np.ndarray  # (rows, voters), NaN = no vote
    margin: np.ndarray  # (rows, voters), NaN = no vote
    families: list[str] | None = None  # family of each voter (from its latest vote); None = the voter itself

    def family_of(self) -> list[str]:
        return list(self.families) if self.families is not None else list(self.voters)

    def by_family(self) -> VoteMatrix:
        """One column per family: mean logit (p) and mean margin of its members that voted on the row."""
        fam = self.family_of()
        names = list(dict.fromkeys(fam))
        p = np.full((self.rows, len(names)), np.nan)
        m = np.full((self.rows, len(names)), np.nan)
        kinds = []
        for j, f in enumerate(names):
            cols = [i for i, g in enumerate(fam) if g == f]
            kinds.append(self.kinds[cols[0]])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN row: NaN, as wanted
                p[:, j] = sigmoid(np.nanmean(logit_nan(self.p[:, cols]), axis=1))
                m[:, j] = np.nanmean(self.margin[:, cols], axis=1)
            # an all-0.5 family stays an exact abstention (Dawid–Skene skips 0.5 votes)
            p[:, j] = np.where(np.nanmax(np.abs(self.p[:, cols] - 0.5), axis=1, initial=-1) == 0, 0.5, p[:, j])
        return VoteMatrix(names, kinds, p, m, names)

    @property
    def rows(self) -> int:
        return self.p.shape[0]

    def voted(self) -> np.ndarray:
        return ~np.isnan(self.p)

    @classmethod
    def from_frame(cls, df: pl.DataFrame, voters: list[str] | None = None) -> VoteMatrix:
        """Build the matrices; `voters` fixes the column order (unknown voters are appended)."""
        n = df.height
        if "votes" not in df.columns or n == 0:
            names = list(voters or [])
            return cls(names, ["" for _ in names], np.full((n, len(names)), np.nan), np.full((n, len(names)), np.nan),
                       list(names))
        long = (
            df.select(pl.col("votes")).with_row_index("_row").explode("votes")
            .filter(pl.col("votes").is_not_null()).unnest("votes")
            .filter(pl.col("p_chosen").is_not_null() & pl.col("p_chosen").is_not_nan())
        )
        names = list(voters or [])
        kinds: dict[str, str] = {}
        fams: dict[str, str] = {}
        fam_col = long["family"].to_list() if "family" in long.columns else [None] * long.height
        for v, k, f in zip(long["voter"].to_list(), long["kind"].to_list(), fam_col):
            if v not in kinds and v not in names:
                names.append(v)
            kinds[v] = k or ""
            fams[v] = f or v  # old data without a family: every voter is its own
        col = {v: j for j, v in enumerate(names)}
        p = np.full((n, len(names)), np.nan)
        m = np.full((n, len(names)), np.nan)
        rows = long["_row"].to_numpy()
        js = np.array([col[v] for v in long["voter"].to_list()], dtype=np.int64)
        pv = long["p_chosen"].to_numpy().astype(np.float64)
        mv = long["margin"].fill_nan(None).to_numpy().astype(np.float64) if long.height else np.zeros(0)
        mv = np.where(np.isnan(mv), logit(pv), mv)
        # fancy assignment keeps the last write for repeated (row, voter): the latest vote wins
        p[rows, js] = np.clip(pv, 0.0, 1.0)
        m[rows, js] = mv
        return cls(names, [kinds.get(v, "") for v in names], p, m, [fams.get(v, v) for v in names])


def agreement(p: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Fraction of a row's voters on `side` (True = chosen wins); a 0.5 vote counts half.

    NaN for a row without votes.
    """
    voted = ~np.isnan(p)
    n = voted.sum(axis=1)
    pc = np.where(voted, p, 0.5)
    for_chosen = np.where(voted, (pc > 0.5) + 0.5 * (pc == 0.5), 0.0).sum(axis=1)
    frac = np.where(side, for_chosen, n - for_chosen)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, frac / np.maximum(n, 1), np.nan)


def strength(margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (population std) of the voters' margins, per row; NaN without votes."""
    voted = ~np.isnan(margin)
    n = voted.sum(axis=1)
    m0 = np.where(voted, margin, 0.0)
    mean = m0.sum(axis=1) / np.maximum(n, 1)
    var = (np.where(voted, (margin - mean[:, None]) ** 2, 0.0)).sum(axis=1) / np.maximum(n, 1)
    return np.where(n > 0, mean, np.nan), np.where(n > 0, np.sqrt(var), np.nan)
