"""Counters every step keeps: records in/out, drops by reason, named counts, time.

Counts are plain integers so that stats saved at a checkpoint and restored on resume add up
exactly; derived figures (rates, agreement) are computed from them by ``Step.summary``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepStats:
    name: str
    records_in: int = 0
    records_out: int = 0
    seconds: float = 0.0
    dropped: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    # free-form figures a step reports (e.g. a histogram); replaced, not summed, on update
    figures: dict[str, Any] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] += int(n)

    def count_llm(self, completions: Sequence[Any]) -> None:
        """Count LLM calls and failed ones (``llm_calls``, ``llm_failed``: completions whose ``ok`` is
        false), the same two names in every LLM-backed step, so the run can be held to
        ``max_failure_rate`` and its summary can say how many calls failed."""
        self.count("llm_calls", len(completions))
        self.count("llm_failed", sum(1 for c in completions if not c.ok))

    def merge(self, d: dict) -> None:
        """Add a StepStats dict (one worker's delta) to these stats: counts sum, figures are replaced."""
        self.records_in += d.get("records_in", 0)
        self.records_out += d.get("records_out", 0)
        self.seconds += d.get("seconds", 0.0)
        self.dropped.update(d.get("dropped", {}))
        self.counts.update(d.get("counts", {}))
        self.figures.update(d.get("figures", {}))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped": dict(self.dropped),
            "dropped_total": sum(self.dropped.values()),
            "counts": dict(self.counts),
            "figures": self.figures,
            "seconds": round(self.seconds, 4),
        }

    @classmethod
    def from_dict(cls, d: dict) -> StepStats:
        return cls(
            name=d["name"], records_in=d.get("records_in", 0), records_out=d.get("records_out", 0),
            seconds=d.get("seconds", 0.0), dropped=Counter(d.get("dropped", {})),
            counts=Counter(d.get("counts", {})), figures=dict(d.get("figures", {})),
        )
