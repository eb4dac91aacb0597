"""Bradley–Terry reward models on frozen embeddings, with out-of-fold (cross-fitted) predictions.

A BT model scores r(x, y) = w·φ(x, y) and says p(y_c ≻ y_r | x) = σ(r(x, y_c) − r(x, y_r)); with a
linear r that is logistic regression on the feature difference d = φ(x, y_c) − φ(x, y_r), without an
intercept so that swapping the responses gives exactly 1 − p. A random half of the pairs is presented
flipped (−d → 0), which is the same objective as training on both orientations, so the solver sees two
classes even when every label says "first wins".

Feature maps over unit vectors e_p (prompt) and e_y (response):

    resp         e_y                         what is said, whatever was asked
    prompt_resp  [e_y, e_p ⊙ e_y]            adds how the response fits this prompt
    joint        e_(last user turn + response), embedded together

Cross-fitting: pairs are split into k folds; the model of fold f is trained on the other k − 1 folds
and predicts fold f, so every pair gets a probability from a model that never saw its label — the input
that noisy-label detection needs. With ``groups`` (``curate.vote.groups``: one group per prompt, joined
with dedup clusters) whole groups go to one fold, so the model never saw a sibling pair either; without
them the split is a seeded shuffle of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_MAPS = ("resp", "prompt_resp", "joint")


@dataclass
class PairVectors:
    """Unit embeddings per pair; `joint_*` only when the joint map is used."""

    prompt: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    joint_chosen: np.ndarray | None = None
    joint_rejected: np.ndarray | None = None


def features(v: PairVectors, feature_map: str) -> np.ndarray:
    """d = φ(x, chosen) − φ(x, rejected), shape (pairs, dims)."""
    if feature_map == "resp":
        return v.chosen - v.rejected
    if feature_map == "prompt_resp":
        diff = v.chosen - v.rejected
        return np.hstack([diff, v.prompt * diff])  # e_p⊙e_c − e_p⊙e_r = e_p⊙(e_c − e_r)
    if feature_map == "joint":
        if v.joint_chosen is None or v.joint_rejected is None:
            raise ValueError("feature map 'joint' needs joint embeddings")
        return v.joint_chosen - v.joint_rejected
    raise ValueError(f"unknown feature map {feature_map!r}; known: {', '.join(FEATURE_MAPS)}")


def fit_bt(d: np.ndarray, y: np.ndarray, c: float, seed: int = 0):
    """Logistic regression on ±d (see module docstring). y[i] = 1 when the first response won."""
    from sklearn.linear_model import LogisticRegression

    # Training on ±d (every pair in both orders) is what makes the model symmetric, but it doubles
    # the data. Flipping a random half instead gives the identical objective at half the size:
    # loss(w; -d, 1-y) = loss(w; d, y), so the data term is halved, which C*2 compensates.
    signs = np.random.default_rng(seed).choice(np.array([1, -1], dtype=np.int8), size=len(d))
    signs[:2] = (1, -1)  # both classes present even for tiny inputs
    x = d * signs[:, None].astype(d.dtype)
    t = np.where(signs > 0, y, 1 - y)
    model = LogisticRegression(C=2 * c, fit_intercept=False, max_iter=2000, random_state=seed)
    model.fit(x, t)
    return model


def fold_ids(n: int, k: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    if groups is not None:
        from curate.vote.groups import group_folds

        return group_folds(groups, k, seed)
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % k
    rng.shuffle(ids)
    return ids


def cross_fit(d: np.ndarray, y: np.ndarray, k: int = 5, c: float = 1.0, seed: int = 0,
              groups: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold logits (margins) for every row; y is the current label (1 = first response won).

    `groups` (one int per row) keeps each group inside one fold; see ``curate.vote.groups``."""
    n = d.shape[0]
    if n < 2 * k:
        raise ValueError(f"cross-fitting with {k} folds needs at least {2 * k} pairs, got {n}")
    folds = fold_ids(n, k, seed, groups)
    out = np.zeros(n, dtype=np.float64)
    for f in range(k):
        test = folds == f
        model = fit_bt(d[~test], y[~test], c, seed)
        out[test] = model.decision_function(d[test])
    return out
