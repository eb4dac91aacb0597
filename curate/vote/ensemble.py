"""Ensemble steps: aggregate the ``votes`` column and decide keep / flip / drop / route per pair.

``ensemble`` pools votes by configured weights and streams; ``ensemble_ds`` first estimates every
family's reliability from all votes (Dawid–Skene EM, a full pass) and then decides batch by batch.
Both write the same columns and follow the rules and re-run contract of ``curate.vote.decide``.

Steps, shared by both:

1. votes → VoteMatrix; with ``families: true`` (default) the voters of one family (one model, one
   embedding) are first pooled into one column, so correlated views count as one witness.
2. posterior p(chosen ≻ rejected) per row from the family columns.
3. decide: ``policy: hard`` without gold uses the configured thresholds (``decide``); ``policy: soft``
   or a ``gold`` block uses the calibrated rules (``decide_calibrated``): flip and drop thresholds are
   picked on gold (``curate.vote.calibrate``) and where gold cannot support them nothing is flipped or
   dropped: such pairs are routed (or kept) and counted under ``withheld.flip`` / ``withheld.drop``.
   With gold the step is a full pass (it fits the thresholds on the whole stage first) and, with
   ``gold.learn_weights`` (default), weighs the families by weights learned on gold (``gold.weights``:
   ``logistic`` regression on their logits, default, or ``accuracy`` log-odds); the thresholds
   are then picked on cross-fitted gold posteriors, so the bound is not flattered by fitting on itself.
4. ``policy: soft`` also writes ``margin`` = clip(logit(p_chosen), 0, margin_cap), the column TRL's
   RewardTrainer reads, so training weighs pairs by how sure the ensemble is instead of losing them.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.registry import STEPS
from curate.schema import VoteKind, conform_votes
from curate.step import Batches, Step
from curate.vote.aggregate import DawidSkene, WeightedLogOdds
from curate.vote.calibrate import (
    Calibration,
    GoldOptions,
    calibrate,
    cross_fitted_gold_posterior,
    gold_model,
    gold_model_figures,
    keys_of,
    read_gold,
)
from curate.vote.decide import DROP, FLIP, DecisionOptions, decide, decide_calibrated, flip_pairs
from curate.vote.matrix import VoteMatrix, agreement, logit, strength

log = logging.getLogger("curate.vote")

OUTPUTS = ("p_chosen", "agreement", "strength", "strength_std", "n_voters", "n_families", "decision",
           "decision_reason", "flipped")


class EnsembleOptions(DecisionOptions):
    families: bool = Field(True, description="pool each vote family (same model / embedding) into one "
                           "witness before aggregating; false counts every voter as independent")
    # soft by default: without gold, the hard thresholds flipped or dropped 27% (mixed into HH) / 15%
    # (alone) of LLMBar's correct pairs (benchmarks/false_positives.py); soft flips/drops none of them
    policy: Literal["hard", "soft"] = Field("soft", description="soft (default): flip/drop only where gold "
                                            "calibrates it, route or keep the rest, write `margin`; hard: "
                                            "the configured thresholds (or gold's)")
    gold: GoldOptions | None = Field(None, description="verified pairs to calibrate flip/drop thresholds on")
    margin_cap: float = Field(5.0, gt=0, description="soft policy: largest `margin` (logits) written")


def _gold_truth(df: pl.DataFrame, fam: VoteMatrix, o: GoldOptions) -> np.ndarray:
    """Per row: 1.0 label right, 0.0 label wrong, NaN unknown. A gold file wins over human votes."""
    truth = np.full(df.height, np.nan)
    human = np.array([k == VoteKind.HUMAN for k in fam.kinds], dtype=bool)
    if o.humans and human.any():
        hp = fam.p[:, human]
        voted = ~np.isnan(hp) & (np.nan_to_num(hp, nan=0.5) != 0.5)
        share = np.where(voted, hp > 0.5, 0).sum(axis=1) / np.maximum(voted.sum(axis=1), 1)
        decided = voted.any(axis=1) & (share != 0.5)
        truth[decided] = (share[decided] > 0.5).astype(float)
    if o.path:
        gold = read_gold(o.path, o.format)
        for i, (k, c) in enumerate(zip(keys_of(df), df["chosen"].to_list())):
            if k in gold:
                truth[i] = float(c == gold[k])
    return truth


class _EnsembleBase(Step):
    inputs = ("votes",)
    outputs = OUTPUTS
    Options = EnsembleOptions

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.cal: Calibration | None = None
        self.gold_weights = None  # a gold-counted Dawid–Skene model; replaces the step's own posterior
        if self.options.gold is not None:
            self.needs_full_pass = True  # thresholds are fitted on the whole stage first

    def matrix(self, df: pl.DataFrame) -> VoteMatrix:
        vm = VoteMatrix.from_frame(conform_votes(df))
        return vm.by_family() if self.options.families else vm

    def posterior(self, vm: VoteMatrix) -> np.ndarray:
        if self.gold_weights is not None:
            return self.gold_weights.posterior(vm)
        return self.own_posterior(vm)

    def own_posterior(self, vm: VoteMatrix) -> np.ndarray:
        raise NotImplementedError

    def fit_model(self, vm: VoteMatrix) -> None:
        """Hook for aggregators that learn from all votes (Dawid–Skene); the weighted one learns nothing."""

    def fit(self, batches: Batches) -> None:
        cols = ("prompt", "chosen", "rejected", "votes")
        frames = [b.select([c for c in cols if c in b.columns]) for b in batches() if b.height]
        df = conform_votes(pl.concat(frames, how="diagonal_relaxed")) if frames else pl.DataFrame({"votes": []})
        fam = self.matrix(df)
        self.fit_model(fam)
        if self.options.gold is not None:
            self.calibrate(df, fam)

    def calibrate(self, df: pl.DataFrame, fam: VoteMatrix) -> None:
        """Gold rows → flip/drop thresholds; the machine posterior leaves human votes out."""
        o = self.options
        truth = _gold_truth(df, fam, o.gold)
        machine = [j for j, k in enumerate(fam.kinds) if k != VoteKind.HUMAN]
        sub = VoteMatrix([fam.voters[j] for j in machine], [fam.kinds[j] for j in machine],
                         fam.p[:, machine], fam.margin[:, machine], [fam.voters[j] for j in machine])
        has = ~np.isnan(truth)
        rows = VoteMatrix(sub.voters, sub.kinds, sub.p[has], sub.margin[has], sub.families)
        right = truth[has] == 1.0
        if o.gold.learn_weights and has.sum() >= max(o.gold.min_gold, 10):
            p_gold = cross_fitted_gold_posterior(rows, right, kind=o.gold.weights, C=o.gold.C)
            self.gold_weights = gold_model(rows, right, human_weight=o.human_weight, kind=o.gold.weights, C=o.gold.C)
            self.stats.figures.update(gold_model_figures(self.gold_weights))
        else:
            p_gold = self.posterior(rows)
        self.cal = calibrate(p_gold, right, rows, o.gold)
        self.stats.figures["calibration"] = self.cal.figures()
        if self.cal.why != "calibrated":
            log.warning("step %s: %s; those pairs are %s instead", self.label, self.cal.why,
                        "routed" if o.route else "kept")

    def thresholds(self) -> tuple[float | None, float | None] | None:
        """Calibrated (flip, drop) thresholds, or None when the configured rules apply."""
        if self.cal is not None:
            return self.cal.flip_below, self.cal.drop_below
        return (None, None) if self.options.policy == "soft" else None

    def _decide(self, p, agree, s_mean, n, human) -> tuple[list[str], list[str]]:
        o, th = self.options, self.thresholds()
        rules = decide(o, p, agree, s_mean, n, human)
        if th is None:
            return rules
        dec, why = decide_calibrated(o, th[0], th[1], p, agree, s_mean, n, human)
        for d_rule, d in zip(rules[0], dec):
            if d_rule in (FLIP, DROP) and d not in (FLIP, DROP):
                self.stats.count(f"withheld.{d_rule}")  # the configured rule would have acted; gold did not back it
        return dec, why

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = conform_votes(batch)
        vm = self.matrix(batch)
        p = self.posterior(vm)
        n = vm.voted().sum(axis=1)
        n_raw = VoteMatrix.from_frame(batch).voted().sum(axis=1) if self.options.families else n
        agree = agreement(vm.p, p >= 0.5)
        s_mean, s_std = strength(vm.margin)
        human = (vm.voted() & np.array([k == VoteKind.HUMAN for k in vm.kinds], dtype=bool)).any(axis=1)
        dec, why = self._decide(p, np.nan_to_num(agree, nan=0.0), np.nan_to_num(s_mean), n, human)
        self.stats.count("voters_per_pair_total", int(n_raw.sum()))
        self.stats.count("families_per_pair_total", int(n.sum()))
        for d, r in zip(dec, why):
            self.stats.count(f"decision.{d}")
            self.stats.count(f"decision.{d}.{r}")
        is_flip = np.array([d == FLIP for d in dec], dtype=bool)
        # outputs are oriented to the pair as it leaves the step, so a flipped pair reads p ≥ 0.5
        p_out = np.where(is_flip, 1 - p, p)
        s_out = np.where(is_flip, -s_mean, s_mean)
        batch = batch.with_columns(
            pl.Series("p_chosen", p_out, dtype=pl.Float64),
            pl.Series("agreement", agree, dtype=pl.Float64, nan_to_null=True),
            pl.Series("strength", s_out, dtype=pl.Float64, nan_to_null=True),
            pl.Series("strength_std", s_std, dtype=pl.Float64, nan_to_null=True),
            pl.Series("n_voters", n_raw, dtype=pl.Int32), pl.Series("n_families", n, dtype=pl.Int32),
            pl.Series("decision", dec, dtype=pl.Utf8), pl.Series("decision_reason", why, dtype=pl.Utf8),
        ).with_columns(pl.col("flipped").fill_null(False) if "flipped" in batch.columns
                       else pl.lit(False).alias("flipped"))
        if self.options.policy == "soft":
            margin = np.clip(logit(p_out), 0.0, self.options.margin_cap)
            batch = batch.with_columns(pl.Series("margin", margin, dtype=pl.Float64))
        # each flip is logged with its own reason (a person's answer is not a voters' consensus)
        for reason in sorted({r for d, r in zip(dec, why) if d == FLIP}):
            mask = is_flip & np.array([r == reason for r in why], dtype=bool)
            batch = flip_pairs(batch, pl.Series(mask), self.label, reason)
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
            "mean_families_per_pair": c["families_per_pair_total"] / n,
        }


class WeightedOptions(EnsembleOptions):
    weights: dict[str, float] = Field(
        default_factory=dict, description="weight per family (or voter, with families: false) or vote kind; default 1")
    human_weight: float = Field(3.0, ge=0.0, description="weight of kind=human votes not named in weights")
    pool: Literal["mean", "sum"] = Field("mean", description="mean: weighted mean of logits; sum: naive Bayes")


@STEPS.register()
class Ensemble(_EnsembleBase):
    """Pool every pair's votes by weighted log-odds and decide keep, flip, drop or route.

    Reads: votes (and prompt, chosen, rejected for a gold file). Writes: p_chosen (aggregated, oriented
    to the output pair), agreement (share of families on the winning side), strength / strength_std
    (mean / std of family margins in logits), n_voters, n_families, decision (keep|flip|route; drops
    are removed), decision_reason, flipped (bool, toggled by each flip), and with ``policy: soft``
    margin. Flips swap chosen/rejected, re-orient votes and add a provenance event; re-runnable.
    """

    name = "ensemble"
    Options = WeightedOptions

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        o = self.options
        self.agg = WeightedLogOdds(weights=dict(o.weights), human_weight=o.human_weight, pool=o.pool)

    def own_posterior(self, vm: VoteMatrix) -> np.ndarray:
        return self.agg.posterior(vm)


class DSOptions(EnsembleOptions):
    human_weight: float = Field(2.0, ge=0.0, description="multiplies the estimated log-odds weight of human voters")
    max_iter: int = Field(100, ge=1, description="EM iterations at most")
    smooth: float = Field(1.0, ge=0.0, description="Beta pseudo-counts on each voter's accuracy")


@STEPS.register()
class EnsembleDS(_EnsembleBase):
    """Estimate each family's reliability from all votes (Dawid–Skene EM), then decide per pair.

    Full pass: fit on every vote of the stage (one column per family), then process batch by batch.
    Reads and writes as ``ensemble``; figures add each family's estimated accuracy and the estimated
    share of correct labels (``label_prior``), the worst pairwise ``dependence`` gap and the ``fallback``
    to equal weights when the families are not independent (see ``curate.vote.aggregate``). A family
    at chance or below gets weight zero.
    """

    name = "ensemble_ds"
    Options = DSOptions
    needs_full_pass = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        o = self.options
        self.model = DawidSkene(human_weight=o.human_weight, max_iter=o.max_iter, smooth=o.smooth)
        self.voters: list[str] = []

    def fit_model(self, vm: VoteMatrix) -> None:
        self.model.fit(vm)
        self.voters = vm.voters
        self.stats.figures.update(voter_accuracy={v: round(a, 4) for v, a in self.model.accuracy.items()},
                                  label_prior=round(self.model.prior, 4), em_iterations=self.model.iterations,
                                  dependence=round(self.model.dependence, 4), fallback=self.model.fallback)
        if self.model.fallback:
            log.warning("step %s: %s", self.label, self.model.fallback)

    def own_posterior(self, vm: VoteMatrix) -> np.ndarray:
        return self.model.posterior(vm)
