"""Gold calibration of the ensemble: which flip and drop thresholds are right often enough to use.

Gold is a set of pairs whose correct side is known: a file of verified pairs (any format curate reads;
its ``chosen`` is the right answer) and/or the pairs people resolved (rows of the stage carrying
``kind="human"`` votes; their majority is the truth). A gold pair is matched to a row of the stage by
its prompt and its two responses in either order, so a label the data got wrong still matches.

On the gold rows the machine posterior p (human votes left out, so the answer is not its own evidence)
says how good each decision would be:

* a **flip** at p ≤ t is right when the gold says the current label is wrong;
* a **drop** at t_flip < p ≤ t is right on the same condition (the label it throws away is wrong);
* precision is bounded below by the one-sided 95% Clopper–Pearson bound
  ``beta.ppf(0.05, k, n − k + 1)`` for k right out of n. The largest threshold whose bound reaches
  ``target_precision`` wins; when no threshold does (too little gold, or voters not good enough) that
  decision is switched off and the pairs it would have taken are routed or kept (reason ``uncalibrated``).

The posterior itself can be learned on gold too (``learn_weights``): ``weights: logistic`` fits an L2
logistic regression of "label right" on the families' logits (``fit_logistic_weights``, ``LogisticGold``),
``weights: accuracy`` counts each family's share right (Dawid–Skene's posterior with gold accuracies).

``Calibration.figures()`` is what lands in stats: per decision the estimate, its 95% interval and the
number of gold pairs behind it; per family its accuracy on gold; and a reliability table of p.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from curate.schema import VoteKind, canonical_expr
from curate.vote.matrix import VoteMatrix, logit, sigmoid

ALPHA = 0.05


class GoldOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(None, description="file of verified pairs (its chosen is right), any readable format")
    format: str = Field("auto", description="input format of `path` (curate.io)")
    humans: bool = Field(True, description="also use rows of the stage that carry human votes as gold")
    target_precision: float = Field(0.9, gt=0.5, lt=1.0, description="least precision (95% lower bound) "
                                    "a flip or drop threshold must show on gold")
    min_gold: int = Field(20, ge=1, description="fewer gold rows than this: no threshold is calibrated")
    learn_weights: bool = Field(True, description="weigh each family by weights learned on gold (cross-fitted "
                                "for the thresholds) instead of the step's own weights")
    weights: Literal["logistic", "accuracy"] = Field(
        "logistic", description="logistic: a regularised logistic regression of 'label right' on the families' "
        "logits (can learn that a family is wrong where it is confident); accuracy: log-odds of each family's "
        "share right on gold (naive Bayes)")
    C: float = Field(1.0, gt=0, description="logistic: inverse L2 strength (scikit-learn's C)")


def pair_key_expr() -> pl.Expr:
    """Canonical text of (prompt, {two responses}) in a fixed order, for matching gold to rows."""
    lo = pl.min_horizontal("chosen", "rejected")
    hi = pl.max_horizontal("chosen", "rejected")
    return canonical_expr(chosen=None) + pl.lit("\x1d") + lo + pl.lit("\x1d") + hi


def keys_of(df: pl.DataFrame) -> list[str]:
    texts = df.select(pair_key_expr().alias("k"))["k"].to_list()
    return [hashlib.blake2b(t.encode("utf-8"), digest_size=12).hexdigest() for t in texts]


def read_gold(path: str, fmt: str = "auto") -> dict[str, str]:
    """Gold file → {pair key: the right response}."""
    from curate.io.reader import Reader

    out: dict[str, str] = {}
    for b in Reader(path, format=fmt, batch_size=5000).batches():
        out.update(zip(keys_of(b.frame), b.frame["chosen"].to_list()))
    return out


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """Exact two-sided 90% interval, i.e. one-sided 95% bounds each way, for k successes in n."""
    from scipy.stats import beta

    if n == 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(beta.ppf(ALPHA, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - ALPHA, k + 1, n - k))
    return lo, hi


def _best_threshold(p: np.ndarray, wrong: np.ndarray, floor: float, target: float) -> float | None:
    """Largest t in (floor, 0.5) with CP lower bound of wrong-share over floor < p ≤ t ≥ target."""
    best = None
    for t in np.unique(p[(p > floor) & (p < 0.5)]):
        band = (p > floor) & (p <= t)
        n, k = int(band.sum()), int(wrong[band].sum())
        if clopper_pearson(k, n)[0] >= target:
            best = float(t)
    return best


@dataclass
class Calibration:
    """Thresholds picked on gold (None = that decision is not calibrated) and the figures behind them."""

    flip_below: float | None = None
    drop_below: float | None = None
    gold_rows: int = 0
    why: str = ""
    stats: dict = field(default_factory=dict)

    def figures(self) -> dict:
        return {"gold_rows": self.gold_rows, "flip_below": self.flip_below, "drop_below": self.drop_below,
                "why": self.why, **self.stats}


def _decision_precision(p: np.ndarray, right: np.ndarray, c: Calibration) -> dict:
    """Estimated precision with 95% bounds of each decision as calibrated, on the gold rows."""
    flip = p <= c.flip_below if c.flip_below is not None else np.zeros(len(p), bool)
    drop = ((p <= c.drop_below) & ~flip) if c.drop_below is not None else np.zeros(len(p), bool)
    keep = ~flip & ~drop
    out = {}
    for name, m, good in (("flip", flip, ~right), ("drop", drop, ~right), ("keep", keep, right)):
        n, k = int(m.sum()), int((good & m).sum())
        lo, hi = clopper_pearson(k, n)
        out[name] = {"estimate": round(k / n, 4) if n else None, "lower95": round(lo, 4),
                     "upper95": round(hi, 4), "gold_pairs": n}
    return out


def reliability(p: np.ndarray, right: np.ndarray, bins: int = 5) -> dict:
    """Mean p vs share right per p-bin, and the expected calibration error."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "pairs": int(m.sum()),
                         "mean_p": round(float(p[m].mean()), 4), "share_right": round(float(right[m].mean()), 4)})
            ece += m.mean() * abs(p[m].mean() - right[m].mean())
    return {"bins": rows, "ece": round(float(ece), 4)}


