"""Ensemble steps: aggregate the ``votes`` column and decide keep / flip / drop / route per pair.

``ensemble`` pools votes by configured weights and streams; ``ensemble_ds`` first estimates every
voter's reliability from all votes (Dawid–Skene EM, a full pass) and then decides batch by batch.
Both write the same columns and follow the rules and re-run contract of ``curate.vote.decide``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.registry import STEPS
from curate.step import Batches, Step
from curate.vote.aggregate import DawidSkene, WeightedLogOdds
from curate.vote.decide import DROP, FLIP, DecisionOptions, decide, flip_pairs
from curate.vote.matrix import VoteMatrix, agreement, strength

OUTPUTS = ("p_chosen", "agreement", "strength", "strength_std", "n_voters", "decision", "decision_reason",
           "flipped")


class _EnsembleBase(Step):
    inputs = ("votes",)
    outputs = OUTPUTS

    def posterior(self, vm: VoteMatrix) -> np.ndarray:
        raise NotImplementedError

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        vm = VoteMatrix.from_frame(batch)
        p = self.posterior(vm)
        n = vm.voted().sum(axis=1)
        agree = agreement(vm.p, p >= 0.5)
        s_mean, s_std = strength(vm.margin)
        human = (vm.voted() & np.array([k == "human" for k in vm.kinds], dtype=bool)).any(axis=1)
        dec, why = decide(self.options, p, np.nan_to_num(agree, nan=0.0), np.nan_to_num(s_mean), n, human)
        self.stats.count("voters_per_pair_total", int(n.sum()))
        for d, r in zip(dec, why):
            self.stats.count(f"decision.{d}")
            self.stats.count(f"decision.{d}.{r}")
        is_flip = np.array([d == FLIP for d in dec], dtype=bool)
        # outputs are oriented to the pair as it leaves the step, so a flipped pair reads p ≥ 0.5
        p_out = np.where(is_flip, 1 - p, p)
        s_out = np.where(is_flip, -s_mean, s_mean)
        batch = batch.with_columns(
            pl.Series("p_chosen", p_out, dtype=pl.Float64), pl.Series("agreement", agree, dtype=pl.Float64, nan_to_null=True),
            pl.Series("strength", s_out, dtype=pl.Float64, nan_to_null=True),
            pl.Series("strength_std", s_std, dtype=pl.Float64, nan_to_null=True),
            pl.Series("n_voters", n, dtype=pl.Int32), pl.Series("decision", dec, dtype=pl.Utf8),
            pl.Series("decision_reason", why, dtype=pl.Utf8),
        ).with_columns(pl.col("flipped").fill_null(False) if "flipped" in batch.columns
                       else pl.lit(False).alias("flipped"))
        batch = flip_pairs(batch, pl.Series(is_flip), self.label)
        for reason in sorted({r for d, r in zip(dec, why) if d == DROP}):
            mask = (pl.col("decision") == DROP) & (pl.col("decision_reason") == reason)
            batch = self.drop(batch, mask, reason)
        return batch

    def summary(self) -> dict[str, Any]:
        c, n = self.stats.counts, max(self.stats.records_in, 1)
        return {
            "keep_rate": c["decision.keep"] / n, "flip_rate": c["decision.flip"] / n,
            "drop_rate": c["decision.drop"] / n, "route_rate": c["decision.route"] / n,
            "mean_voters_per_pair": c["voters_per_pair_total"] / n,
        }


class WeightedOptions(DecisionOptions):
    weights: dict[str, float] = Field(default_factory=dict,
                                      description="weight per voter name or vote kind (name wins); default 1")
    human_weight: float = Field(3.0, ge=0.0, description="weight of kind=human votes not named in weights")
    pool: Literal["mean", "sum"] = Field("mean", description="mean: weighted mean of logits; sum: naive Bayes")


@STEPS.register()
class Ensemble(_EnsembleBase):
    """Pool every pair's votes by weighted log-odds and decide keep, flip, drop or route.

    Reads: votes. Writes: p_chosen (aggregated, oriented to the output pair), agreement (share of
    voters on the winning side), strength / strength_std (mean / std of voter margins in logits),
    n_voters, decision (keep|flip|route; drops are removed), decision_reason, flipped (bool, toggled by
    each flip). Flips swap chosen/rejected, re-orient votes and add a provenance event; re-runnable.
    """

    name = "ensemble"
    Options = WeightedOptions

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        o = self.options
        self.agg = WeightedLogOdds(weights=dict(o.weights), human_weight=o.human_weight, pool=o.pool)

    def posterior(self, vm: VoteMatrix) -> np.ndarray:
        return self.agg.posterior(vm)


class DSOptions(DecisionOptions):
    human_weight: float = Field(2.0, ge=0.0, description="multiplies the estimated log-odds weight of human voters")
    max_iter: int = Field(100, ge=1, description="EM iterations at most")
    smooth: float = Field(1.0, ge=0.0, description="Beta pseudo-counts on each voter's accuracy")


@STEPS.register()
class EnsembleDS(_EnsembleBase):
    """Estimate each voter's reliability from all votes (Dawid–Skene EM), then decide per pair.

    Full pass: fit on every vote of the stage, then process batch by batch. Reads: votes. Writes the
    same columns as ``ensemble``; figures add each voter's estimated accuracy and the estimated share
    of correct labels (``label_prior``). A voter at chance gets weight zero.
    """

    name = "ensemble_ds"
    Options = DSOptions
    needs_full_pass = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        o = self.options
        self.model = DawidSkene(human_weight=o.human_weight, max_iter=o.max_iter, smooth=o.smooth)
        self.voters: list[str] = []

    def fit(self, batches: Batches) -> None:
        frames = [b.select("votes") for b in batches() if "votes" in b.columns and b.height]
        vm = VoteMatrix.from_frame(pl.concat(frames) if frames else pl.DataFrame({"votes": []}))
        self.model.fit(vm)
        self.voters = vm.voters
        self.stats.figures.update(voter_accuracy={v: round(a, 4) for v, a in self.model.accuracy.items()},
                                  label_prior=round(self.model.prior, 4), em_iterations=self.model.iterations)

    def posterior(self, vm: VoteMatrix) -> np.ndarray:
        return self.model.posterior(vm)
