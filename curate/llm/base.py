"""The LLM interface: chat messages + generation params in, completions out, batched.

A backend implements one method, ``_generate(requests) -> list[Completion]``; the base class adds
nothing but a name and an optional per-result callback: ``generate(requests, on_result=cb)`` calls
``cb(index, completion)`` as each request finishes (backends that finish requests out of order set
``streams_results`` and call it themselves), so the request cache can keep every finished response
even when the batch is interrupted. ``generate`` never raises for one failed request: the Completion carries
``error`` instead, so a batch with a few failures still yields the rest. Backend-wide failures
(cannot load the model, bad config) raise ``BackendError``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from curate.registry import NoOptions


@dataclass(frozen=True)
class GenParams:
    temperature: float = 0.7
    max_tokens: int = 512
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # "json" asks for a JSON object where the backend supports structured output
    response_format: str | None = None
    # a JSON Schema (as JSON text, so params stay hashable) the reply must follow: backends with
    # constrained decoding (llama.cpp grammars, vLLM, OpenAI-compatible servers) enforce it
    json_schema: str | None = None

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
    attempts: int = 1  # calls made for this request, retries included

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


def request_key(model: str, request: ChatRequest) -> str:
    """Content address of a call: model, params and messages (not the tag)."""
    blob = json.dumps({"model": model, "params": request.params.to_dict(), "messages": request.messages},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


OnResult = Callable[[int, Completion], None]


class LLM(ABC):
    backend: ClassVar[str] = ""
    # True when _generate accepts on_result and reports each request as it finishes
    streams_results: ClassVar[bool] = False
    # the keys a config's ``llm.options`` may hold for this backend (validated by build_llm)
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, model: str):
        self.model = model

    def generate(self, requests: Sequence[ChatRequest], on_result: OnResult | None = None) -> list[Completion]:
        if not requests:
            return []
        if self.streams_results:
            return self._generate(list(requests), on_result=on_result)  # type: ignore[call-arg]
        out = self._generate(list(requests))
        if on_result is not None:
            for i, c in enumerate(out):
                on_result(i, c)
        return out

    @classmethod
    def from_config(cls, cfg: Any, opts: BaseModel) -> LLM:
        """Build from an LLMConfig and its validated ``options``; backends that use more of the
        config (a server URL, an API key) override this."""
        return cls(model=cfg.model or cfg.backend, **opts.model_dump())

    @abstractmethod
    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        """Return one Completion per request, in order."""

    def close(self) -> None:  # noqa: B027 - optional hook: only backends holding a client or model override it
        pass
