"""Decision rules (keep / flip / drop / route, each with a reason) and the flip of a pair.

Rules, first match wins (p = aggregated p(chosen ≻ rejected), agreement = share of voters on the
side p favours, strength = mean voter margin oriented to the current chosen):

    no votes                                   → ``no_votes`` option (keep by default)     reason no_votes
    p ≥ keep_above                             → keep                                     consensus_for
    p ≤ flip_below and agreement ≥ flip_agreement and voters ≥ flip_min_voters
                                               → flip                                     consensus_against
    row has a human vote (already routed once) → keep if p ≥ 0.5 else flip                human_resolved
    agreement < route_agreement                → route (drop if route=False)              voters_disagree
    |strength| < route_strength                → route (drop if route=False)              near_zero_strength
    p < 0.5                                    → drop                                     leans_against
    otherwise                                  → drop                                     weak_preference

A human-voted row is never routed again, so the annotate → re-vote loop ends.

**Calibrated rules** (``decide_calibrated``: ``policy: soft``, or gold given): the flip and drop
thresholds come from gold (``curate.vote.calibrate``); a threshold gold could not support is None and
nothing is flipped or dropped by it:

    no votes                                   → ``no_votes`` option                      no_votes
    row has a human vote                       → keep if p ≥ 0.5 else flip                human_resolved
    p ≤ flip threshold                         → flip                                     calibrated_against
    p ≤ drop threshold                         → drop                                     calibrated_weak
    p ≥ keep_above                             → keep                                     consensus_for
    agreement < route_agreement / |strength| < route_strength → route (keep if route=False), as above
    p < 0.5                                    → route (keep if route=False)              uncalibrated
    otherwise                                  → keep                                     weak_preference

**Flip and re-runs.** A flip swaps chosen and rejected, maps every vote p → 1-p and margin → -margin
(so all votes stay oriented to the *current* chosen), toggles the boolean ``flipped`` column and
appends a provenance event. The id is kept. Because votes always follow the current orientation, the
ensemble can be re-run on its own output (e.g. after human votes came back for routed rows): it
recomputes everything from the votes, a flipped pair whose votes still agree is kept, and a pair that
new votes contradict is flipped back (``flipped`` returns to false, and provenance shows both events).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.schema import append_provenance
from curate.step import Options

KEEP, FLIP, DROP, ROUTE = "keep", "flip", "drop", "route"


class DecisionOptions(Options):
    keep_above: float = Field(0.6, ge=0.5, le=1.0, description="keep when aggregated p(chosen) ≥ this")
    flip_below: float = Field(0.2, ge=0.0, le=0.5, description="flip when p(chosen) ≤ this and voters agree")
    flip_agreement: float = Field(0.75, ge=0.0, le=1.0, description="least share of voters against the label to flip")
    flip_min_voters: int = Field(2, ge=1, description="least number of voters to flip a pair")
    route_agreement: float = Field(0.65, ge=0.0, le=1.0,
                                   description="route to a human when fewer voters than this share agree")
    route_strength: float = Field(0.2, ge=0.0, description="route when |mean margin| (logits) is below this")
    route: bool = Field(True, description="false: drop the pairs that would go to a human (reason route_*)")
    no_votes: Literal["keep", "drop", "route"] = Field("keep", description="what to do with a pair nobody voted on")


def decide(o: DecisionOptions, p: np.ndarray, agree: np.ndarray, strength: np.ndarray, n_voters: np.ndarray,
           has_human: np.ndarray) -> tuple[list[str], list[str]]:
    """Decision and reason per row, by the rules in the module docstring."""
    decisions, reasons = [], []
    for i in range(len(p)):
        d, r = _one(o, float(p[i]), float(agree[i]), float(strength[i]), int(n_voters[i]), bool(has_human[i]))
        if d == ROUTE and not o.route:
            d, r = DROP, f"route_{r}"
        decisions.append(d)
        reasons.append(r)
    return decisions, reasons


def _one(o: DecisionOptions, p: float, agree: float, s: float, n: int, human: bool) -> tuple[str, str]:
    if n == 0:
        return o.no_votes, "no_votes"
    if p >= o.keep_above:
        return KEEP, "consensus_for"
    if p <= o.flip_below and agree >= o.flip_agreement and n >= o.flip_min_voters:
        return FLIP, "consensus_against"
    if human:
        return (KEEP, "human_resolved") if p >= 0.5 else (FLIP, "human_resolved")
    if agree < o.route_agreement:
        return ROUTE, "voters_disagree"
    if abs(s) < o.route_strength:
        return ROUTE, "near_zero_strength"
    return (DROP, "leans_against") if p < 0.5 else (DROP, "weak_preference")


def decide_calibrated(o: DecisionOptions, flip_t: float | None, drop_t: float | None, p: np.ndarray,
                      agree: np.ndarray, strength: np.ndarray, n_voters: np.ndarray,
                      has_human: np.ndarray) -> tuple[list[str], list[str]]:
    """Decision and reason per row by the calibrated rules of the module docstring."""
    decisions, reasons = [], []
    hold = ROUTE if o.route else KEEP  # what a pair gets when no calibrated rule may touch it
    for i in range(len(p)):
        pi, n = float(p[i]), int(n_voters[i])
        if n == 0:
            d, r = o.no_votes, "no_votes"
        elif has_human[i]:
            d, r = (KEEP, "human_resolved") if pi >= 0.5 else (FLIP, "human_resolved")
        elif flip_t is not None and pi <= flip_t:
            d, r = FLIP, "calibrated_against"
        elif drop_t is not None and pi <= drop_t:
            d, r = DROP, "calibrated_weak"
        elif pi >= o.keep_above:
            d, r = KEEP, "consensus_for"
        elif agree[i] < o.route_agreement:
            d, r = hold, "voters_disagree"
        elif abs(strength[i]) < o.route_strength:
            d, r = hold, "near_zero_strength"
        else:
            d, r = (hold, "uncalibrated") if pi < 0.5 else (KEEP, "weak_preference")
        decisions.append(d)
        reasons.append(r)
    return decisions, reasons


def flip_pairs(df: pl.DataFrame, mask: pl.Series, step: str, reason: str = "consensus_against") -> pl.DataFrame:
    """Swap chosen/rejected where `mask`, re-orient their votes, toggle `flipped`, log provenance."""
    if not mask.any():
        return df
    if "flipped" not in df.columns:
        df = df.with_columns(pl.lit(False).alias("flipped"))
    m = pl.lit(mask)
    flipped_votes = pl.col("votes").list.eval(pl.struct(
        pl.element().struct.field("voter"), pl.element().struct.field("kind"),
        (1.0 - pl.element().struct.field("p_chosen")).alias("p_chosen"),
        (-pl.element().struct.field("margin")).alias("margin"), pl.element().struct.field("raw"),
        pl.element().struct.field("family"),
    ))
    df = df.with_columns(
        pl.when(m).then(pl.col("rejected")).otherwise(pl.col("chosen")).alias("chosen"),
        pl.when(m).then(pl.col("chosen")).otherwise(pl.col("rejected")).alias("rejected"),
        pl.when(m).then(flipped_votes).otherwise(pl.col("votes")).alias("votes"),
        pl.when(m).then(~pl.col("flipped").fill_null(False)).otherwise(pl.col("flipped").fill_null(False))
        .alias("flipped"),
    )
    return append_provenance(df, {"step": step, "event": "flip", "reason": reason}, mask)
