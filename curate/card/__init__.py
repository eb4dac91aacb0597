"""Data cards: a Hub-style README.md with a curation report built from a run's stats and records.

    from curate.card import write_card
    write_card("runs/demo", "exports/demo")      # README.md + plots/*.png + curation_report.json
"""

from curate.card.render import write_card
from curate.card.report import build_report

__all__ = ["build_report", "write_card"]
