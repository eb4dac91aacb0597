"""Human routing: annotation stores (built-in SQLite, Argilla), the route/pull steps and agreement metrics.

    store = open_store("sqlite", path="annotate.db")
    store.push_pairs("harmless-v1", routed_pairs)        # what route_to_humans does
    ... annotators answer in the web UI (annotation_ui/) ...
    store.answers("harmless-v1")                         # what human_votes turns into votes
"""

from __future__ import annotations

from curate.annotate.store import AnnotationStore, Answer, Item, open_store

__all__ = ["AnnotationStore", "Answer", "Item", "open_store"]
