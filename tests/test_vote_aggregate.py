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
