"""Dawid–Skene's guards against a fooled majority, and the learned (logistic) gold weights.

The bloc case below is LLMBar's adversarial subsets in miniature: gold is always "chosen wins" (1).
Voters A, B, C are one bloc (they agree on every pair); G and P are a second bloc; F errs on its own.

    20 easy pairs:    A B C G P F = 1 1 1 1 1 1   every voter right
    20 fooling pairs: A B C G P F = 0 0 0 1 1 0   the majority (4 of 6) is wrong
    20 split pairs:   A B C G P F = 0 0 ½ 1 1 1   C abstains; the majority (3 of 5) is right

Majority vote is right on 40 of 60. EM started from it used to credit the A-B-C bloc with agreeing with
the consensus (accuracy 0.98) and to invert G and P (0.34, "mostly wrong"), so the split pairs went
wrong too: 20 of 60, below the majority. G and P agree on 100% of pairs where independent voters of
the fitted accuracies would agree on ~55%: the independence check sees the blocs and falls back to
equal accuracies, i.e. the majority vote. Every other pair is shown mirrored so the label carries no
information (the label prior stays at ½ and only the votes decide).
"""

import numpy as np
import pytest

from curate.vote.aggregate import DawidSkene
from curate.vote.calibrate import fit_logistic_weights, gold_model
from curate.vote.matrix import VoteMatrix

H = 0.5
BLOC_CASE = [([1, 1, 1, 1, 1, 1], 20), ([0, 0, 0, 1, 1, 0], 20), ([0, 0, H, 1, 1, 1], 20)]


def bloc_matrix() -> tuple[VoteMatrix, np.ndarray]:
    p = np.array([row for row, n in BLOC_CASE for _ in range(n)], dtype=float)
    mirror = np.arange(len(p)) % 2 == 1
    p = np.where(mirror[:, None], 1 - p, p)
    return VoteMatrix(list("ABCGPF"), ["llm_judge"] * 6, p, p.copy(), None), mirror


def test_dawid_skene_does_not_amplify_a_fooled_majority():
    vm, mirror = bloc_matrix()
    ds = DawidSkene().fit(vm)
    assert "G and P agree on 100%" in ds.fallback
    assert len(set(ds.accuracy.values())) == 1  # every voter weighs the same
    gold_side = np.where(mirror, 0, 1)
    right = (ds.posterior(vm) > 0.5) == gold_side
    assert right[:20].all() and not right[20:40].any() and right[40:].all()  # = the majority vote, 40 of 60
    # dependent voters are pooled by the mean: a 4-to-2 pair is a third as sure as one voter, not 2 voters' worth
    a = next(iter(ds.accuracy.values()))
    z = np.log(ds.posterior(vm)[21] / (1 - ds.posterior(vm)[21])) - np.log(ds.prior / (1 - ds.prior))
    assert abs(z) == pytest.approx(np.log(a / (1 - a)) * 2 / 6)


def test_dawid_skene_never_inverts_a_voter_without_gold():
    # independent voters, one of them right only 30% of the time: it is ignored (0.5), not inverted
    rng = np.random.default_rng(0)
    truth = rng.random(600) < 0.5
    acc = [0.9, 0.8, 0.75, 0.3]
    p = np.stack([np.where(rng.random(600) < a, truth, ~truth) for a in acc], axis=1).astype(float)
    ds = DawidSkene().fit(VoteMatrix(list("abcd"), ["rm"] * 4, p, p.copy(), None))
    assert ds.fallback == ""  # errors are independent: the check does not fire on sampling noise
    assert ds.accuracy["a"] == pytest.approx(0.9, abs=0.04)
    assert ds.accuracy["b"] == pytest.approx(0.8, abs=0.04)
    assert ds.accuracy["d"] == 0.5
    assert ds.dependence < ds.max_dependence


# Learned gold weights, on gold pairs whose label is right (every other pair mirrored). Families:
#   a (right 70%) and a_copy (the same votes: one model asked twice), b (right 80%), c (right 25%:
#   confidently wrong). Accuracy log-odds count a twice (2 × logit 0.7 = 1.69 > logit 0.8 = 1.39), so a
#   outvotes the better b; the logistic fit splits a's weight over its copies, puts b above both
#   together, and gives c a negative weight (gold shows it is wrong, so its vote counts the other way).
def _gold_families(n: int, seed: int) -> tuple[VoteMatrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold_side = np.arange(n) % 2 == 0  # True: chosen is the gold answer
    a, b, c = (np.where(rng.random(n) < acc, gold_side, ~gold_side) for acc in (0.7, 0.8, 0.25))
    p = np.stack([np.where(s, 0.9, 0.1) for s in (a, a, b, c)], axis=1)
    return VoteMatrix(["a", "a_copy", "b", "c"], ["llm_judge"] * 4, p, p.copy(), None), gold_side


def _cols(vm: VoteMatrix, names: list[str]) -> VoteMatrix:
    j = [vm.voters.index(v) for v in names]
    return VoteMatrix(names, [vm.kinds[k] for k in j], vm.p[:, j], vm.margin[:, j], None)


def test_logistic_gold_weights_split_copies_and_beat_the_best_family():
    vm, right = _gold_families(1000, seed=0)
    w = fit_logistic_weights(vm, right)
    assert w["a"] == pytest.approx(w["a_copy"]) and w["a"] + w["a_copy"] < w["b"] and w["c"] < 0
    held_out, truth = _gold_families(1000, seed=1)  # fresh pairs: nothing was fitted on them

    def accuracy(kind: str, names: list[str]) -> float:
        model = gold_model(_cols(vm, names), right, kind=kind)
        return float(((model.posterior(_cols(held_out, names)) > 0.5) == truth).mean())

    best_single = float(((held_out.p[:, 2] > 0.5) == truth).mean())  # b
    assert accuracy("logistic", ["a", "a_copy", "b", "c"]) > best_single
    # a and its copy outvote b under accuracy weights (≈ a alone, 0.70); the logistic fit follows b (≈ 0.80)
    assert accuracy("accuracy", ["a", "a_copy", "b"]) < 0.75 < accuracy("logistic", ["a", "a_copy", "b"])
