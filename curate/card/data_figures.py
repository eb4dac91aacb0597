"""Figures computed from the exported records themselves (not from step stats).

These hold whatever steps ran: lengths of chosen vs rejected (the length bias a reward model would
learn), preference strength, decisions, per-voter agreement with the majority, dedup clusters.

``CardTally`` takes the records a batch (a few of a run's shards) at a time, so the card never holds
the run: counts are summed, and only what a median or the lengths plot needs is kept, as numbers
(4 bytes per response length, 8 per strength value). On the 10M-pair scale run's 9.2M records the
card peaked at 695 MB, where reading its columns whole peaked at 3,495 MB: the peak of that run's
last stage (benchmarks/README.md). Every figure is the one the whole frame gives:
``data_figures(df)`` is a tally of one batch.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

STRENGTH_COLUMNS = ("strength", "p_chosen")


def response_lengths(df: pl.DataFrame) -> tuple[pl.Series, pl.Series] | None:
    """Characters of each chosen and rejected response: the ``chosen_chars``/``rejected_chars`` columns
    the card reads (the texts stay on disk), else measured from the texts; None without either."""
    if "chosen_chars" in df.columns:
        return df.get_column("chosen_chars"), df.get_column("rejected_chars")
    if "chosen" in df.columns:
        lens = df.select(c=pl.col("chosen").str.len_chars(), r=pl.col("rejected").str.len_chars())
        return lens.get_column("c"), lens.get_column("r")
    return None


class VoteTally:
    """Per voter: votes cast, and how often it agrees with the majority of the *other* voters on the
    record, summed over batches (a record's votes are all in its batch). Records are told apart by
    row, not id: variants of one pair share an id."""

    def __init__(self) -> None:
        self.listed = self.records = self.cast = 0
        self.several = False  # some record has more than one vote
        self.voters: dict[str, list[int]] = {}  # voter -> [votes against a majority, agreements]

    def add(self, df: pl.DataFrame) -> None:
        self.listed += int(df.get_column("votes").list.len().sum() or 0)
        v = (df.select("votes").with_row_index("id").explode("votes").drop_nulls("votes").unnest("votes")
             .filter(pl.col("p_chosen").is_not_null())
             .with_columns(says_chosen=(pl.col("p_chosen") > 0.5).cast(pl.Int64)))
        if v.height == 0:
            return
        per_rec = v.group_by("id").agg(n=pl.len(), yes=pl.col("says_chosen").sum())
        self.records += per_rec.height
        self.cast += int(per_rec.get_column("n").sum())
        v = v.join(per_rec, on="id").filter(pl.col("n") > 1)
        if v.height == 0:
            return
        self.several = True
        # majority of the others: (yes - mine) vs (n - 1) / 2; ties count as no majority
        others_yes = pl.col("yes") - pl.col("says_chosen")
        others_n = pl.col("n") - 1
        v = v.with_columns(maj=pl.when(others_yes * 2 > others_n).then(1)
                           .when(others_yes * 2 < others_n).then(0).otherwise(None))
        agree = (v.filter(pl.col("maj").is_not_null())
                 .group_by("voter").agg(votes=pl.len(), agreed=(pl.col("says_chosen") == pl.col("maj")).sum()))
        for voter, votes, agreed in agree.iter_rows():
            tally = self.voters.setdefault(voter, [0, 0])
            tally[0], tally[1] = tally[0] + votes, tally[1] + agreed

    def figures(self) -> dict[str, Any]:
        if not self.records:
            return {}
        if not self.several:
            return {"votes": self.listed}
        return {"voters": [{"voter": name, "votes": n, "agreement_with_others": round(agreed / n, 4)}
                           for name, (n, agreed) in sorted(self.voters.items())],
                "records_with_votes": self.records, "votes": self.cast}


class CardTally:
    """The card's record figures (``figures()``), from the records added a batch at a time."""

    def __init__(self) -> None:
        self.records = 0
        self._lengths: list[tuple[np.ndarray, np.ndarray]] | None = []  # None once a batch has no responses
        self._strength: dict[str, list[np.ndarray]] = {c: [] for c in STRENGTH_COLUMNS}
        self.sources: Counter | None = None
        self.decisions: Counter | None = None
        self.votes: VoteTally | None = None
        self.clusters: list[int] | None = None  # [kept records with duplicates, duplicates removed]

    def add(self, df: pl.DataFrame) -> CardTally:
        self.records += df.height
        lens = response_lengths(df)
        if lens is None or self._lengths is None:
            self._lengths = None
        else:
            self._lengths.append(tuple(s.cast(pl.UInt32).to_numpy() for s in lens))
        for col in STRENGTH_COLUMNS:
            if col in df.columns:
                self._strength[col].append(df.get_column(col).drop_nulls().cast(pl.Float64).to_numpy())
        if "source" in df.columns:
            self.sources = (self.sources or Counter()) + Counter(dict(df.group_by("source").len().iter_rows()))
        if "decision" in df.columns:
            self.decisions = self.decisions or Counter()
            self.decisions.update(dict(df.group_by(pl.col("decision").cast(pl.Utf8).fill_null("none"))
                                       .len().iter_rows()))
        if "votes" in df.columns:
            self.votes = self.votes or VoteTally()
            self.votes.add(df)
        if "dup_count" in df.columns:
            d = df.get_column("dup_count").fill_null(0)
            kept, removed = self.clusters or [0, 0]
            self.clusters = [kept + int((d > 0).sum()), removed + int(d.sum())]
        return self

    def lengths(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Every record's chosen and rejected response length, in order (None: no responses)."""
        if self._lengths is None or not self.records:
            return None
        return (np.concatenate([c for c, _ in self._lengths]).astype(np.int64),
                np.concatenate([r for _, r in self._lengths]).astype(np.int64))

    def strength_column(self) -> str | None:
        return next((c for c in STRENGTH_COLUMNS if sum(len(a) for a in self._strength[c])), None)

    def figures(self) -> dict[str, Any]:
        lens = self.lengths()
        if lens is None:
            return {"records": self.records}
        out: dict[str, Any] = {"records": self.records, "lengths": length_figures(*lens)}
        if self.sources is not None:
            out["sources"] = dict(sorted(self.sources.items(), key=lambda kv: -kv[1])[:20])
        col = self.strength_column()
        if col:
            out["strength"] = strength_figures(np.concatenate(self._strength[col]), col)
        if self.decisions is not None:
            out["decisions"] = dict(sorted(self.decisions.items()))
        if self.votes is not None and self.votes.listed:
            out["votes"] = self.votes.figures()
        if self.clusters is not None:
            # each kept record stands for its cluster: dup_count is how many duplicates dedup removed into it
            out["clusters"] = {"kept_with_duplicates": self.clusters[0], "duplicates_removed": self.clusters[1]}
        return out


def length_figures(c: np.ndarray, r: np.ndarray) -> dict[str, Any]:
    return {
        "chosen_mean_chars": round(float(c.mean()), 1), "rejected_mean_chars": round(float(r.mean()), 1),
        "chosen_median_chars": float(np.median(c)), "rejected_median_chars": float(np.median(r)),
        # a reward model can learn "longer wins" when this is far from 0.5
        "chosen_longer_rate": round(float((c > r).mean()), 4),
        "chosen_shorter_rate": round(float((c < r).mean()), 4),
        "equal_length_rate": round(float((c == r).mean()), 4),
    }


def strength_figures(s: np.ndarray, col: str, bins: int = 10) -> dict[str, Any]:
    lo, hi = (0.0, 1.0) if col == "p_chosen" or (s.min() >= 0 and s.max() <= 1) else (float(s.min()), float(s.max()))
    width = (hi - lo) / bins or 1.0
    idx = np.clip(np.floor((s - lo) / width), 0, bins - 1).astype(np.int64)
    counts = np.bincount(idx, minlength=bins).tolist()
    return {"column": col, "n": len(s), "mean": round(float(s.mean()), 4), "median": round(float(np.median(s)), 4),
            "histogram": {"edges": [round(lo + i * width, 4) for i in range(bins + 1)], "counts": counts}}


# the record columns the card's figures read (curate/card/data_figures.py, plots.py); prompts,
# metadata, provenance and the votes' raw replies are most of a run's bytes and are not needed
CARD_COLUMNS = ("chosen", "rejected", "source", "strength", "p_chosen", "decision", "dup_count", "votes")


def card_tally(run_dir: Path, group: int = 16) -> CardTally:
    """The card's record figures for the run in `run_dir`, read `group` shards at a time and only the
    columns the card reads: votes without their raw text, and the responses as ``chosen_chars`` /
    ``rejected_chars`` lengths (Parquet runs; a JSONL shard is read whole, then narrowed)."""
    from curate.io.writers import read_shard, shard_files

    tally = CardTally()
    if not (run_dir / "data").is_dir():
        return tally
    files = shard_files(run_dir)
    for at in range(0, len(files), group):
        frames = pl.collect_all([_card_scan(f) if f.suffix == ".parquet" else _card_columns(read_shard(f)).lazy()
                                 for f in files[at:at + group]])
        frames = [f for f in frames if f.width]
        if frames:  # an empty group would read as records without responses and drop the lengths figures
            tally.add(pl.concat(frames, how="diagonal_relaxed"))
    return tally


def _card_scan(path: Path) -> pl.LazyFrame:
    lf = pl.scan_parquet(path)
    names = lf.collect_schema().names()
    # the card needs the responses' lengths, not their text (most of a run's bytes: ~8 GB at 10M pairs)
    texts = {c: pl.col(c).str.len_chars().alias(f"{c}_chars") for c in ("chosen", "rejected")}
    return lf.select([pl.col("votes").list.eval(pl.struct(pl.element().struct.field("voter"),
                                                          pl.element().struct.field("p_chosen"))).alias("votes")
                      if c == "votes" else texts.get(c, pl.col(c)) for c in CARD_COLUMNS if c in names])


def _card_columns(df: pl.DataFrame) -> pl.DataFrame:
    return df.select([c for c in CARD_COLUMNS if c in df.columns])


def vote_figures(df: pl.DataFrame) -> dict[str, Any]:
    votes = VoteTally()
    votes.add(df)
    return votes.figures()


def data_figures(df: pl.DataFrame) -> dict[str, Any]:
    return CardTally().add(df).figures() if df.height else {"records": 0}
