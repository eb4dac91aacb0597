"""The LLM interface: chat messages + generation params in, completions out, batched.

A backend implements one method, ``_generate(requests) -> list[Completion]``; the base class adds
nothing but a name. ``generate`` never raises for one failed request: the Completion carries
``error`` instead, so a batch with a few failures still yields the rest. Backend-wide failures
(cannot load the model, bad config) raise ``BackendError``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Sequence


@dataclass(frozen=True)
class GenParams:
    temperature: float = 0.7
    max_tokens: int = 512
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # "json" asks for a JSON object where the backend supports structured output
    response_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass
class ChatRequest:
    messages: list[dict]
    params: GenParams = field(default_factory=GenParams)
    # opaque tag the caller uses to match results (e.g. "pairid:ab")
    tag: str = ""


@dataclass
class Completion:
    text: str | None
    model: str = ""
    error: str | None = None
    finish_reason: str | None = None
    cached: bool = False
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


def request_key(model: str, request: ChatRequest) -> str:
    """Content address of a call: model, params and messages (not the tag)."""
    blob = json.dumps({"model": model, "params": request.params.to_dict(), "messages": request.messages},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class LLM(ABC):
    backend: ClassVar[str] = ""

    def __init__(self, model: str):
        self.model = model

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if not requests:
            return []
        return self._generate(list(requests))

    @abstractmethod
    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Return one Completion per request, in order."""

    def close(self) -> None:
        pass
