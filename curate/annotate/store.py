"""The annotation store interface: where routed pairs wait for people and answers come back.

A *task* groups the pairs pushed by one pipeline (its name is chosen in the pipeline config).
An *item* is one pair in a task, keyed by the pair id, so pushing the same pair twice is a no-op.
An *answer* is one annotator's judgement of one item, keyed by an id the client generates, so a
retried submit can never count twice; a store also keeps at most one answer per (item, annotator).

Annotators see the two responses as "A" and "B" in an order randomised per (item, annotator) and
recorded with the answer (``a_is``); ``label`` is the answer mapped back to the pair:
``chosen`` (the pair's chosen response won), ``rejected``, ``tie`` or ``skip``.

Two backends implement this interface: ``sqlite`` (built in, serves annotation_ui/) and
``argilla`` (an Argilla v2 server, which serves its own UI). Open one by name with ``open_store``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import ConfigError
from curate.registry import STORES
from curate.schema import VoteKind

CHOICES = ("A", "B", "tie", "skip")
LABELS = ("chosen", "rejected", "tie", "skip")


@dataclass
class Item:
    """One pair as an annotator sees it: the responses already placed as A and B."""

    item_id: int | str
    task: str
    pair_id: str
    prompt: list[dict]
    response_a: str
    response_b: str
    a_is: str  # "chosen" or "rejected": which response of the pair is shown as A
    model_votes: list[dict] = field(default_factory=list)


@dataclass
class Answer:
    answer_id: str
    task: str
    pair_id: str
    annotator: str
    choice: str  # A / B / tie / skip as clicked
    a_is: str  # chosen / rejected: what A was for this annotator
    label: str  # the choice mapped back to the pair: chosen / rejected / tie / skip
    rationale: str = ""
    criteria: list[str] = field(default_factory=list)
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def a_is_for(seed: str, pair_id: str, annotator: str) -> str:
    """The randomised A/B order: a hash, so it is the same on every page load and is auditable."""
    h = hashlib.sha256(f"{seed}:{pair_id}:{annotator}".encode()).digest()
    return "chosen" if h[0] & 1 else "rejected"


def label_of(choice: str, a_is: str) -> str:
    """Map a clicked A/B/tie/skip back to the pair's chosen/rejected through the recorded order."""
    if choice in ("tie", "skip"):
        return choice
    if choice not in ("A", "B") or a_is not in ("chosen", "rejected"):
        raise ValueError(f"choice {choice!r} / a_is {a_is!r} is not a valid answer")
    b_is = "rejected" if a_is == "chosen" else "chosen"
    return a_is if choice == "A" else b_is


def model_votes_of(pair: dict) -> list[dict]:
    """The non-human votes of a pair, as plain dicts (shown to annotators only if a task allows it)."""
    return [{"voter": v["voter"], "kind": v["kind"], "p_chosen": v["p_chosen"]}
            for v in (pair.get("votes") or []) if v and v.get("kind") != VoteKind.HUMAN]


class AnnotationStore(ABC):
    """What the pipeline needs from a store: create a task, push pairs, read answers and progress."""

    name: ClassVar[str] = ""

    @abstractmethod
    def create_task(self, task: str, guidelines: str = "", overlap: int = 1,
                    criteria: Sequence[str] = ()) -> None:
        """Create the task if absent; an existing task keeps its settings (re-runs are no-ops)."""

    @abstractmethod
    def push_pairs(self, task: str, pairs: Iterable[dict]) -> int:
        """Add pairs (dicts with id, prompt, chosen, rejected, votes) as items; return how many were new."""

    @abstractmethod
    def pushed(self, task: str) -> dict[str, str]:
        """pair id -> the chosen text as pushed, for every pair of the task (answers are relative to it)."""

    @abstractmethod
    def answers(self, task: str) -> list[Answer]:
        """Every submitted answer of the task (skips included), oldest first."""

    @abstractmethod
    def progress(self, task: str) -> dict[str, Any]:
        """Counts: items, answers, items complete (non-skip answers >= overlap), answers per annotator."""

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> "AnnotationStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class StoreConfig(BaseModel):
    """Which annotation store a step talks to (the ``store:`` block of a route/pull step)."""

    model_config = ConfigDict(extra="forbid")
    backend: str = Field("sqlite", description="registered store name: sqlite or argilla")
    path: str | None = Field(None, description="sqlite: the database file (default annotate.db)")
    api_url: str | None = Field(None, description="argilla: server URL (default $ARGILLA_API_URL)")
    api_key_env: str = Field("ARGILLA_API_KEY", description="argilla: environment variable holding the API key")
    workspace: str | None = Field(None, description="argilla: workspace for the datasets")

    def open(self) -> "AnnotationStore":
        opts = {k: v for k, v in self.model_dump().items() if k != "backend" and v is not None}
        if self.backend == "sqlite":
            opts = {"path": self.path} if self.path else {}
        else:
            opts.pop("path", None)
        return open_store(self.backend, **opts)


def open_store(backend: str = "sqlite", **options: Any) -> AnnotationStore:
    """Open a store by its registered name (``sqlite``, ``argilla``) with backend options."""
    cls = STORES.get(backend)
    try:
        return cls(**options)
    except TypeError as e:
        raise ConfigError(f"annotation store '{backend}': bad options {sorted(options)}: {e}") from e


