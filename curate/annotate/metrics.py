"""Agreement between annotators: per item, per annotator against consensus, Cohen's and Fleiss' kappa.

Inputs are answers with a ``label`` in chosen / rejected / tie; skips carry no judgement and are
left out before anything is computed. Kappas use the three categories; an item counts for Fleiss'
kappa when at least two annotators labelled it (the variable-raters form of Fleiss' formula).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import Any

CATEGORIES = ("chosen", "rejected", "tie")


def _by_item(answers: Iterable[Any]) -> dict[str, dict[str, str]]:
    """pair_id -> {annotator: label}, skips removed."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for a in answers:
        if a.label in CATEGORIES:
            out[a.pair_id][a.annotator] = a.label
    return dict(out)


def consensus(labels: Iterable[str]) -> str | None:
    """The strict majority label, or None when the top labels are tied."""
    top = Counter(labels).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def item_agreement(labels: list[str]) -> float | None:
    """Share of annotator pairs on the item who agree (Fleiss' P_i); None with fewer than 2 labels."""
    n = len(labels)
    if n < 2:
        return None
    counts = Counter(labels).values()
    return sum(c * (c - 1) for c in counts) / (n * (n - 1))


def cohen_kappa(x: list[str], y: list[str]) -> float | None:
    """Cohen's kappa of two annotators over the items both labelled; None if undefined."""
    n = len(x)
    if n == 0:
        return None
    po = sum(a == b for a, b in zip(x, y)) / n
    cx, cy = Counter(x), Counter(y)
    pe = sum(cx[c] * cy[c] for c in CATEGORIES) / (n * n)
    if pe == 1.0:
        return 1.0 if po == 1.0 else None
    return (po - pe) / (1 - pe)


def fleiss_kappa(items: list[list[str]]) -> float | None:
    """Fleiss' kappa over items with >= 2 labels each (raters per item may differ)."""
    items = [labels for labels in items if len(labels) >= 2]
    if not items:
        return None
    p_i = [item_agreement(labels) for labels in items]
    totals = Counter(label for labels in items for label in labels)
    n_total = sum(totals.values())
    p_e = sum((totals[c] / n_total) ** 2 for c in CATEGORIES)
    p_bar = sum(p_i) / len(p_i)  # type: ignore[arg-type]
    if p_e == 1.0:
        return 1.0 if p_bar == 1.0 else None
    return (p_bar - p_e) / (1 - p_e)


def agreement_report(answers: Iterable[Any]) -> dict[str, Any]:
    """Every agreement figure the admin page and `curate annotate metrics` show."""
    by_item = _by_item(answers)
    per_item = {pid: {"labels": dict(lab), "consensus": consensus(lab.values()),
                      "agreement": item_agreement(list(lab.values()))} for pid, lab in by_item.items()}
    # annotator vs the consensus of the *others* on the item, so nobody agrees with themselves
    hits: Counter = Counter()
    seen: Counter = Counter()
    for lab in by_item.values():
        for who, label in lab.items():
            others = consensus(v for k, v in lab.items() if k != who)
            if others is not None:
                seen[who] += 1
                hits[who] += label == others
    per_annotator = {who: {"items": seen[who], "agreement": hits[who] / seen[who]} for who in sorted(seen)}
    annotators = sorted({who for lab in by_item.values() for who in lab})
    pairs = {}
    for a, b in combinations(annotators, 2):
        shared = [lab for lab in by_item.values() if a in lab and b in lab]
        k = cohen_kappa([lab[a] for lab in shared], [lab[b] for lab in shared])
        if k is not None:
            pairs[f"{a}|{b}"] = {"items": len(shared), "kappa": k}
    multi = [list(lab.values()) for lab in by_item.values()]
    rated = [v["agreement"] for v in per_item.values() if v["agreement"] is not None]
    return {
        "items_labelled": len(by_item),
        "items_multi": sum(1 for m in multi if len(m) >= 2),
        "mean_item_agreement": sum(rated) / len(rated) if rated else None,
        "fleiss_kappa": fleiss_kappa(multi),
        "cohen_kappa_mean": (sum(p["kappa"] for p in pairs.values()) / len(pairs)) if pairs else None,
        "cohen_kappa": pairs,
        "per_annotator": per_annotator,
        "per_item": per_item,
    }
