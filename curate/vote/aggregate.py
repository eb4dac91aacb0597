"""Aggregators: a VoteMatrix in, p(chosen ≻ rejected) per row out.

* ``WeightedLogOdds`` (streaming): the weighted mean (``pool="mean"``) or sum (``pool="sum"``) of the
  voters' logits. Weights come from config by voter name, then by kind; human votes default to
  ``human_weight``. The mean keeps a single calibrated voter calibrated; the sum is naive Bayes
  (right for independent voters, over-confident for correlated ones).
* ``DawidSkene`` (needs every vote first): EM over a latent true preference z with one accuracy
  per voter, ``a_v = P(vote side = z)`` (symmetric, because which response is "chosen" is arbitrary),
  and a prior ``pi = P(z = the current label)``, i.e. the dataset's own label is one more voter whose
  reliability is estimated too. The posterior log-odds is
  ``logit(pi) + sum_v ±log(a_v / (1 - a_v))``: a voter at chance (a_v = 0.5) counts zero.
  Human voters are scaled by ``human_weight``.

  Without gold, EM can only measure agreement with the consensus, so three guards keep it from
  amplifying a wrong majority (LLMBar's adversarial pairs, where most judges agree on the wrong side):

  1. EM starts from the hard majority of the votes (ties ½), the estimate it must improve on;
  2. accuracies are floored at ``min_accuracy`` (0.5): a voter that disagrees with the consensus is
     ignored, never inverted, since disagreeing with a correlated majority is not evidence of being wrong;
  3. conditional independence, the model's one assumption, is checked on its own fit: for each pair of
     voters the observed agreement rate vs ``a_i a_j + (1-a_i)(1-a_j)``. When the worst gap exceeds
     ``max_dependence`` (two blocs that agree within and not across) the accuracies are unidentified
     and every voter gets the same accuracy (their mean), pooled by the mean instead of the sum: the
     side is the majority vote's and the confidence that of one average voter, not of n independent
     ones (which they are not); ``fallback`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curate.schema import VoteKind
from curate.vote.matrix import VoteMatrix, logit, sigmoid


@dataclass
class WeightedLogOdds:
    weights: dict[str, float] = field(default_factory=dict)
    human_weight: float = 3.0
    default_weight: float = 1.0
    pool: str = "mean"

    def weight_of(self, voter: str, kind: str) -> float:
        if voter in self.weights:
            return float(self.weights[voter])
        if kind in self.weights:
            return float(self.weights[kind])
        return self.human_weight if kind == VoteKind.HUMAN else self.default_weight

    def posterior(self, vm: VoteMatrix) -> np.ndarray:
        w = np.array([self.weight_of(v, k) for v, k in zip(vm.voters, vm.kinds)], dtype=np.float64)
        voted = vm.voted()
        wl = np.where(voted, logit(np.where(voted, vm.p, 0.5)) * w, 0.0).sum(axis=1)
        if self.pool == "sum":
            z = wl
        else:
            total = np.where(voted, w, 0.0).sum(axis=1)
            z = wl / np.where(total > 0, total, 1.0)
        # no votes → 0.5; the decision rules treat such rows by their own option
        return np.where(voted.any(axis=1), sigmoid(z), 0.5)


@dataclass
class DawidSkene:
    human_weight: float = 1.0
    max_iter: int = 100
    tol: float = 1e-6
    # Beta(smooth, smooth) pseudo-counts keep accuracies off 0 and 1 on small data
    smooth: float = 1.0
    min_accuracy: float = 0.5
    max_dependence: float = 0.1
    accuracy: dict[str, float] = field(default_factory=dict)
    prior: float = 0.5
    iterations: int = 0
    dependence: float = 0.0  # worst gap between observed and modelled pairwise agreement
    fallback: str = ""

    def _sides(self, vm: VoteMatrix) -> tuple[np.ndarray, np.ndarray]:
        """Vote side (1 = chosen wins, 0 = rejected wins) and mask; a 0.5 vote abstains."""
        voted = vm.voted() & (np.nan_to_num(vm.p, nan=0.5) != 0.5)
        return (np.nan_to_num(vm.p, nan=0.5) > 0.5).astype(np.float64), voted

    def fit(self, vm: VoteMatrix) -> DawidSkene:
        y, voted = self._sides(vm)
        sign = np.where(voted, 2 * y - 1, 0.0).sum(axis=1)
        q = np.where(sign > 0, 1.0, np.where(sign < 0, 0.0, 0.5))  # start at the majority vote
        acc = np.full(len(vm.voters), 0.7)
        for it in range(1, self.max_iter + 1):
            self.iterations = it
            # M-step: expected agreement of each voter with z; pi = expected share of correct labels
            agree = (voted * (y * q[:, None] + (1 - y) * (1 - q[:, None]))).sum(axis=0)
            raw = (agree + self.smooth) / (voted.sum(axis=0) + 2 * self.smooth)
            acc_new = np.maximum(raw, self.min_accuracy)
            prior = (q.sum() + self.smooth) / (len(q) + 2 * self.smooth)
            self.accuracy, self.prior = dict(zip(vm.voters, acc_new.tolist())), float(prior)
            q_new = self.posterior(vm)
            done = max(np.max(np.abs(acc_new - acc), initial=0), np.max(np.abs(q_new - q), initial=0)) < self.tol
            acc, q = acc_new, q_new
            if done:
                break
        # checked on the unfloored fit: a floored voter misfits by design, that is not dependence
        self._check_independence(y, voted, raw, vm.voters)
        return self

    def _check_independence(self, y: np.ndarray, voted: np.ndarray, raw: np.ndarray, voters: list[str]) -> None:
        """Observed vs modelled agreement of every voter pair; too far apart → equal accuracies."""
        acc = np.array([self.accuracy[v] for v in voters])
        both = voted.astype(np.float64).T @ voted.astype(np.float64)  # rows where i and j both voted
        same = (voted * y).T @ (voted * y) + (voted * (1 - y)).T @ (voted * (1 - y))
        observed = same / np.maximum(both, 1)
        modelled = np.outer(raw, raw) + np.outer(1 - raw, 1 - raw)
        # pairs with few shared votes say little; their sampling error alone is ~1/sqrt(n)
        gap = np.where((both >= 30) & ~np.eye(len(acc), dtype=bool), np.abs(observed - modelled), 0.0)
        self.dependence = float(gap.max(initial=0.0))
        if self.dependence > self.max_dependence:
            i, j = np.unravel_index(int(np.argmax(gap)), gap.shape)
            self.fallback = (f"{voters[i]} and {voters[j]} agree on {observed[i, j]:.0%} of pairs where "
                             f"independent voters of the fitted accuracies would agree on {modelled[i, j]:.0%}: "
                             "accuracies unidentified, every voter weighs the same (majority vote)")
            self.accuracy = {v: float(acc.mean()) for v in voters}

    def weights(self, vm: VoteMatrix) -> np.ndarray:
        """Log-odds weight per voter column: log(a/(1-a)), 0 for voters the fit never saw."""
        a = np.array([self.accuracy.get(v, 0.5) for v in vm.voters], dtype=np.float64)
        w = logit(a)
        return np.where(np.array([k == VoteKind.HUMAN for k in vm.kinds]), w * self.human_weight, w)

    def posterior(self, vm: VoteMatrix) -> np.ndarray:
        y, voted = self._sides(vm)
        w = self.weights(vm)
        z = np.where(voted, (2 * y - 1) * w, 0.0).sum(axis=1)
        if self.fallback:  # dependent voters: mean, not sum (see the module docstring)
            z = z / np.maximum(voted.sum(axis=1), 1)
        return sigmoid(logit(np.array(self.prior)) + z)
