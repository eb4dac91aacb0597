"""Agreement metrics on a hand-worked example a person can check."""

from __future__ import annotations

import pytest

from curate.annotate.metrics import agreement_report, cohen_kappa, consensus, fleiss_kappa
from curate.annotate.store import Answer


def ans(pair, who, label):
    return Answer("id-" + pair + who, "t", pair, who, "A", "chosen", label)


def test_cohen_kappa_worked_example():
    # x and y agree on 3 of 4 items: p_o = 0.75. Marginals x: chosen 2, rejected 2; y: chosen 3, rejected 1.
    # p_e = (2*3 + 2*1) / 16 = 0.5, so kappa = (0.75 - 0.5) / 0.5 = 0.5
    x = ["chosen", "chosen", "rejected", "rejected"]
    y = ["chosen", "chosen", "rejected", "chosen"]
    assert cohen_kappa(x, y) == pytest.approx(0.5)


def test_fleiss_kappa_worked_example():
    # three items, three raters each. P_i: 1, 1/3, 1/3 -> P_bar = 5/9.
    # totals: chosen 5, rejected 3, tie 1 of 9 -> P_e = (25 + 9 + 1) / 81 = 35/81
    # kappa = (5/9 - 35/81) / (1 - 35/81) = (45 - 35) / (81 - 35) = 10/46
    items = [["chosen"] * 3, ["chosen", "chosen", "rejected"], ["rejected", "rejected", "tie"]]
    assert fleiss_kappa(items) == pytest.approx(10 / 46)
    assert fleiss_kappa([["chosen"]]) is None


def test_report():
    answers = [ans("p1", "a", "chosen"), ans("p1", "b", "chosen"), ans("p1", "c", "rejected"),
               ans("p2", "a", "rejected"), ans("p2", "b", "rejected"), ans("p2", "c", "rejected"),
               ans("p3", "a", "skip")]
    r = agreement_report(answers)
    assert r["items_labelled"] == 2 and r["items_multi"] == 2
    assert r["per_item"]["p1"]["consensus"] == "chosen"
    assert r["per_item"]["p1"]["agreement"] == pytest.approx(1 / 3)
    # c disagrees with a+b on p1, agrees on p2; a: p1 others (b, c) tie -> no consensus, p2 agrees
    assert r["per_annotator"]["c"] == {"items": 2, "agreement": 0.5}
    assert r["per_annotator"]["a"] == {"items": 1, "agreement": 1.0}
    assert r["cohen_kappa"]["a|b"]["kappa"] == pytest.approx(1.0)
    assert consensus(["chosen", "rejected"]) is None
