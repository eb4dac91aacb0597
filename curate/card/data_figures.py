"""Figures computed from the exported records themselves (not from step stats).

These hold whatever steps ran: lengths of chosen vs rejected (the length bias a reward model would
learn), preference strength, decisions, per-voter agreement with the majority, dedup clusters.
"""

from __future__ import annotations

from typing import Any

import polars as pl

STRENGTH_COLUMNS = ("strength", "p_chosen")


def strength_column(df: pl.DataFrame) -> str | None:
    return next((c for c in STRENGTH_COLUMNS if c in df.columns and df.get_column(c).null_count() < df.height),
                None)


def response_lengths(df: pl.DataFrame) -> tuple[pl.Series, pl.Series] | None:
    """Characters of each chosen and rejected response: the ``chosen_chars``/``rejected_chars`` columns
    card_records reads (the texts stay on disk), else measured from the texts; None without either."""
    if "chosen_chars" in df.columns:
        return df.get_column("chosen_chars"), df.get_column("rejected_chars")
    if "chosen" in df.columns:
        lens = df.select(c=pl.col("chosen").str.len_chars(), r=pl.col("rejected").str.len_chars())
        return lens.get_column("c"), lens.get_column("r")
    return None


def length_figures(df: pl.DataFrame) -> dict[str, Any]:
    c, r = response_lengths(df)
    return {
        "chosen_mean_chars": round(float(c.mean()), 1), "rejected_mean_chars": round(float(r.mean()), 1),
        "chosen_median_chars": float(c.median()), "rejected_median_chars": float(r.median()),
        # a reward model can learn "longer wins" when this is far from 0.5
        "chosen_longer_rate": round(float((c > r).mean()), 4),
        "chosen_shorter_rate": round(float((c < r).mean()), 4),
        "equal_length_rate": round(float((c == r).mean()), 4),
    }


def strength_figures(df: pl.DataFrame, col: str, bins: int = 10) -> dict[str, Any]:
    s = df.get_column(col).drop_nulls().cast(pl.Float64)
    lo, hi = (0.0, 1.0) if col == "p_chosen" or (s.min() >= 0 and s.max() <= 1) else (float(s.min()), float(s.max()))
    width = (hi - lo) / bins or 1.0
    idx = ((s - lo) / width).floor().clip(0, bins - 1).cast(pl.Int64)
    counts = [int((idx == i).sum()) for i in range(bins)]
    return {"column": col, "n": s.len(), "mean": round(float(s.mean()), 4), "median": round(float(s.median()), 4),
            "histogram": {"edges": [round(lo + i * width, 4) for i in range(bins + 1)], "counts": counts}}


def vote_figures(df: pl.DataFrame) -> dict[str, Any]:
    """Per voter: votes cast, rate of agreeing with the majority of the *other* voters on the record.

    Records are told apart by row, not id: variants of one pair share an id."""
    v = (df.select("votes").with_row_index("id").explode("votes").drop_nulls("votes").unnest("votes")
         .filter(pl.col("p_chosen").is_not_null())
         .with_columns(says_chosen=(pl.col("p_chosen") > 0.5).cast(pl.Int64)))
    if v.height == 0:
        return {}
    per_rec = v.group_by("id").agg(n=pl.len(), yes=pl.col("says_chosen").sum())
    v = v.join(per_rec, on="id").filter(pl.col("n") > 1)
    if v.height == 0:
        return {"votes": int(df.get_column("votes").list.len().sum())}
    # majority of the others: (yes - mine) vs (n - 1) / 2; ties count as no majority
    others_yes = pl.col("yes") - pl.col("says_chosen")
    others_n = pl.col("n") - 1
    v = v.with_columns(maj=pl.when(others_yes * 2 > others_n).then(1)
                       .when(others_yes * 2 < others_n).then(0).otherwise(None))
    agree = (v.filter(pl.col("maj").is_not_null())
             .group_by("voter").agg(votes=pl.len(), agreement=(pl.col("says_chosen") == pl.col("maj")).mean())
             .sort("voter"))
    return {"voters": [{"voter": r["voter"], "votes": r["votes"], "agreement_with_others": round(r["agreement"], 4)}
                       for r in agree.iter_rows(named=True)],
            "records_with_votes": per_rec.height,
            "votes": int(per_rec.get_column("n").sum())}


def data_figures(df: pl.DataFrame) -> dict[str, Any]:
    if df.height == 0 or response_lengths(df) is None:
        return {"records": df.height}
    out: dict[str, Any] = {"records": df.height, "lengths": length_figures(df)}
    if "source" in df.columns:
        out["sources"] = dict(df.group_by("source").len().sort("len", descending=True).head(20).iter_rows())
    col = strength_column(df)
    if col:
        out["strength"] = strength_figures(df, col)
    if "decision" in df.columns:
        out["decisions"] = dict(df.group_by(pl.col("decision").cast(pl.Utf8).fill_null("none"))
                                .len().sort("decision").iter_rows())
    if "votes" in df.columns and df.get_column("votes").list.len().sum():
        out["votes"] = vote_figures(df)
    if "dup_count" in df.columns:
        # each kept record stands for its cluster: dup_count is how many duplicates dedup removed into it
        d = df.get_column("dup_count").fill_null(0)
        out["clusters"] = {"kept_with_duplicates": int((d > 0).sum()), "duplicates_removed": int(d.sum())}
    return out
