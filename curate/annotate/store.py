"""The annotation store interface: where routed pairs wait for people and answers come back.

A *task* groups the pairs pushed by one pipeline (its name is chosen in the pipeline config).
An *item* is one pair in a task, keyed by the pair id, so pushing the same pair twice is a no-op.
An *answer* is one annotator's judgement of one item, keyed by an id the client generates, so a
retried submit can never count twice; a store also keeps at most one answer per (item, annotator).

Annotators see the two responses as "A" and "B" in an order randomised per (item, annotator) and
recorded with the answer (``a_is``); ``label`` is the answer mapped back to the pair:
``chosen`` (the pair's chosen response won), ``rejected``, ``tie`` or ``skip``.

Two backends implement this interface: ``sqlite`` (built in, serves annotation_ui/) and
``argilla`` (an Argilla v2 server, which serves its own UI). Open one by name with ``open_store``;
each declares its options as a pydantic ``Options`` model (``SQLiteOptions``, ``ArgillaOptions``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.registry import STORES, NoOptions, build, check_options, gather_backend_options
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
    Options: ClassVar[type[BaseModel]] = NoOptions  # the store's own options (unknown keys rejected)

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

    def close(self) -> None:  # noqa: B027 - optional hook: a store without connections keeps this no-op
        """Release connections."""

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class StoreConfig(BaseModel):
    """Which annotation store a step talks to (the ``store:`` block of a route/pull step).

    ``backend`` names the store; every other key is that store's own option, checked against its
    ``Options`` when the pipeline is loaded: ``{backend: sqlite, path: a.db}``,
    ``{backend: argilla, api_url: ..., workspace: ...}``. The keys may also be nested under
    ``options:``. A null value means the store's default.
    """

    model_config = ConfigDict(extra="forbid")
    backend: str = Field("sqlite", description="registered store name: sqlite or argilla")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="the store's options (or give them beside backend)")

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        return gather_backend_options(data, drop_none=True)  # null: the store's default

    @model_validator(mode="after")
    def _options_fit_backend(self) -> StoreConfig:
        check_options(STORES, self.backend, self.options, "store")
        return self

    def open(self) -> AnnotationStore:
        return open_store(self.backend, **self.options)


def open_store(backend: str = "sqlite", **options: Any) -> AnnotationStore:
    """Open a store by its registered name (``sqlite``, ``argilla``) with its options (ConfigError
    names any key its ``Options`` lacks)."""
    return build(STORES, backend, options, where="store")


