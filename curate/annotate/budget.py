"""Which pairs a limited human budget goes to, and what the random audit slice says once answered.

``route_to_humans`` with a ``budget`` is a full-pass step: ``BudgetPlan.fit`` sees a few light
columns of every row (id, prompt, p_chosen, strength_std, decision, cluster_id) before any batch is
pushed, so the budget is global (a per-batch quota would hand it to the first batches, or need the
row count in advance) and the ranking is over the whole run. Selection, for a budget of B pairs:

1. **random audit**: round(B · random_share) pairs drawn uniformly (seeded) from *every* row, whatever
   its decision. Their answers estimate, without selection bias, the share of labels that are right
   after the ensemble and the share that were wrong before it (``audit_figures``).
2. **uncertain**: the rest of B from the rows decided ``route``, most uncertain first (p_chosen
   closest to ½, where an answer is most likely to change the label; ties: larger strength_std), and
   spread across prompt groups (same normalised prompt, joined with dedup ``cluster_id``): every group
   gets its most uncertain pair before any group gets a second, so one prompt cannot eat the budget.

Routed rows over the budget are not pushed (``human_status = "over_budget"``, decision stays route).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from curate.schema import VoteKind, prompt_text_expr
from curate.vote.calibrate import clopper_pearson
from curate.vote.groups import link_groups, normalised_prompt_hash

RANDOM_AUDIT, UNCERTAIN = "random_audit", "uncertain"
PLAN_COLUMNS = ("id", "p_chosen", "strength_std", "cluster_id")


def budget_size(rows: int, budget: int | None, share: float | None) -> int:
    """The number of pairs to push: the smaller of `budget` and `share` of the rows (None = no limit)."""
    limits = [b for b in (budget, None if share is None else int(round(share * rows))) if b is not None]
    return min([rows, *limits])


def _light(batch: pl.DataFrame, decision_column: str) -> pl.DataFrame:
    """The columns the plan needs from one batch; prompts are reduced to a hash right away."""
    cols = [pl.col("id"), (pl.col(decision_column) == "route").alias("_route"),
            prompt_text_expr().map_elements(normalised_prompt_hash, return_dtype=pl.Utf8).alias("_prompt")]
    for c, dtype in (("p_chosen", pl.Float64), ("strength_std", pl.Float64), ("cluster_id", pl.Utf8)):
        cols.append(pl.col(c).cast(dtype) if c in batch.columns else pl.lit(None, dtype=dtype).alias(c))
    return batch.select(cols)


def spread_order(uncertainty: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Row order: by rank inside the row's group (most uncertain first), then by uncertainty."""
    order = np.lexsort((-uncertainty, groups))  # within each group, most uncertain first
    rank = np.empty(len(order), dtype=np.int64)
    g_sorted = groups[order]
    starts = np.r_[0, np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank[order] = np.arange(len(order)) - run_start
    return np.lexsort((-uncertainty, rank))


@dataclass
class BudgetPlan:
    """pair id → route reason (``random_audit`` or ``uncertain``) for the pairs to push."""

    size: int = 0
    chosen: dict[str, str] = field(default_factory=dict)
    over_budget: int = 0

    @classmethod
    def fit(cls, batches, decision_column: str, budget: int | None, share: float | None,
            random_share: float, seed: int) -> BudgetPlan:
        frames = [_light(b, decision_column) for b in batches() if b.height]
        if not frames:
            return cls()
        df = pl.concat(frames)
        size = budget_size(df.height, budget, share)
        rng = np.random.default_rng(seed)
        n_audit = int(round(size * random_share))
        audit = rng.choice(df.height, n_audit, replace=False) if n_audit else np.array([], dtype=np.int64)
        plan = cls(size=size, chosen={df["id"][int(i)]: RANDOM_AUDIT for i in audit})
        route = df.with_row_index("_row").filter(pl.col("_route") & ~pl.col("_row").is_in(audit.tolist()))
        p = route["p_chosen"].fill_null(0.5).to_numpy()
        std = route["strength_std"].fill_null(0.0).fill_nan(0.0).to_numpy()
        # closeness of p to ½ first; strength_std (voters disagree on how strongly) breaks near-ties
        uncertainty = (1.0 - 2.0 * np.abs(p - 0.5)) + 1e-3 * np.minimum(std, 10.0)
        order = spread_order(uncertainty, link_groups(route["_prompt"].to_list(), route["cluster_id"].to_list()))
        ids = route["id"].to_list()
        take = order[: max(size - n_audit, 0)]
        plan.chosen.update({ids[int(i)]: UNCERTAIN for i in take})
        plan.over_budget = route.height - len(take)
        return plan


def _human_majority(votes: list[dict] | None) -> float | None:
    """1.0 when the row's human votes favour its current chosen, 0.0 against, None if no majority."""
    ps = [v["p_chosen"] for v in votes or [] if v and v.get("kind") == VoteKind.HUMAN and v["p_chosen"] != 0.5]
    if not ps:
        return None
    share = sum(p > 0.5 for p in ps) / len(ps)
    return None if share == 0.5 else float(share > 0.5)


def _interval(k: int, n: int) -> dict:
    lo, hi = clopper_pearson(k, n)
    return {"estimate": round(k / n, 4) if n else None, "lower95": round(lo, 4), "upper95": round(hi, 4),
            "pairs": n}


class AuditTally:
    """Estimates from answered ``random_audit`` rows, accumulated over batches.

    ``label_accuracy``: share whose current label (after the ensemble's flips) people confirm, i.e.
    the precision of the output labels; ``label_noise_before``: share whose original label people
    reject; ``by_decision``: per ensemble decision, the share of its labels people confirm. Bounds:
    Clopper–Pearson, one-sided 95% each way (as in curate.vote.calibrate)."""

    def __init__(self) -> None:
        self.audited = 0
        self.right: list[bool] = []
        self.noisy: list[bool] = []
        self.per: dict[str, list[bool]] = {}

    def add(self, df: pl.DataFrame) -> None:
        """Reads: votes (with human votes), route_reason, flipped, decision."""
        if "route_reason" not in df.columns:
            return
        rows = df.filter(pl.col("route_reason") == RANDOM_AUDIT)
        self.audited += rows.height
        flipped = rows["flipped"].fill_null(False).to_list() if "flipped" in rows.columns else [False] * rows.height
        decisions = rows["decision"].to_list() if "decision" in rows.columns else [None] * rows.height
        for votes, f, d in zip(rows["votes"].to_list(), flipped, decisions):
            m = _human_majority(votes)
            if m is None:
                continue
            self.right.append(m == 1.0)
            self.noisy.append((m == 1.0) == bool(f))  # the original label is the current one unless flipped
            self.per.setdefault(d or "none", []).append(m == 1.0)

    def figures(self) -> dict:
        out: dict = {"audit_pairs": self.audited, "answered": len(self.right)}
        if self.right:
            out.update(label_accuracy=_interval(sum(self.right), len(self.right)),
                       label_noise_before=_interval(sum(self.noisy), len(self.noisy)),
                       by_decision={d: _interval(sum(v), len(v)) for d, v in sorted(self.per.items())})
        return out