def family_accuracy(fam: VoteMatrix, right: np.ndarray) -> dict:
    """Share of each family's (non-0.5) votes on the gold side, with the number of votes."""
    out = {}
    for j, name in enumerate(fam.voters):
        v = ~np.isnan(fam.p[:, j]) & (fam.p[:, j] != 0.5)
        ok = (fam.p[v, j] > 0.5) == right[v]
        out[name] = {"accuracy": round(float(ok.mean()), 4) if v.any() else None, "votes": int(v.sum())}
    return out


HUMAN_ACCURACY = 0.9  # assumed for human families in a gold-weighted model (they are the gold's source)


def accuracy_model(fam: VoteMatrix, right: np.ndarray, human_weight: float = 1.0, smooth: float = 1.0):
    """Dawid–Skene's posterior with accuracies and label prior counted on gold instead of by EM."""
    from curate.vote.aggregate import DawidSkene

    m = DawidSkene(human_weight=human_weight, smooth=smooth)
    for j, name in enumerate(fam.voters):
        v = ~np.isnan(fam.p[:, j]) & (fam.p[:, j] != 0.5)
        ok = (fam.p[v, j] > 0.5) == right[v]
        m.accuracy[name] = (HUMAN_ACCURACY if fam.kinds[j] == VoteKind.HUMAN
                            else (ok.sum() + smooth) / (v.sum() + 2 * smooth))
    m.prior = float((right.sum() + smooth) / (len(right) + 2 * smooth))
    return m


def family_logits(fam: VoteMatrix) -> np.ndarray:
    """(rows, families) logit of each family's vote, 0 where it did not vote (no evidence either way)."""
    return np.where(fam.voted(), logit(np.nan_to_num(fam.p, nan=0.5)), 0.0)


def fit_logistic_weights(fam: VoteMatrix, right: np.ndarray, C: float = 1.0) -> dict[str, float]:
    """Family → weight of its logit, from an L2 logistic regression of 'label right' on family logits.

    No intercept, and every gold row is fitted twice, as it is and mirrored (logits negated, label
    flipped): which response is "chosen" is arbitrary, so the weights must be antisymmetric; the
    share of right labels is the prior's job, not the weights'. Weights may be negative: a family
    that is confidently wrong on gold (a judge fooled by adversarial pairs) counts against its vote.
    """
    from sklearn.linear_model import LogisticRegression

    x = family_logits(fam)
    side = np.where(right, 1.0, -1.0)[:, None]  # orient every row so that the gold side is "chosen"
    xs = np.vstack([x * side, -x * side])
    ys = np.r_[np.ones(len(x)), np.zeros(len(x))]
    if not len(x) or not xs.any():
        return {v: 0.0 for v in fam.voters}
    coef = LogisticRegression(C=C, fit_intercept=False, max_iter=1000).fit(xs, ys).coef_[0]
    return {v: float(w) for v, w in zip(fam.voters, coef)}


