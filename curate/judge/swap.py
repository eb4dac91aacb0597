"""Position swap: combine a judge's verdicts on (chosen, rejected) and on (rejected, chosen).

Each order's verdict is mapped back to "did chosen win?": 1 (chosen), 0 (rejected), 0.5 (tie);
an order with no usable verdict also counts 0.5. The vote is

    p_chosen = 0.5 + confidence * (s_ab + s_ba - 1)

so both orders agreeing gives 0.5 ± confidence, a verdict that flips with the order cancels to 0.5,
and a win in one order with a tie (or nothing) in the other leans half as far. Outcomes, counted
by the judge step:

    consistent      both orders pick the same response        p = 0.5 ± c
    consistent_tie  both orders say tie                       p = 0.5
    position_flip   the verdict follows the position          p = 0.5   (position-inconsistent)
    tie_vs_win      one order ties, the other picks           p = 0.5 ± c/2 (position-inconsistent)
    one_order       only one order gave a verdict             p = 0.5 ± c/2, or 0.5 for a tie
    no_verdict      neither order gave a verdict              p = None

Position consistency = (consistent + consistent_tie) / (those + position_flip + tie_vs_win).
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.judge.parse import TIE, A, B

CONSISTENT_OUTCOMES = ("consistent", "consistent_tie")
INCONSISTENT_OUTCOMES = ("position_flip", "tie_vs_win")


def chosen_score(verdict: str | None, chosen_first: bool) -> float | None:
    """1 if the verdict picks chosen, 0 if it picks rejected, 0.5 for a tie, None if no verdict."""
    if verdict == TIE:
        return 0.5
    if verdict == A:
        return 1.0 if chosen_first else 0.0
    if verdict == B:
        return 0.0 if chosen_first else 1.0
    return None


@dataclass(frozen=True)
class SwapVote:
    p_chosen: float | None
    outcome: str


def combine(verdict_ab: str | None, verdict_ba: str | None, confidence: float) -> SwapVote:
    """verdict_ab: the judge saw (A=chosen, B=rejected); verdict_ba: (A=rejected, B=chosen)."""
    s1, s2 = chosen_score(verdict_ab, True), chosen_score(verdict_ba, False)
    if s1 is None and s2 is None:
        return SwapVote(None, "no_verdict")
    if s1 is None or s2 is None:
        outcome = "one_order"
    elif s1 == s2:
        outcome = "consistent_tie" if s1 == 0.5 else "consistent"
    elif 0.5 in (s1, s2):
        outcome = "tie_vs_win"
    else:
        outcome = "position_flip"
    total = (0.5 if s1 is None else s1) + (0.5 if s2 is None else s2)
    return SwapVote(0.5 + confidence * (total - 1.0), outcome)


def swap_figures(counts: dict[str, int], voter: str | None) -> dict:
    """A position-swapped judge's figures from its counters (``outcome:*``, ``parse_fail:*``,
    ``orders_judged``): position consistency = consistent / pairs judged in both orders."""
    consistent = sum(counts.get(f"outcome:{o}", 0) for o in CONSISTENT_OUTCOMES)
    both = consistent + sum(counts.get(f"outcome:{o}", 0) for o in INCONSISTENT_OUTCOMES)
    fails = sum(v for k, v in counts.items() if k.startswith("parse_fail:"))
    orders = counts.get("orders_judged", 0)
    return {
        "voter": voter,
        "position_consistency": round(consistent / both, 4) if both else None,
        "parse_failure_rate": round(fails / orders, 4) if orders else None,
    }