@dataclass
class LogisticGold:
    """Posterior logit(prior) + sum_f w_f logit(p_f) with weights learned on gold; human families,
    which gold cannot weigh (they are its source), count ±logit(HUMAN_ACCURACY) × human_weight."""

    weights: dict[str, float]
    prior: float = 0.5
    human_weight: float = 1.0

    def posterior(self, vm: VoteMatrix) -> np.ndarray:
        x = family_logits(vm)
        human = np.array([k == VoteKind.HUMAN for k in vm.kinds], dtype=bool)
        w = np.array([self.weights.get(v, 0.0) for v in vm.voters])
        z = (x[:, ~human] * w[~human]).sum(axis=1)
        z += (np.sign(x[:, human]) * logit(np.array(HUMAN_ACCURACY)) * self.human_weight).sum(axis=1)
        return sigmoid(logit(np.array(self.prior)) + z)


def gold_model(fam: VoteMatrix, right: np.ndarray, human_weight: float = 1.0, smooth: float = 1.0,
               kind: str = "accuracy", C: float = 1.0):
    """The gold-weighted model of `kind` ("accuracy": counted Dawid–Skene; "logistic": LogisticGold)."""
    if kind == "logistic":
        prior = float((right.sum() + smooth) / (len(right) + 2 * smooth))
        return LogisticGold(fit_logistic_weights(fam, right, C), prior, human_weight)
    return accuracy_model(fam, right, human_weight, smooth)


def gold_model_figures(m) -> dict:
    """What a gold model learned, for the step's figures."""
    if isinstance(m, LogisticGold):
        return {"gold_family_weight": {k: round(v, 4) for k, v in m.weights.items()}}
    return {"gold_family_accuracy": {k: round(float(v), 4) for k, v in m.accuracy.items()}}


def cross_fitted_gold_posterior(fam: VoteMatrix, right: np.ndarray, k: int = 5, seed: int = 0,
                                kind: str = "accuracy", C: float = 1.0) -> np.ndarray:
    """Posterior of each gold row from a gold model that never saw that row (honest thresholds)."""
    folds = np.random.default_rng(seed).permutation(len(right)) % k
    out = np.empty(len(right))
    for f in range(k):
        test = folds == f
        train = VoteMatrix(fam.voters, fam.kinds, fam.p[~test], fam.margin[~test], fam.families)
        rows = VoteMatrix(fam.voters, fam.kinds, fam.p[test], fam.margin[test], fam.families)
        out[test] = gold_model(train, right[~test], kind=kind, C=C).posterior(rows)
    return out


def calibrate(p: np.ndarray, right: np.ndarray, fam: VoteMatrix, o: GoldOptions) -> Calibration:
    """Pick flip and drop thresholds on gold rows: p = machine posterior, right = label is right."""
    c = Calibration(gold_rows=len(p))
    if len(p) < o.min_gold:
        c.why = f"{len(p)} gold pairs < min_gold {o.min_gold}: no flips or drops"
    else:
        wrong = ~right
        c.flip_below = _best_threshold(p, wrong, -1.0, o.target_precision)
        c.drop_below = _best_threshold(p, wrong, c.flip_below if c.flip_below is not None else -1.0,
                                       o.target_precision)
        missing = [d for d, t in (("flip", c.flip_below), ("drop", c.drop_below)) if t is None]
        c.why = (f"no {' or '.join(missing)} threshold reaches precision {o.target_precision} (95% lower bound) "
                 f"on {len(p)} gold pairs" if missing else "calibrated")
    c.stats = {"precision": _decision_precision(p, right, c), "reliability": reliability(p, right),
               "family_accuracy": family_accuracy(fam, right), "target_precision": o.target_precision,
               "label_accuracy_on_gold": round(float(right.mean()), 4) if len(right) else None}
    return c
